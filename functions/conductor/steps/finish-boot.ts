/**
 * The end of a build (nova's `_build_and_run_instance`): the instance runs (or is defined, if the build
 * asked for a stopped server) on its host: ACTIVE (or STOPPED), task cleared, launched_at; the create
 * action done; `instance.create.end`. A retry after the write finds the task cleared by this request.
 */
import { type BootState, requirePlaced } from "#shared/flow/boot-contract.js";
import type { StepDeps } from "#shared/flow/deps.js";
import { notifyFlow } from "#shared/flow/notify.js";

export async function finishBoot(
  deps: StepDeps,
  state: BootState,
): Promise<{ instanceUuid: string; host: string; vmState: string }> {
  const flow = requirePlaced(state);
  const uuid = flow.build.instanceUuid;
  const { instances } = deps.stores;
  let instance = await instances.require(uuid);
  if (instance.lastRequestId !== flow.requestId) {
    const stopped = flow.build.stopped;
    instance = await instances.update(uuid, {
      expectTaskState: ["spawning"],
      expectTaskRequestId: flow.requestId,
      set: {
        vmState: stopped ? "stopped" : "active",
        powerState: stopped ? "shutdown" : "running",
        taskState: null,
        taskRequestId: null,
        taskExecutionArn: null,
        lastRequestId: flow.requestId,
        launchedAt: deps.now().toISOString(),
      },
    });
  }
  await notifyFlow(deps, { requestId: flow.requestId, instanceUuid: uuid }, "instance.create.end", {
    action: "create",
    host: instance.host,
  });
  return { instanceUuid: uuid, host: instance.host, vmState: instance.vmState };
}
