/**
 * HostExecutor over SSM Run Command: each command is one of the stack's own documents (ssm-documents/,
 * deployed as `<prefix>-<id>`) with its parameters; never a script. The same code talks to real AWS and to
 * the local SSM-compatible endpoint (`local/ssm/ssm-endpoint.ts`): only the client's endpoint differs.
 */
import type { Logger } from "@aws-lambda-powertools/logger";
import { type Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import {
  CancelCommandCommand,
  GetCommandInvocationCommand,
  type GetCommandInvocationCommandOutput,
  SendCommandCommand,
  type SSMClient,
} from "@aws-sdk/client-ssm";
import { EXECUTION_TIMEOUT_PARAMETER, hostDocumentName } from "#ssm-documents/document.js";
import {
  errorMessage,
  HostCommandFailed,
  HostCommandTimedOut,
  HostUnreachable,
  InvalidInput,
} from "../domain/errors.js";
import { DEFAULT_PREFIX } from "../store/tables.js";
import type {
  HostCommand,
  HostExecutor,
  HostTarget,
  ProbeSender,
  RunOptions,
  RunResult,
  SentCommand,
} from "./executor.js";

export interface SsmHostExecutorOptions {
  client: SSMClient;
  /**
   * The deployed name of a host document (default `lazarus-<id>`, the default prefix; the Lambdas' runtime
   * gives the deployment's, `LambdaSettings.hostDocumentPrefix`).
   */
  documentName?: (id: string) => string;
  /** First delay between GetCommandInvocation polls (doubles up to pollMaxMs, with jitter). */
  pollInitialMs?: number;
  /**
   * Longest delay between status polls of a command that runs (default 500 ms). Kept short on purpose: a
   * command that ends just after a poll waits up to this long, once per host command on a flow's critical
   * path (bench/RESULTS.md §8, lever 2). Polls are free in SSM.
   */
  pollMaxMs?: number;
  /** Longest delay after SSM throttled, answered 5xx, or did not show the invocation yet (default 5 s). */
  backoffMaxMs?: number;
  /** Overall deadline for one run/probe when the caller gives none. */
  defaultDeadlineMs?: number;
  /** SSM `executionTimeout` when the caller gives none. */
  defaultExecutionTimeoutSeconds?: number;
  /** One log line per command (host, what, exit code, duration, command id); none when absent. */
  logger?: Logger;
  /** HostCommandDuration per command, HostCommandFailures by error name; none when absent. */
  metrics?: Metrics;
  /** Injectable for tests. */
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  random?: () => number;
}

/** SSM refuses a delivery timeout (`TimeoutSeconds`) below 30 s. */
const MIN_DELIVERY_TIMEOUT_S = 30;
const MAX_DELIVERY_TIMEOUT_S = 2_592_000;
const TERMINAL = new Set(["Success", "Failed", "TimedOut", "Cancelled"]);
/** Error names that mean "slow down and try again" (SSM throttles GetCommandInvocation hard). */
const THROTTLING = new Set([
  "ThrottlingException",
  "TooManyUpdates",
  "Throttling",
  "ThrottledException",
  "RequestLimitExceeded",
  "TooManyRequestsException",
]);

/** Metric names of host commands. */
export const HOST_COMMAND_METRICS = {
  duration: "HostCommandDuration",
  /** With dimension `errorName`. */
  failures: "HostCommandFailures",
} as const;

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function errName(e: unknown): string {
  return typeof e === "object" && e !== null && "name" in e ? String((e as { name: unknown }).name) : "";
}

function isThrottling(e: unknown): boolean {
  if (THROTTLING.has(errName(e))) return true;
  const retryable = (e as { $retryable?: { throttling?: boolean } } | null)?.$retryable;
  return retryable?.throttling === true;
}

/** 5xx from the SSM API (not from the script): transient, worth retrying within the deadline. */
function isServerError(e: unknown): boolean {
  const status = (e as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
  return typeof status === "number" && status >= 500;
}

/** What every log line of a host command names: the host, the document, and what it was for. */
function commandFields(host: HostTarget, command: HostCommand, options: RunOptions) {
  return {
    host: host.name,
    managedInstanceId: host.managedInstanceId,
    document: command.document,
    what: options.comment ?? command.document,
  };
}

export class SsmHostExecutor implements HostExecutor, ProbeSender {
  private readonly client: SSMClient;
  private readonly pollInitialMs: number;
  private readonly pollMaxMs: number;
  private readonly backoffMaxMs: number;
  private readonly defaultDeadlineMs: number;
  private readonly defaultExecutionTimeoutSeconds: number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly logger: Logger | undefined;
  private readonly metrics: Metrics | undefined;
  private readonly documentName: (id: string) => string;

  constructor(opts: SsmHostExecutorOptions) {
    this.client = opts.client;
    this.documentName = opts.documentName ?? ((id) => hostDocumentName(DEFAULT_PREFIX, id));
    this.pollInitialMs = opts.pollInitialMs ?? 100;
    this.pollMaxMs = opts.pollMaxMs ?? 500;
    this.backoffMaxMs = Math.max(this.pollMaxMs, opts.backoffMaxMs ?? 5000);
    this.defaultDeadlineMs = opts.defaultDeadlineMs ?? 120_000;
    this.defaultExecutionTimeoutSeconds = opts.defaultExecutionTimeoutSeconds ?? 600;
    this.sleep = opts.sleep ?? defaultSleep;
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    this.logger = opts.logger;
    this.metrics = opts.metrics;
  }

  async run(host: HostTarget, command: HostCommand, options: RunOptions = {}): Promise<RunResult> {
    return this.observed(host, command, options, false);
  }

  async probe(host: HostTarget, command: HostCommand, options: RunOptions = {}): Promise<RunResult> {
    return this.observed(host, command, options, true);
  }

  async send(host: HostTarget, command: HostCommand, options: RunOptions = {}): Promise<SentCommand> {
    try {
      const sent = await this.dispatch(host, command, options);
      this.logger?.info({
        message: "host command sent",
        ...commandFields(host, command, options),
        commandId: sent.commandId,
        probe: true,
        deadlineMs: sent.deadlineMs,
      });
      return sent;
    } catch (e) {
      this.logger?.warn({
        message: "host command not sent",
        ...commandFields(host, command, options),
        errorName: errName(e) || "Error",
        error: errorMessage(e),
      });
      throw e;
    }
  }

  async answer(host: HostTarget, command: HostCommand, sent: SentCommand): Promise<RunResult> {
    return this.observed(host, command, {}, true, sent);
  }

  /** Runs the command and reports it: one log line and its metrics, whatever the outcome. */
  private async observed(
    host: HostTarget,
    command: HostCommand,
    options: RunOptions,
    probe: boolean,
    earlier?: SentCommand,
  ): Promise<RunResult> {
    // A probe sent earlier (`send`) is timed from its sending.
    const started = earlier?.sentAtMs ?? this.now();
    const sent: { commandId?: string } = { commandId: earlier?.commandId };
    const line = (outcome: Record<string, unknown>) => ({
      message: "host command",
      ...commandFields(host, command, options),
      commandId: sent.commandId ?? null,
      probe,
      durationMs: this.now() - started,
      ...outcome,
    });
    try {
      const result = earlier
        ? await this.collect(host, earlier, probe)
        : await this.execute(host, command, options, probe, sent);
      const entry = line({ exitCode: result.exitCode });
      this.logger?.info(entry);
      this.metrics?.addMetric(HOST_COMMAND_METRICS.duration, MetricUnit.Milliseconds, entry.durationMs);
      return result;
    } catch (e) {
      const details = (e as { details?: { exitCode?: unknown; status?: unknown } } | null)?.details;
      const name = errName(e) || "Error";
      const entry = line({
        exitCode: typeof details?.exitCode === "number" ? details.exitCode : null,
        ...(typeof details?.status === "string" ? { status: details.status } : {}),
        errorName: name,
        error: errorMessage(e),
      });
      this.logger?.warn(entry);
      this.metrics?.addMetric(HOST_COMMAND_METRICS.duration, MetricUnit.Milliseconds, entry.durationMs);
      if (this.metrics) {
        const single = this.metrics.singleMetric();
        single.addDimension("errorName", name);
        single.addMetric(HOST_COMMAND_METRICS.failures, MetricUnit.Count, 1);
      }
      throw e;
    }
  }

  private async execute(
    host: HostTarget,
    command: HostCommand,
    options: RunOptions,
    probe: boolean,
    sent: { commandId?: string },
  ): Promise<RunResult> {
    const dispatched = await this.dispatch(host, command, options);
    sent.commandId = dispatched.commandId;
    return this.collect(host, dispatched, probe);
  }

  /** SendCommand, with SSM's delivery and execution timeouts derived from the deadline. */
  private async dispatch(host: HostTarget, command: HostCommand, options: RunOptions): Promise<SentCommand> {
    const deadlineMs = options.deadlineMs ?? this.defaultDeadlineMs;
    const sentAtMs = this.now();
    const execSecs = Math.max(
      1,
      Math.ceil(options.executionTimeoutSeconds ?? this.defaultExecutionTimeoutSeconds),
    );
    // Delivery timeout: as long as our own deadline, within SSM's bounds.
    const deliverySecs = Math.min(
      MAX_DELIVERY_TIMEOUT_S,
      Math.max(MIN_DELIVERY_TIMEOUT_S, Math.ceil(deadlineMs / 1000)),
    );
    const commandId = await this.sendCommand(
      host,
      command,
      execSecs,
      deliverySecs,
      options.comment,
      sentAtMs + deadlineMs,
      deadlineMs,
    );
    return { commandId, sentAtMs, deadlineMs };
  }

  /**
   * Polls the command's invocation until a terminal status or the deadline (cancelled then). It looks at
   * least once, and once more at the deadline: a probe sent earlier and read after its deadline has passed
   * gets its answer if it has one.
   */
  private async collect(host: HostTarget, sent: SentCommand, probe: boolean): Promise<RunResult> {
    const { commandId, deadlineMs } = sent;
    const deadline = sent.sentAtMs + deadlineMs;
    const details = { host: host.name, managedInstanceId: host.managedInstanceId, commandId };

    let delay = this.pollInitialMs;
    let last: GetCommandInvocationCommandOutput | undefined;
    let lastError = "";
    let looked = false;
    /** No terminal status within the deadline: `what` the command was last seen doing. */
    const timedOut = (what: string) =>
      new HostCommandTimedOut(
        `host ${host.name} (${host.managedInstanceId}): command ${commandId} reached no terminal status within ${deadlineMs} ms (${what})`,
        {
          ...details,
          deadlineMs,
          lastStatus: last?.Status ?? null,
          lastStatusDetails: last?.StatusDetails ?? null,
        },
      );
    for (;;) {
      const remaining = deadline - this.now();
      if (remaining <= 0 && looked) {
        await this.cancelQuietly(commandId, host.managedInstanceId);
        throw timedOut(
          `last: ${last ? `${last.Status}/${last.StatusDetails}` : `no invocation yet (${lastError || "not polled"})`}`,
        );
      }
      // "Equal jitter": between half and all of the current delay, never past the deadline.
      if (remaining > 0)
        await this.sleep(Math.min(remaining, Math.round(delay * (0.5 + this.random() * 0.5))));
      looked = true;
      try {
        last = await this.client.send(
          new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: host.managedInstanceId }),
        );
      } catch (e) {
        // Right after SendCommand the invocation is often not visible yet (eventual consistency).
        if (errName(e) === "InvocationDoesNotExist" || isThrottling(e) || isServerError(e)) {
          lastError = errName(e) || errorMessage(e);
          const cap = isThrottling(e) || isServerError(e) ? this.backoffMaxMs : this.pollMaxMs;
          delay = Math.min(cap, delay * 2);
          continue;
        }
        throw e;
      }
      if (last.Status === "Cancelled" && probe && this.now() >= deadline) {
        // Probes are cancelled by this executor only, at their deadline: a probe read again past it (its
        // step retried after a crash, the first attempt having cancelled it) found it unanswered then.
        throw timedOut("cancelled at its deadline");
      }
      if (last.Status && TERMINAL.has(last.Status)) return this.mapTerminal(host, commandId, last, probe);
      delay = Math.min(this.pollMaxMs, delay * 2);
    }
  }

  private async sendCommand(
    host: HostTarget,
    command: HostCommand,
    execSecs: number,
    deliverySecs: number,
    comment: string | undefined,
    deadline: number,
    deadlineMs: number,
  ): Promise<string> {
    let delay = this.pollInitialMs;
    for (;;) {
      try {
        const out = await this.client.send(
          new SendCommandCommand({
            DocumentName: this.documentName(command.document),
            InstanceIds: [host.managedInstanceId],
            Parameters: {
              ...Object.fromEntries(Object.entries(command.parameters).map(([k, v]) => [k, [v]])),
              [EXECUTION_TIMEOUT_PARAMETER]: [String(execSecs)],
            },
            TimeoutSeconds: deliverySecs,
            // SSM limits Comment to 100 characters.
            ...(comment ? { Comment: comment.slice(0, 100) } : {}),
          }),
        );
        const id = out.Command?.CommandId;
        // Sent, but not trackable: it may run, as after a timeout.
        if (!id) {
          throw new HostCommandTimedOut(`SendCommand to ${host.name} returned no CommandId`, {
            host: host.name,
            managedInstanceId: host.managedInstanceId,
            commandId: null,
          });
        }
        return id;
      } catch (e) {
        const name = errName(e);
        if (name === "InvalidParameters" || name === "InvalidDocument") {
          // SSM refused the command before anything ran: a value outside its pattern, or no such document.
          throw new InvalidInput(
            `host ${host.name}: SSM refused ${command.document} (${name}: ${errorMessage(e)}); nothing ran`,
            { host: host.name, document: command.document, reason: name },
            { cause: e },
          );
        }
        if (name === "InvalidInstanceId") {
          // Not registered, deregistered, or not in a state SSM delivers to.
          throw new HostUnreachable(
            `host ${host.name} (${host.managedInstanceId}) unreachable: SendCommand refused (InvalidInstanceId: ${errorMessage(e)})`,
            { host: host.name, managedInstanceId: host.managedInstanceId, commandId: null, reason: name },
            { cause: e },
          );
        }
        const remaining = deadline - this.now();
        if ((isThrottling(e) || isServerError(e)) && remaining > 0) {
          await this.sleep(Math.min(remaining, Math.round(delay * (0.5 + this.random() * 0.5))));
          delay = Math.min(this.backoffMaxMs, delay * 2);
          continue;
        }
        if (isThrottling(e) || isServerError(e)) {
          throw new HostCommandTimedOut(
            `host ${host.name} (${host.managedInstanceId}): SendCommand kept failing (${name}) for ${deadlineMs} ms; no command id`,
            {
              host: host.name,
              managedInstanceId: host.managedInstanceId,
              commandId: null,
              deadlineMs,
              reason: name,
            },
            { cause: e },
          );
        }
        throw e;
      }
    }
  }

  private mapTerminal(
    host: HostTarget,
    commandId: string,
    inv: GetCommandInvocationCommandOutput,
    probe: boolean,
  ): RunResult {
    const status = inv.Status ?? "";
    const statusDetails = inv.StatusDetails ?? "";
    const exitCode = inv.ResponseCode ?? -1;
    const stdout = inv.StandardOutputContent ?? "";
    const stderr = inv.StandardErrorContent ?? "";
    const details = {
      host: host.name,
      managedInstanceId: host.managedInstanceId,
      commandId,
      status,
      statusDetails,
      exitCode,
      stdout,
      stderr,
    };
    const who = `host ${host.name} (${host.managedInstanceId}): command ${commandId}`;
    if (status === "Success") return { exitCode: Math.max(exitCode, 0), stdout, stderr };

    const neverStarted = !inv.ExecutionStartDateTime && exitCode < 0 && stdout === "" && stderr === "";
    // SSM ends every invocation nobody reported at its command's expiry with DeliveryTimedOut, also one the
    // agent had started before it went silent: only one that never started was surely never run.
    if (
      statusDetails === "Undeliverable" ||
      (status === "TimedOut" && statusDetails !== "ExecutionTimedOut" && neverStarted)
    ) {
      throw new HostUnreachable(
        `${who} was never delivered (${status}/${statusDetails}): the host's agent is unreachable`,
        details,
      );
    }
    if (status === "TimedOut") {
      throw new HostCommandTimedOut(
        statusDetails === "ExecutionTimedOut"
          ? `${who} ran past its execution timeout (${status}/${statusDetails})`
          : `${who} started, then its agent went silent until the command expired (${status}/${statusDetails})`,
        details,
      );
    }
    if (status === "Cancelled") {
      throw new HostCommandFailed(`${who} was cancelled (${status}/${statusDetails})`, details);
    }
    // Failed.
    if (exitCode >= 0 && probe) return { exitCode, stdout, stderr };
    const tail = stderr.trim().split("\n").slice(-3).join(" | ").slice(0, 500);
    throw new HostCommandFailed(
      exitCode >= 0
        ? `${who} exited ${exitCode}${tail ? `: ${tail}` : ""}`
        : `${who} failed without an exit code (${status}/${statusDetails})`,
      details,
    );
  }

  private async cancelQuietly(commandId: string, instanceId: string): Promise<void> {
    try {
      await this.client.send(new CancelCommandCommand({ CommandId: commandId, InstanceIds: [instanceId] }));
    } catch {
      // Best effort: the command may already be terminal, or the API unreachable.
    }
  }
}
