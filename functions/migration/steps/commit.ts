/**
 * nova's `post_live_migration` (live) and the end of `finish_resize` (cold): the guest runs (or, STOPPED,
 * is defined) on the target, so the records follow it there (shared/flow/migration-commit.ts). Then a
 * cold migration with `autoConfirm` (a drain's) is confirmed at once (the next state).
 */
import type { StepDeps } from "#shared/flow/deps.js";
import { commitMove } from "#shared/flow/migration-commit.js";
import type { MigrationFlow } from "#shared/flow/migration-contract.js";
import { requireTarget } from "./target.js";

export async function commitMigration(deps: StepDeps, flow: MigrationFlow): Promise<MigrationFlow> {
  const { target } = await requireTarget(deps, flow);
  await commitMove(deps, {
    operation: flow.operation,
    requestId: flow.requestId,
    migrationId: flow.migrationId,
    instanceUuid: flow.instanceUuid,
    to: target.name,
    powerState: flow.live || flow.originalPowerState === "running" ? "running" : "shutdown",
  });
  return flow;
}
