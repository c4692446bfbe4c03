/**
 * How the flows reach a host: run one of the stack's host documents there (a HostCommand) and get its
 * result. In AWS and locally this is SSM Run Command (`ssm-executor.ts`); the flows depend only on this
 * interface, and never send a script: only a document and its parameters.
 */
import type { HostCommand } from "./host-command.js";

export type { HostCommand } from "./host-command.js";

export interface HostTarget {
  /** Compute host name, for messages and error details. */
  name: string;
  /** SSM managed-instance id the command is sent to. */
  managedInstanceId: string;
}

export interface RunOptions {
  /** Seconds the command may run on the host before the agent stops it (the document's `executionTimeout`). */
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
   * Runs `command` on the host. Resolves only when it exited 0. Throws HostUnreachable (never delivered),
   * HostCommandFailed (exited non-zero; `details.exitCode`, `details.stderr`), HostCommandTimedOut (no
   * terminal status before the deadline), or InvalidInput (SSM refused a parameter: nothing ran).
   */
  run(host: HostTarget, command: HostCommand, options?: RunOptions): Promise<RunResult>;
  /** Like `run`, but a non-zero exit is returned instead of thrown (probes that answer with their exit code). */
  probe(host: HostTarget, command: HostCommand, options?: RunOptions): Promise<RunResult>;
}

/** A command sent by `ProbeSender.send`, to be read later: its deadline runs from when it was sent. */
export interface SentCommand {
  commandId: string;
  /** Epoch milliseconds (the sender's clock) when the send began: the deadline counts from here. */
  sentAtMs: number;
  /** Delivery + execution + polling, from `sentAtMs`. */
  deadlineMs: number;
}

/**
 * A probe sent now and read later. The host-failure flow sends its liveness probe when the incident opens,
 * so that the probe's deadline runs out during the flow's waits (the grace period, the mass-failure
 * settle) instead of after them.
 */
export interface ProbeSender {
  /**
   * Sends the probe without waiting for it. Throws what `probe` throws before a command exists:
   * HostUnreachable (SSM will not deliver to the host), InvalidInput, HostCommandTimedOut (SSM kept refusing).
   */
  send(host: HostTarget, command: HostCommand, options?: RunOptions): Promise<SentCommand>;
  /**
   * The probe's result, as `probe` gives it: waits for a terminal status until the deadline (`sentAtMs` +
   * `deadlineMs`), looking at least once even when the deadline has already passed.
   */
  answer(host: HostTarget, command: HostCommand, sent: SentCommand): Promise<RunResult>;
}
