/**
 * nova's confirmResize, run by the machine itself for a cold migration that asked for it (`autoConfirm`,
 * the drain's): the source's reserved claim released, the instance ACTIVE (or STOPPED) on the target, the
 * migration `confirmed` (shared/flow/migration-commit.ts, the same as the API's confirmResize).
 */
import type { StepDeps } from "#shared/flow/deps.js";
import { confirmResize } from "#shared/flow/migration-commit.js";
import type { MigrationFlow } from "#shared/flow/migration-contract.js";

export async function confirmMigration(deps: StepDeps, flow: MigrationFlow): Promise<MigrationFlow> {
  await confirmResize(deps, {
    instanceUuid: flow.instanceUuid,
    migrationId: flow.migrationId,
    requestId: flow.requestId,
  });
  return flow;
}
