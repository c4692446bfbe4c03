/**
 * The delete flow's entry (nova's `compute/api.py` delete): the checks the API ran (assertDeletable),
 * then task_state := deleting expecting none, owned by this request; the delete action recorded;
 * `instance.delete.start`. A retry by its owner returns the same state.
 */

import { DeleteRequest, type DeleteState } from "#shared/flow/boot-contract.js";
import type { AcceptInput } from "#shared/flow/contract.js";
import { assertDeletable } from "#shared/flow/delete-admission.js";
import type { StepDeps } from "#shared/flow/deps.js";
import { notifyFlow } from "#shared/flow/notify.js";
import { parseOrInvalid } from "#shared/flow/parse.js";

export async function acceptDelete(deps: StepDeps, input: AcceptInput): Promise<DeleteState> {
  const req = parseOrInvalid(DeleteRequest, input.request, "request");
  const { instances, hosts, actions } = deps.stores;
  let instance = await instances.get(req.instanceUuid);
  if (instance?.taskState !== "deleting" || instance.taskRequestId !== req.requestId) {
    const host = instance ? await hosts.get(instance.host) : null;
    assertDeletable(
      instance,
      host,
      { now: deps.now(), serviceDownSeconds: deps.serviceDownSeconds },
      req.instanceUuid,
    );
    instance = await instances.update(req.instanceUuid, {
      expectTaskState: [null],
      expectVersion: instance.version,
      set: { taskState: "deleting", taskRequestId: req.requestId, taskExecutionArn: input.executionArn },
    });
  }
  await actions.open({
    id: req.requestId,
    instanceUuid: req.instanceUuid,
    action: "delete",
    startTime: deps.now().toISOString(),
    message: null,
    events: [],
    executionArn: input.executionArn,
  });
  await notifyFlow(
    deps,
    { requestId: req.requestId, instanceUuid: req.instanceUuid },
    "instance.delete.start",
    {
      action: "delete",
      host: instance.host,
    },
  );
  return { ...req, executionArn: input.executionArn, host: instance.host };
}
