/**
 * nova's revertResize (`revert_resize` on the target, `finish_revert_resize` on the source): the guest
 * stopped and undefined on the migration's target (the disk kept), defined again on its source from the
 * records and started if it ran, then the records back there (shared/flow/migration-commit.ts: the target's
 * claim released, the migration `reverted`). Each part is idempotent; a retry after the commit only
 * finishes it. A failure is ended like any migrate flow's: the guest stays where it runs.
 */

import { defineGuest } from "#shared/flow/define-guest.js";
import type { StepDeps } from "#shared/flow/deps.js";
import { commitMove } from "#shared/flow/migration-commit.js";
import type { MigrationFlow } from "#shared/flow/migration-contract.js";
import { hostTarget } from "#shared/hosts/layout.js";
import { stopAndUndefineScript } from "#shared/hosts/migration.js";
import { requireTarget } from "./target.js";

export async function revertMigration(deps: StepDeps, flow: MigrationFlow): Promise<MigrationFlow> {
  const { instance, source, target } = await requireTarget(deps, flow);
  const powerState = flow.originalPowerState === "running" ? "running" : "shutdown";
  if (instance.lastRequestId !== flow.requestId) {
    await deps.executor.run(
      hostTarget(source),
      stopAndUndefineScript(instance.uuid, deps.shutdownTimeoutSeconds),
      {
        comment: `stop for revert ${instance.uuid}`,
        executionTimeoutSeconds: deps.shutdownTimeoutSeconds + 60,
      },
    );
    await defineGuest(deps, {
      instance,
      host: target,
      start: powerState === "running",
      absent: false,
      lockRefusalIsCopy: true,
    });
  }
  await commitMove(deps, {
    operation: "revert",
    requestId: flow.requestId,
    migrationId: flow.migrationId,
    instanceUuid: flow.instanceUuid,
    to: target.name,
    powerState,
  });
  return flow;
}
