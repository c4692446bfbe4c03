/**
 * What Lazarus needs of Step Functions executions, one adapter for all (shared/lambda/sfn-executions.ts):
 * start one by name (the flows' triggers, the API), whether one still runs (the sweeper), and, for the
 * API, what one did.
 */
import { CLOCK_SKEW_SECONDS, LAMBDA_MAX_TIMEOUT_SECONDS } from "../definitions/timeouts.js";

export type ExecutionStatus = "RUNNING" | "SUCCEEDED" | "FAILED" | "TIMED_OUT" | "ABORTED" | "NOT_FOUND";

/** What one look at an execution says (DescribeExecution's status and stopDate). */
export interface ExecutionLook {
  status: ExecutionStatus;
  /** When it ended; null while it runs, or when it is not found. */
  stoppedAt: Date | null;
}

export interface ExecutionReader {
  status(executionArn: string): Promise<ExecutionLook>;
}

/**
 * How long after its stop an ABORTED or TIMED_OUT execution may still act: Step Functions ends such an
 * execution without waiting for its Task invocation in flight, which runs on until it returns or Lambda
 * stops it at its function's timeout (at most Lambda's maximum), plus the clock margin.
 */
export const STOPPED_EXECUTION_MAY_ACT_SECONDS = LAMBDA_MAX_TIMEOUT_SECONDS + CLOCK_SKEW_SECONDS;

/**
 * Whether an execution's steps may still act on hosts and records: RUNNING; or stopped (ABORTED) or
 * TIMED_OUT less than STOPPED_EXECUTION_MAY_ACT_SECONDS ago (from `since` when the stop time is unknown).
 * SUCCEEDED and FAILED ended through their states (the last invocation had returned); NOT_FOUND never ran.
 */
export async function executionMayAct(
  reader: ExecutionReader,
  executionArn: string,
  now: Date,
  since: Date,
): Promise<{ status: ExecutionStatus; mayAct: boolean }> {
  const { status, stoppedAt } = await reader.status(executionArn);
  if (status === "RUNNING") return { status, mayAct: true };
  if (status !== "ABORTED" && status !== "TIMED_OUT") return { status, mayAct: false };
  const stopped = stoppedAt ?? since;
  return {
    status,
    mayAct: now.getTime() - stopped.getTime() < STOPPED_EXECUTION_MAY_ACT_SECONDS * 1000,
  };
}

export interface ExecutionStarter {
  /**
   * Start execution `name` of the machine. The name is the idempotency key: starting a name that already
   * ran or runs (a retried request, a repeated event) is not an error and starts nothing; the answer is
   * that execution's ARN with `started: false`.
   */
  start(
    stateMachineArn: string,
    name: string,
    input: object,
  ): Promise<{ executionArn: string; started: boolean }>;
}

/** The ARN of execution `name` of a machine (what StartExecution returns for it). */
export function executionArnOf(stateMachineArn: string, name: string): string {
  return `${stateMachineArn.replace(":stateMachine:", ":execution:")}:${name}`;
}
