/**
 * Beyond nova (whose rebuild does not reschedule): the chosen target failed before the instance ran
 * there, and CleanUpTarget has proven it clean (the state machine only comes here after a successful
 * clean-up). Its claim and volume attachments are released, the host remembered as tried, the migration
 * goes back to `accepted` and the instance to task_state rebuilding, so the machine can schedule again
 * (at most MAX_SCHEDULING_ATTEMPTS hosts in all). Out of attempts, the failure is handed on as it is.
 */
import { type FlowState, MAX_SCHEDULING_ATTEMPTS } from "#shared/flow/contract.js";
import type { StepDeps } from "#shared/flow/deps.js";
import { describeFailure, requireScheduled } from "#shared/flow/flow-state.js";

export async function prepareReschedule(deps: StepDeps, state: FlowState): Promise<FlowState> {
  const flow = requireScheduled(state);
  const { instances, hosts, migrations, volumes } = deps.stores;
  const failure = describeFailure(state);
  const attemptedHosts = flow.attemptedHosts.includes(flow.destHost)
    ? flow.attemptedHosts
    : [...flow.attemptedHosts, flow.destHost];
  const canReschedule = attemptedHosts.length < MAX_SCHEDULING_ATTEMPTS;
  const previousFailures = [...flow.previousFailures, { host: flow.destHost, ...failure }];

  await hosts.release(flow.destHost, flow.instanceUuid, { owner: flow.migrationId });
  const instance = await instances.require(flow.instanceUuid);
  for (const bdm of instance.volumes) {
    await volumes.endAttachments(bdm.volumeId, { instanceUuid: instance.uuid, exceptHost: instance.host });
  }
  if (!canReschedule) {
    // Out of attempts: keep `failure` so the failure handler reports the last one.
    return { ...flow, attemptedHosts, canReschedule, previousFailures };
  }

  const migration = await migrations.require(flow.migrationId);
  if (migration.status === "pre-migrating") {
    await migrations.transition(flow.migrationId, "accepted", {
      set: { destHost: null, destNode: null, attemptedHosts },
    });
  }
  if (instance.taskState !== "rebuilding") {
    await instances.update(flow.instanceUuid, {
      expectTaskState: ["rebuild_block_device_mapping", "rebuild_spawning"],
      expectTaskRequestId: flow.requestId,
      set: { taskState: "rebuilding" },
    });
  }
  const {
    failure: _handled,
    createdRootDisk: _disk,
    sharedStorage: _shared,
    targetProbe: _probe,
    target: _target,
    ...rest
  } = flow;
  return { ...rest, destHost: null, attemptedHosts, canReschedule, previousFailures };
}
