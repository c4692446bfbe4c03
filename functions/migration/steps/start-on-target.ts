/**
 * nova's `finish_resize` on the target, for a cold migration: task_state resize_migrated -> resize_finish,
 * then the domain defined from the records on the same disk (Spawn's host command: root disk, volumes, one
 * NIC per port with its MAC, autostart off) and started unless the instance was STOPPED (it stays
 * stopped). The start refused because another process holds the disk's lock is DiskLocked (a copy runs
 * somewhere); any other failure SpawnFailed; both send the guest back to its source.
 */

import { defineGuest } from "#shared/flow/define-guest.js";
import type { StepDeps } from "#shared/flow/deps.js";
import type { MigrationFlow } from "#shared/flow/migration-contract.js";
import { advanceTaskState } from "#shared/flow/task-state.js";
import { requireTarget } from "./target.js";

export async function startOnTarget(deps: StepDeps, flow: MigrationFlow): Promise<MigrationFlow> {
  const { instance, target } = await requireTarget(deps, flow);
  const finishing = await advanceTaskState(
    deps,
    flow.instanceUuid,
    flow.requestId,
    "resize_migrated",
    "resize_finish",
    {},
    instance,
  );
  await defineGuest(deps, {
    instance: finishing,
    host: target,
    start: flow.originalPowerState === "running",
    // CheckTarget proved the domain not defined there; a retry redefines the same definition.
    absent: true,
    lockRefusalIsCopy: true,
  });
  return flow;
}
