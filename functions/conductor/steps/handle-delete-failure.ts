/**
 * Where a failed delete ends: shared/flow/end-delete.ts says what holds afterwards. It returns the error
 * instead of throwing it; the machine fails with it.
 */
import { DeleteRequest, type FailedDelete } from "#shared/flow/boot-contract.js";
import type { StepDeps } from "#shared/flow/deps.js";
import { endDelete } from "#shared/flow/end-delete.js";
import { describeFailure } from "#shared/flow/flow-state.js";

export async function handleDeleteFailure(
  deps: StepDeps,
  state: FailedDelete,
): Promise<{ outcome: "failed"; error: string; cause: string }> {
  const failure = describeFailure(state);
  const req = DeleteRequest.safeParse(
    state.requestId && state.instanceUuid
      ? { requestId: state.requestId, instanceUuid: state.instanceUuid }
      : state.request,
  );
  if (req.success) await endDelete(deps, { ...req.data, failure });
  return { outcome: "failed", error: failure.error, cause: failure.message };
}
