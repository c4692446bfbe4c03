/**
 * Where every failed path of the rebuild/evacuate machine ends (nova's failure handling in the conductor
 * and `_do_rebuild_instance`): NoValidHost ends the migration `error`, any other failure `failed`; see
 * shared/flow/end-flow.ts for what holds afterwards. It does not throw the flow's error itself (its own
 * Retry would run it again and publish again): it returns the error's name and cause, and the state
 * machine fails the execution with them (a Fail state with ErrorPath/CausePath). A flow whose Finish had
 * already committed ends SUCCEEDED. An evacuation whose target refused the disk (DiskLocked: the old copy
 * still holds it) and was then proven clean ends FencingRequired: the instance is not put in ERROR.
 */
import type { FailedFlow } from "#shared/flow/contract.js";
import type { StepDeps } from "#shared/flow/deps.js";
import { endFlow } from "#shared/flow/end-flow.js";
import { describeCleanUpFailure, describeFailure, reachedDestructiveStep } from "#shared/flow/flow-state.js";

export interface HandledFailure {
  outcome: "failed" | "finished" | "fencing-required";
  error: string;
  cause: string;
}

export async function handleFailure(deps: StepDeps, state: FailedFlow): Promise<HandledFailure> {
  const failure = describeFailure(state);
  const cleanUp = describeCleanUpFailure(state);
  const recreate = state.recreate === true;
  const uncleanHost = cleanUp && recreate && state.destHost ? state.destHost : null;
  const fencingRequired =
    !uncleanHost && recreate && failure.error === "DiskLocked" && state.destHost && state.sourceHost
      ? { holder: state.sourceHost, target: state.destHost }
      : null;
  const error = uncleanHost ? "TargetNotClean" : fencingRequired ? "FencingRequired" : failure.error;
  const cause = uncleanHost
    ? `${failure.message}; then the clean-up of ${uncleanHost} failed (${cleanUp?.error}: ${cleanUp?.message})`
    : fencingRequired
      ? `fencing required: ${fencingRequired.target} refused the disk, still held by the copy on ${fencingRequired.holder}; fence ${fencingRequired.holder}, then evacuate again (${failure.message})`
      : failure.message;
  if (!state.requestId || !state.instanceUuid) return { outcome: "failed", error, cause };

  const outcome = await endFlow(deps, {
    requestId: state.requestId,
    instanceUuid: state.instanceUuid,
    recreate,
    failure,
    migrationStatus: failure.error === "NoValidHost" ? "error" : "failed",
    uncleanHost,
    keepVmState: !recreate && !reachedDestructiveStep(state),
    attemptedHosts: state.attemptedHosts ?? [],
    fencingRequired,
  });
  if (outcome === "finished") return { outcome: "finished", error, cause };
  return { outcome: outcome === "fencing-required" ? "fencing-required" : "failed", error, cause };
}
