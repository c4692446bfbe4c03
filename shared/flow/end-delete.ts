/**
 * Ending a delete that did not finish (nova: the instance in ERROR, its task cleared), used by the delete
 * machine's HandleDeleteFailure and by the sweeper: the instance keeps everything it holds (claim, ports,
 * volumes, and whatever of it is still on its host), so nothing is leaked and the delete can be asked
 * again; the fault and the delete action say which step failed and why.
 */
import type { InstanceFault } from "../domain/schemas.js";
import type { StepDeps } from "./deps.js";
import type { FailureSummary } from "./flow-state.js";
import { notifyFlow } from "./notify.js";

export async function endDelete(
  deps: StepDeps,
  ending: { requestId: string; instanceUuid: string; failure: FailureSummary },
): Promise<"ended" | "not-owned"> {
  const { requestId, instanceUuid, failure } = ending;
  const instance = await deps.stores.instances.get(instanceUuid);
  if (!instance || instance.taskRequestId !== requestId || instance.taskState !== "deleting")
    return "not-owned";
  const at = deps.now().toISOString();
  const fault: InstanceFault = {
    code: 500,
    error: failure.error,
    message: `Delete failed at ${failure.step}: ${failure.message}. The instance keeps what it holds; delete it again.`,
    step: failure.step,
    details: { requestId },
    createdAt: at,
  };
  await deps.stores.instances.update(instanceUuid, {
    expectTaskState: ["deleting"],
    expectTaskRequestId: requestId,
    set: { vmState: "error", taskState: null, taskRequestId: null, taskExecutionArn: null, fault },
  });
  await deps.stores.faults.record(instanceUuid, fault);
  if (await deps.stores.actions.get(requestId)) {
    await deps.stores.actions.update(requestId, (a) => ({
      message: "Error",
      events: [
        ...a.events.filter((e) => e.event !== failure.step),
        {
          event: failure.step,
          startTime: at,
          finishTime: at,
          result: "Error",
          traceback: `${failure.error}: ${failure.message}`,
          host: instance.host,
        },
      ],
    }));
  }
  await notifyFlow(deps, { requestId, instanceUuid }, "instance.delete.error", {
    action: "delete",
    step: failure.step,
    error: failure.error,
    message: failure.message,
  });
  return "ended";
}
