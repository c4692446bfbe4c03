/**
 * An execution's history, as an operator reads it: one entry per state entered (a state entered again,
 * as in the reschedule loop, is a new entry), with its status, its attempts and the error of its last
 * failed attempt. Pure: the history events in, the steps out.
 */
import type { HistoryEvent } from "@aws-sdk/client-sfn";

export interface ExecutionStep {
  name: string;
  /** The ASL state type: Task, Choice, Pass, ... */
  type: string;
  status: "running" | "succeeded" | "failed";
  attempts: number;
  enteredAt: string;
  exitedAt: string | null;
  error: string | null;
  cause: string | null;
}

const FAILED_DETAILS = [
  "taskFailedEventDetails",
  "lambdaFunctionFailedEventDetails",
  "taskTimedOutEventDetails",
  "lambdaFunctionTimedOutEventDetails",
] as const;

export function stepsFromHistory(events: readonly HistoryEvent[]): ExecutionStep[] {
  const steps: ExecutionStep[] = [];
  let current: ExecutionStep | undefined;
  for (const e of events) {
    const type = e.type ?? "";
    const at = e.timestamp ? new Date(e.timestamp).toISOString() : new Date(0).toISOString();
    if (type.endsWith("StateEntered")) {
      current = {
        name: e.stateEnteredEventDetails?.name ?? "?",
        type: type.slice(0, -"StateEntered".length),
        status: "running",
        attempts: 0,
        enteredAt: at,
        exitedAt: null,
        error: null,
        cause: null,
      };
      steps.push(current);
      continue;
    }
    if (!current) continue;
    if (type === "TaskScheduled" || type === "LambdaFunctionScheduled") {
      current.attempts++;
      current.status = "running";
      continue;
    }
    const failed = FAILED_DETAILS.map((k) => e[k]).find((d) => d !== undefined);
    if (failed) {
      current.status = "failed";
      current.error = failed.error ?? null;
      current.cause = failed.cause ?? null;
      current.exitedAt = at;
      continue;
    }
    if (type.endsWith("StateExited")) {
      if (current.status === "running") current.status = "succeeded";
      current.exitedAt = at;
      continue;
    }
    if (type === "ExecutionFailed" || type === "ExecutionAborted" || type === "ExecutionTimedOut") {
      if (current.status === "running") {
        current.status = "failed";
        current.exitedAt = at;
        const d =
          e.executionFailedEventDetails ?? e.executionAbortedEventDetails ?? e.executionTimedOutEventDetails;
        current.error = d?.error ?? type;
        current.cause = d?.cause ?? null;
      }
    }
  }
  return steps;
}
