/**
 * nova's REBUILD_BLOCK_DEVICE_MAPPING phase: task_state := rebuild_block_device_mapping, then an
 * attachment per volume for the target host (ids derived from the migration, so a retry finds them in
 * place).
 */
import { deterministicUuid } from "#shared/domain/ids.js";
import type { Instance, Volume } from "#shared/domain/schemas.js";
import type { FlowState, ScheduledFlow } from "#shared/flow/contract.js";
import type { StepDeps } from "#shared/flow/deps.js";
import { requireScheduled } from "#shared/flow/flow-state.js";
import { advanceTaskState } from "#shared/flow/task-state.js";

export async function attachVolumes(deps: StepDeps, state: FlowState): Promise<FlowState> {
  await attachToTarget(deps, requireScheduled(state));
  return state;
}

/**
 * The phase itself. `known`: the instance and volumes as the caller last read or wrote them (each is then
 * not read again). Returns the instance as written.
 */
export async function attachToTarget(
  deps: StepDeps,
  flow: ScheduledFlow,
  known: { instance?: Instance; volumes?: ReadonlyMap<string, Volume> } = {},
): Promise<Instance> {
  const instance = await advanceTaskState(
    deps,
    flow.instanceUuid,
    flow.requestId,
    "rebuilding",
    "rebuild_block_device_mapping",
    {},
    known.instance,
  );
  for (const bdm of instance.volumes) {
    await deps.stores.volumes.attach(
      bdm.volumeId,
      {
        attachmentId: deterministicUuid(flow.migrationId, flow.destHost, bdm.volumeId),
        instanceUuid: instance.uuid,
        host: flow.destHost,
        device: bdm.device,
      },
      known.volumes?.get(bdm.volumeId),
    );
  }
  return instance;
}
