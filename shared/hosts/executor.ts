/**
 * How the flows reach a host: run one shell script there and get its result.
 * In AWS and locally this is SSM Run Command (`ssm-executor.ts`); the flows depend only on this interface.
 */

export interface HostTarget {
  /** Compute host name, for messages and error details. */
  name: string;
  /** SSM managed-instance id the script is sent to. */
  managedInstanceId: string;
}

export interface RunOptions {
  /** Seconds the script may run on the host before the agent stops it (SSM `executionTimeout`). */
  executionTimeoutSeconds?: number;
  /** Overall deadline for delivery + execution + polling, in milliseconds. */
  deadlineMs?: number;
  /** Short label for logs and the SSM `Comment`. */
  comment?: string;
}

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface HostExecutor {
  /**
   * Runs `script` with bash on the host. Resolves only when the script exited 0.
   * Throws HostUnreachable (never delivered), HostCommandFailed (exited non-zero; `details.exitCode`,
   * `details.stderr`), or HostCommandTimedOut (no terminal status before the deadline).
   */
  run(host: HostTarget, script: string, options?: RunOptions): Promise<RunResult>;
  /** Like `run`, but a non-zero exit is returned instead of thrown (for probes such as `test -e`). */
  probe(host: HostTarget, script: string, options?: RunOptions): Promise<RunResult>;
}
