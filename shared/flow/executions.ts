/** What the flows need to know about Step Functions executions: whether one still runs. */
export type ExecutionStatus = "RUNNING" | "SUCCEEDED" | "FAILED" | "TIMED_OUT" | "ABORTED" | "NOT_FOUND";

export interface ExecutionReader {
  status(executionArn: string): Promise<ExecutionStatus>;
}
