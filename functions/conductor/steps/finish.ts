/**
 * nova's end of `_do_rebuild_instance`: the instance runs (or is defined, if it stays STOPPED) on the
 * target. One conditional write moves the record there (vm_state, task cleared, power state, launched_at,
 * host and node, image, `lastRequestId`), decided on the record as read (conditional on its version, so a
 * change meanwhile is decided on again): that write is the flow's commit point. Then the migration becomes
 * `done` and `instance.rebuild.end` (and `instance.evacuate`) are published; a publish that fails is
 * recorded for the sweeper and never fails the step.
 */
import type { FlowState } from "#shared/flow/contract.js";
import type { StepDeps } from "#shared/flow/deps.js";
import { endsStopped, flowImage, requireScheduled } from "#shared/flow/flow-state.js";
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
  const imageRef = flowImage(flow);

  if (instance.lastRequestId !== flow.requestId) {
    instance = await instances.update(
      flow.instanceUuid,
      {
        expectTaskState: ["rebuild_spawning"],
        expectTaskRequestId: flow.requestId,
        set: {
          vmState: stopped ? "stopped" : "active",
          taskState: null,
          taskRequestId: null,
          taskExecutionArn: null,
          lastRequestId: flow.requestId,
          powerState: stopped ? "shutdown" : "running",
          launchedAt: deps.now().toISOString(),
          host: flow.destHost,
          node: flow.destHost,
          imageRef,
          fault: null,
          fencingRequired: null,
        },
      },
      instance,
    );
  }
  await migrations.transition(flow.migrationId, "done", {
    set: { destHost: flow.destHost, destNode: flow.destHost },
  });
  const who = { requestId: flow.requestId, instanceUuid: flow.instanceUuid };
  const action = flow.recreate ? "evacuate" : "rebuild";
  // Both at once: EventBridge keeps no order between events anyway, and each is published or kept.
  await Promise.all([
    notifyFlow(deps, who, "instance.rebuild.end", {
      action,
      host: flow.destHost,
      source_host: flow.sourceHost,
      image_ref: imageRef,
    }),
    ...(flow.recreate
      ? [notifyFlow(deps, who, "instance.evacuate", { host: flow.destHost, source_host: flow.sourceHost })]
      : []),
  ]);
  return {
    instanceUuid: instance.uuid,
    migrationId: flow.migrationId,
    host: instance.host,
    vmState: instance.vmState,
    powerState: instance.powerState,
    imageRef: instance.imageRef,
  };
}
