/**
 * What Lazarus needs of Step Functions executions, one adapter for all (shared/lambda/sfn-executions.ts):
 * start one by name (the flows' triggers, the API), whether one still runs (the sweeper), and, for the
 * API, what one did.
 */
export type ExecutionStatus = "RUNNING" | "SUCCEEDED" | "FAILED" | "TIMED_OUT" | "ABORTED" | "NOT_FOUND";

export interface ExecutionReader {
  status(executionArn: string): Promise<ExecutionStatus>;
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
