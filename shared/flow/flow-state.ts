/** Reading a FlowState: narrowing, the notification prefix, and what the recorded failure says. */
import { InvalidInput } from "../domain/errors.js";
import {
  CLEANUP_FAILURE_KEY,
  FAILURE_KEYS,
  type FailedFlow,
  type FailureKey,
  FIRST_DESTRUCTIVE_STEP,
  type FlowState,
  type ScheduledFlow,
  type StepFailure,
  TARGET_TOUCHING_STEPS,
} from "./contract.js";

export function requireScheduled(state: FlowState): ScheduledFlow {
  if (!state.destHost)
    throw new InvalidInput("flow state has no target host", { requestId: state.requestId });
  return { ...state, destHost: state.destHost };
}

/**
 * Whether the instance ends STOPPED (defined, not started): it was STOPPED before, or the caller asked for
 * it (nova API 2.95); an instance evacuated from ERROR ends ACTIVE whatever was asked (nova does the same).
 */
export function endsStopped(flow: Pick<FlowState, "originalVmState" | "targetState">): boolean {
  if (flow.originalVmState === "stopped") return true;
  return flow.targetState === "stopped" && flow.originalVmState !== "error";
}

/**
 * The image the flow's root disk is made from: a rebuild's new image, else the instance's as Accept took it.
 * The copy Accept carries (`originalImageRef`) is the record's for the whole flow: nothing writes an
 * instance's image but a flow's Finish, and this flow holds the task.
 */
export function flowImage(flow: Pick<FlowState, "imageRef" | "originalImageRef">): string {
  return flow.imageRef ?? flow.originalImageRef;
}

/** nova's prefix: instance.evacuate for recreate, instance.rebuild otherwise (used for action names). */
export function flowAction(state: Pick<FlowState, "recreate">): "evacuate" | "rebuild" {
  return state.recreate ? "evacuate" : "rebuild";
}

/**
 * What a flow's abort step returns when the flow failed for good: the original error, for the machine's
 * Fail state (ErrorPath / CausePath) to end the execution with.
 */
export interface AbortedFlow {
  error: string;
  cause: string;
}

export interface FailureSummary {
  step: string;
  error: string;
  message: string;
}

/** The failure a state machine's Catch recorded (the last one): which step, which error, which message. */
export function describeFailure(state: {
  failure?: Partial<Record<string, StepFailure>> | undefined;
}): FailureSummary {
  const entries = Object.entries(state.failure ?? {}) as [string, StepFailure][];
  const last = entries.at(-1);
  if (!last)
    return { step: "unknown", error: "Unknown", message: "the flow failed without a recorded cause" };
  const [step, failure] = last;
  return { step, error: failure.Error, message: causeMessage(failure.Cause) ?? failure.Error };
}

/** The clean-up failure recorded by the Catch of a CleanUp state, if any. */
export function describeCleanUpFailure(
  state: Pick<FailedFlow, typeof CLEANUP_FAILURE_KEY>,
): FailureSummary | null {
  const f = state[CLEANUP_FAILURE_KEY];
  return f ? { step: "cleanUpTarget", error: f.Error, message: causeMessage(f.Cause) ?? f.Error } : null;
}

/** Did the flow reach a step that may have left a disk or a domain on its target (a timeout counts)? */
export function touchedTarget(
  state: Pick<FlowState, "failure" | "createdRootDisk" | "sharedStorage">,
): boolean {
  if (state.createdRootDisk) return true;
  const failed = Object.keys(state.failure ?? {}) as FailureKey[];
  // PrepareTarget's only host command is the root disk's, made when the disk is not on shared storage.
  if (failed.includes("prepareTarget") && state.sharedStorage !== true) return true;
  return failed.some((k) => TARGET_TOUCHING_STEPS.includes(k));
}

/** Rebuild: did the flow reach a step that may have taken the old domain down? Unknown counts as yes. */
export function reachedDestructiveStep(state: Pick<FailedFlow, "failure">): boolean {
  const step = describeFailure(state).step as FailureKey;
  const at = FAILURE_KEYS.indexOf(step);
  return at < 0 || at >= FAILURE_KEYS.indexOf(FIRST_DESTRUCTIVE_STEP);
}

/**
 * The message of a failure's Cause: a Lambda error's Cause is the JSON `{errorType, errorMessage, trace}`
 * (the message, without the trace); any other cause is plain text, its own message. null: no cause.
 */
export function causeMessage(cause: string | null | undefined): string | null {
  if (!cause) return null;
  try {
    const parsed: unknown = JSON.parse(cause);
    if (
      parsed &&
      typeof parsed === "object" &&
      "errorMessage" in parsed &&
      typeof parsed.errorMessage === "string"
    )
      return parsed.errorMessage;
  } catch {
    // not JSON: the cause is the message
  }
  return cause;
}
