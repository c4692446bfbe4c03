/**
 * The two ways the flow ends in error. Both leave the instance in vm_state ERROR with task_state cleared
 * and a fault saying which step failed and why, release any claim this flow made, and end the migration,
 * then re-raise the original error so the execution fails with its name (callers and Catch see it).
 *  - no valid host (handout step 6): migration `error`; host and node unchanged; nothing was claimed.
 *  - any other failure (step 18): migration `failed`.
 */
import type { InstanceFault } from "#shared/domain/schemas.js";
import type { MigrationStatus } from "#shared/domain/states.js";
import type { FlowState } from "#shared/flow/contract.js";
import type { StepDeps } from "#shared/flow/deps.js";
import { describeFailure, requireAccepted } from "#shared/flow/flow-state.js";
import { notifyFlow } from "#shared/flow/notify.js";

const REBUILD_TASK_STATES = ["rebuilding", "rebuild_block_device_mapping", "rebuild_spawning"] as const;

export async function handleNoValidHost(deps: StepDeps, state: FlowState): Promise<never> {
  return endInError(deps, state, "error");
}

export async function handleFailure(deps: StepDeps, state: FlowState): Promise<never> {
  return endInError(deps, state, "failed");
}

async function endInError(
  deps: StepDeps,
  state: FlowState,
  migrationStatus: MigrationStatus,
): Promise<never> {
  const flow = requireAccepted(state);
  const { instances, hosts, migrations, faults } = deps.stores;
  const failure = describeFailure(state);
  const fault: InstanceFault = {
    code: 500,
    error: failure.error,
    message: failure.message,
    step: failure.step,
    details: {
      requestId: flow.requestId,
      migrationId: flow.migrationId,
      attemptedHosts: flow.attemptedHosts,
    },
    createdAt: deps.now().toISOString(),
  };

  const migration = await migrations.require(flow.migrationId);
  if (flow.recreate && migration.destHost && migration.destHost !== flow.sourceHost) {
    await hosts.release(migration.destHost, flow.instanceUuid, { owner: flow.migrationId });
  }
  if (migration.status === "accepted" || migration.status === "pre-migrating") {
    await migrations.transition(flow.migrationId, migrationStatus, {
      set: { error: `${failure.error}: ${failure.message}` },
    });
  }

  const instance = await instances.require(flow.instanceUuid);
  if (instance.taskRequestId === flow.requestId) {
    await instances.update(flow.instanceUuid, {
      expectTaskState: [...REBUILD_TASK_STATES],
      expectTaskRequestId: flow.requestId,
      set: { vmState: "error", taskState: null, taskRequestId: null, fault },
    });
    await faults.record(flow.instanceUuid, fault);
  }
  await notifyFlow(deps, state, "error", {
    step: failure.step,
    error: failure.error,
    message: failure.message,
  });
  throw flowError(failure.error, failure.message);
}

/** An error carrying the original failure's name, so the execution fails with it. */
function flowError(name: string, message: string): Error {
  const e = new Error(message);
  e.name = name;
  return e;
}
