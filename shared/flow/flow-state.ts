/** Narrowing helpers: a step that needs an earlier step's output says so, and fails loudly without it. */
import { InvalidInput } from "../domain/errors.js";
import type { AcceptedFlow, FlowState, ScheduledFlow } from "./contract.js";

export function requireAccepted(state: FlowState): AcceptedFlow {
  const { migrationId, sourceHost, originalImageRef, originalVmState } = state;
  if (!migrationId || !sourceHost || !originalImageRef || !originalVmState) {
    throw new InvalidInput("flow state lacks the Accept step's output", { requestId: state.requestId });
  }
  return { ...state, migrationId, sourceHost, originalImageRef, originalVmState };
}

export function requireScheduled(state: FlowState): ScheduledFlow {
  const accepted = requireAccepted(state);
  if (!state.destHost)
    throw new InvalidInput("flow state has no target host", { requestId: state.requestId });
  return { ...accepted, destHost: state.destHost };
}

/**
 * Whether the instance ends STOPPED (defined, not started): it was STOPPED before, or the caller asked for
 * it (nova API 2.95); an instance evacuated from ERROR ends ACTIVE whatever was asked (nova does the same).
 */
export function endsStopped(flow: AcceptedFlow): boolean {
  if (flow.originalVmState === "stopped") return true;
  return flow.targetState === "stopped" && flow.originalVmState !== "error";
}

/** The notification prefix nova uses: instance.evacuate.* for recreate, instance.rebuild.* otherwise. */
export function notificationAction(state: FlowState): "evacuate" | "rebuild" {
  return state.recreate ? "evacuate" : "rebuild";
}

/** The failure the state machine's Catch recorded: which step, which error, which message. */
export function describeFailure(state: FlowState): { step: string; error: string; message: string } {
  const entries = Object.entries(state.failure ?? {});
  const last = entries.at(-1);
  if (!last)
    return { step: "unknown", error: "Unknown", message: "the flow failed without a recorded cause" };
  const [step, failure] = last;
  return { step, error: failure.Error, message: causeMessage(failure.Cause) ?? failure.Error };
}

/** A Lambda error's Cause is the JSON `{errorType, errorMessage, ...}`; other causes are plain text. */
function causeMessage(cause: string | undefined): string | undefined {
  if (!cause) return undefined;
  try {
    const parsed: unknown = JSON.parse(cause);
    if (parsed && typeof parsed === "object" && "errorMessage" in parsed) return String(parsed.errorMessage);
  } catch {
    // not JSON: the cause is the message
  }
  return cause;
}
