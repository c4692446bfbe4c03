/**
 * Handout step 16: the instance runs (or is defined, if it was STOPPED) on the target. Record it there:
 * vm_state, task_state cleared, power state, launched_at, host and node, the new image; migration done.
 */
import type { FlowState } from "#shared/flow/contract.js";
import type { StepDeps } from "#shared/flow/deps.js";
import { endsStopped, requireScheduled } from "#shared/flow/flow-state.js";
import { notifyFlow } from "#shared/flow/notify.js";

export interface FinishOutput {
  instanceUuid: string;
  migrationId: string;
  host: string;
  vmState: string;
  powerState: string;
  imageRef: string;
}

export async function finish(deps: StepDeps, state: FlowState): Promise<FinishOutput> {
  const flow = requireScheduled(state);
  const { instances, migrations } = deps.stores;
  let instance = await instances.require(flow.instanceUuid);
  const stopped = endsStopped(flow);
  const imageRef = flow.imageRef ?? flow.originalImageRef;

  const alreadyDone =
    instance.taskState === null && instance.host === flow.destHost && instance.taskRequestId === null;
  if (!alreadyDone) {
    instance = await instances.update(flow.instanceUuid, {
      expectTaskState: ["rebuild_spawning"],
      expectTaskRequestId: flow.requestId,
      set: {
        vmState: stopped ? "stopped" : "active",
        taskState: null,
        taskRequestId: null,
        powerState: stopped ? "shutdown" : "running",
        launchedAt: deps.now().toISOString(),
        host: flow.destHost,
        node: flow.destHost,
        imageRef,
      },
    });
  }
  await migrations.transition(flow.migrationId, "done", {
    set: { destHost: flow.destHost, destNode: flow.destHost },
  });
  await notifyFlow(deps, flow, "end", {
    host: flow.destHost,
    source_host: flow.sourceHost,
    image_ref: imageRef,
  });
  return {
    instanceUuid: instance.uuid,
    migrationId: flow.migrationId,
    host: instance.host,
    vmState: instance.vmState,
    powerState: instance.powerState,
    imageRef: instance.imageRef,
  };
}
