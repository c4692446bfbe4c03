/**
 * nova's `resize_instance` on the source, for a cold migration: task_state resize_prep -> resize_migrating
 * and the migration `migrating`, then the guest shut down cleanly (destroyed after the shutdown timeout)
 * and its definition removed, the disk kept on the shared pool (shared/hosts/migration.ts); then
 * resize_migrated and `post-migrating`. From here on the guest runs nowhere until it starts on the target:
 * a failure sends it back to its source (shared/flow/migration-ending.ts). Idempotent: a retried step finds
 * the domain gone and the states already moved.
 */
import type { StepDeps } from "#shared/flow/deps.js";
import type { MigrationFlow } from "#shared/flow/migration-contract.js";
import { advanceTaskState } from "#shared/flow/task-state.js";
import { hostTarget } from "#shared/hosts/layout.js";
import { stopAndUndefineScript } from "#shared/hosts/migration.js";
import { requireTarget } from "./target.js";

export async function stopSource(deps: StepDeps, flow: MigrationFlow): Promise<MigrationFlow> {
  const { instance, source } = await requireTarget(deps, flow);
  const done = instance.taskState === "resize_migrated" && instance.taskRequestId === flow.requestId;
  if (done) return flow;
  const taken = await advanceTaskState(
    deps,
    flow.instanceUuid,
    flow.requestId,
    "resize_prep",
    "resize_migrating",
    {},
    instance,
  );
  await deps.stores.migrations.transition(flow.migrationId, "migrating");
  await deps.executor.run(
    hostTarget(source),
    stopAndUndefineScript(instance.uuid, deps.shutdownTimeoutSeconds),
    {
      comment: `stop for migration ${instance.uuid}`,
      executionTimeoutSeconds: deps.shutdownTimeoutSeconds + 60,
    },
  );
  await advanceTaskState(
    deps,
    flow.instanceUuid,
    flow.requestId,
    "resize_migrating",
    "resize_migrated",
    {},
    taken,
  );
  await deps.stores.migrations.transition(flow.migrationId, "post-migrating");
  return flow;
}
