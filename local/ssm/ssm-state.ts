/**
 * The state of the local SSM Run Command service, without any HTTP: managed instances (tags, the agents'
 * ping and health reports), commands and their per-instance invocations, and the SSM API operations and
 * agent protocol over them. The endpoint (ssm-endpoint.ts) is a thin HTTP layer on top; tests drive this
 * module directly with their own clock.
 *
 * Behaviour copied from SSM because the executor must cope with it, at SSM's own timings (no local signal
 * may come sooner than AWS gives it; a test that needs one soon moves the clock instead):
 *  - an invocation is invisible (InvocationDoesNotExist) for a short while after SendCommand;
 *  - PingStatus follows the agent's health reports, which the real agent sends every 5 minutes
 *    (`Ssm.HealthFrequencyMinutes`, default 5), not its polls: a dead agent stays Online until
 *    CONNECTION_LOST_AFTER_MS after its last report;
 *  - a command expires at SendCommand + `TimeoutSeconds` + the document's `executionTimeout` (SSM's "total
 *    timeout", "Understanding command timeout values"): every invocation still Pending or InProgress then
 *    ends TimedOut/DeliveryTimedOut (ExecutionTimedOut is only ever the agent's own report). One still
 *    Pending for an agent that is ConnectionLost then ends Failed/Undeliverable instead: SSM documents no
 *    time for Undeliverable, so it comes no sooner than the expiry;
 *  - stdout is cut to 24,000 characters and stderr to 8,000, as GetCommandInvocation does.
 */
import { randomUUID } from "node:crypto";
import { AwsJsonError, type AwsJsonOperation } from "../http/aws-json.js";
import {
  AWS_RUN_SHELL_SCRIPT_CONTENT,
  type CommandDocument,
  parseCommandDocument,
  resolveCommand,
} from "./documents.js";

/** The AWS-owned shell document, which the stack's roles may not send (and the local endpoint refuses). */
export const SHELL_DOCUMENT = "AWS-RunShellScript";

/**
 * How often the SSM agent reports its health (`UpdateInstanceInformation`): `Ssm.HealthFrequencyMinutes`,
 * default 5 in amazon-ssm-agent.json. PingStatus follows these reports, never the agent's polls.
 */
export const AGENT_HEALTH_INTERVAL_MS = 5 * 60_000;
/**
 * No health report for this long = PingStatus ConnectionLost. AWS publishes no figure: the earliest it can
 * know is one missed report, so the local endpoint waits two (10 minutes), never less.
 */
export const CONNECTION_LOST_AFTER_MS = 2 * AGENT_HEALTH_INTERVAL_MS;

/**
 * SSM's timings are not options: health cadence, ConnectionLost, delivery and expiry are AWS's (above).
 * A test that needs one of them reached moves the clock (`SsmStateHooks.now`).
 */
export interface SsmStateOptions {
  /** How long GetCommandInvocation answers InvocationDoesNotExist after SendCommand. */
  invocationVisibilityDelayMs?: number;
  /**
   * Latency of SSM itself, per command (default 0). `deliveryDelayMs`: a command reaches its agent no
   * sooner than this after SendCommand. `statusDelayMs`: a result the agent reported shows in
   * GetCommandInvocation / ListCommandInvocations only this long after the report (it reads InProgress
   * until then). AWS adds about a second per command over this endpoint; benchmarks set these to see it.
   */
  deliveryDelayMs?: number;
  statusDelayMs?: number;
  /**
   * Serve AWS-RunShellScript (any script as the host's user): for tests of SSM's own behaviour only. Off by
   * default, so the local cloud runs every host operation through the stack's own documents.
   */
  allowShellDocument?: boolean;
}

/** What the state tells its host about (the HTTP layer wakes long polls and ping waiters with these). */
export interface SsmStateHooks {
  /** The clock (epoch ms); default Date.now. */
  now?: () => number;
  /** These instances have work for their agents, deliverable `afterMs` from now. */
  onWork?(instanceIds: readonly string[], afterMs: number): void;
  /** The agent of `instanceId` polled or reported at `at`. */
  onPing?(instanceId: string, at: number): void;
}

/** One SendCommand accepted, as `onCommand` listeners see it. */
export interface SsmCommandNotice {
  commandId: string;
  instanceIds: string[];
  comment: string;
  documentName: string;
  /** The parameters it was sent with (defaults filled), as SSM keeps them. */
  parameters: Record<string, string[]>;
  /** The script the agent runs (the document's, parameters resolved). */
  script: string;
  requestedAt: number;
}

export type PingStatus = "Online" | "ConnectionLost";

/** One command as the agent runs it: the script, and the environment it adds (ENV_VAR parameters). */
export interface AgentCommand {
  commandId: string;
  script: string;
  environment: Record<string, string>;
  executionTimeoutSeconds: number;
}

/** What an agent's poll receives: commands to start, and commands to cancel. */
export interface AgentWork {
  commands: AgentCommand[];
  cancel: string[];
}

export interface SsmState {
  /** The SSM API operations (AWS JSON inputs and outputs), by operation name. */
  operations: Readonly<Record<string, AwsJsonOperation>>;
  /** Shows every agent-reported result whose status delay has passed (before each API read). */
  settleReported(): void;
  /** Ends every invocation whose command has expired by now (DeliveryTimedOut, Undeliverable). */
  sweep(): void;
  isRegistered(instanceId: string): boolean;
  registerInstance(instanceId: string, computerName: string, tags?: Record<string, string>): void;
  deregisterInstance(instanceId: string): void;
  tags(instanceId: string): Record<string, string>;
  pingStatus(instanceId: string): PingStatus | undefined;
  lastPingAt(instanceId: string): number | undefined;
  /** The agent of `instanceId` is connected (a poll): feeds its health report at most once per interval. */
  notePing(instanceId: string): void;
  /** Whether the agent of `instanceId` has something to take now (commands made deliverable again first). */
  hasWork(instanceId: string): boolean;
  /** Hands the agent its deliverable commands (now InProgress) and undelivered cancels. */
  takeWork(instanceId: string): AgentWork;
  /** The agent's report of a command's end. */
  agentResult(body: Record<string, unknown>): { accepted: boolean; status: string };
  setLatency(latency: { deliveryDelayMs?: number; statusDelayMs?: number }): void;
  onCommand(listener: (notice: SsmCommandNotice) => void): () => void;
}

type InvStatus = "Pending" | "InProgress" | "Success" | "Failed" | "TimedOut" | "Cancelled" | "Cancelling";

interface Invocation {
  commandId: string;
  instanceId: string;
  status: InvStatus;
  statusDetails: string;
  responseCode: number;
  stdout: string;
  stderr: string;
  visibleAt: number;
  startedAt?: number;
  endedAt?: number;
  cancelDelivered?: boolean;
  /** Not handed to the agent before this (the delivery delay). */
  deliverableAt?: number;
  /** A result the agent reported, shown once `visibleAt` has passed (the status delay). */
  reported?: { status: InvStatus; details: string; at: number; visibleAt: number };
}

interface Command {
  commandId: string;
  documentName: string;
  comment: string;
  parameters: Record<string, string[]>;
  script: string;
  environment: Record<string, string>;
  instanceIds: string[];
  /** The Targets it was sent with (the instances they named at the time are `instanceIds`). */
  targets: { Key: string; Values: string[] }[];
  requestedAt: number;
  executionTimeoutSeconds: number;
  timeoutSeconds: number;
  /** SSM's total timeout: requestedAt + (TimeoutSeconds + executionTimeout) s. */
  expiresAt: number;
  invocations: Map<string, Invocation>;
}

interface ManagedInstance {
  id: string;
  computerName: string;
  tags: Map<string, string>;
  registeredAt: number;
  /** Last poll (the agent is connected): for waitForPing only, never for PingStatus. */
  lastPingAt?: number;
  /** Last health report, at most one per AGENT_HEALTH_INTERVAL_MS: what PingStatus is computed from. */
  lastHealthAt?: number;
}

const STDOUT_LIMIT = 24_000;
/** SSM's document size limit (the content; SSM counts a command's parameters in it too). */
const MAX_DOCUMENT_BYTES = 64 * 1024;
const STDERR_LIMIT = 8_000;
const TERMINAL: ReadonlySet<InvStatus> = new Set(["Success", "Failed", "TimedOut", "Cancelled"]);

const iso = (ms: number | undefined) => (ms === undefined ? "" : new Date(ms).toISOString());
const epochSeconds = (ms: number) => ms / 1000;

export function createSsmState(opts: SsmStateOptions = {}, hooks: SsmStateHooks = {}): SsmState {
  const clock = hooks.now ?? Date.now;
  const visibilityDelay = opts.invocationVisibilityDelayMs ?? 50;
  let deliveryDelay = Math.max(0, opts.deliveryDelayMs ?? 0);
  let statusDelay = Math.max(0, opts.statusDelayMs ?? 0);
  const commandListeners = new Set<(notice: SsmCommandNotice) => void>();
  /** Invocations whose reported result is not visible yet (the status delay). */
  const reportedPending = new Set<Invocation>();

  const instances = new Map<string, ManagedInstance>();
  const commands = new Map<string, Command>();
  /** Command documents by name: what CreateDocument made (the stack's), and the shell one if allowed. */
  const documents = new Map<string, CommandDocument & { createdAt: number; content: string }>();
  if (opts.allowShellDocument) {
    documents.set(SHELL_DOCUMENT, {
      ...parseCommandDocument(SHELL_DOCUMENT, AWS_RUN_SHELL_SCRIPT_CONTENT),
      createdAt: clock(),
      content: AWS_RUN_SHELL_SCRIPT_CONTENT,
    });
  }
  /** Pending invocations per instance, in send order. */
  const queues = new Map<string, Invocation[]>();

  const pingStatus = (inst: ManagedInstance, now = clock()): PingStatus =>
    inst.lastHealthAt !== undefined && now - inst.lastHealthAt < CONNECTION_LOST_AFTER_MS
      ? "Online"
      : "ConnectionLost";

  const finish = (inv: Invocation, status: InvStatus, details: string, now = clock()) => {
    inv.status = status;
    inv.statusDetails = details;
    inv.endedAt = now;
    const q = queues.get(inv.instanceId);
    if (q) {
      const i = q.indexOf(inv);
      if (i >= 0) q.splice(i, 1);
    }
  };

  /** Shows every reported result whose status delay has passed. */
  const settleReported = (now = clock()) => {
    for (const inv of [...reportedPending]) {
      const r = inv.reported;
      if (!r || now < r.visibleAt) continue;
      reportedPending.delete(inv);
      finish(inv, r.status, r.details, r.at);
    }
  };

  /** Past its delivery delay, and not expired (the sweeper ends an expired one on its next round). */
  const deliverable = (inv: Invocation, now = clock()) =>
    (inv.deliverableAt === undefined || now >= inv.deliverableAt) &&
    now < (commands.get(inv.commandId) as Command).expiresAt;

  // Every timeout is enforced here, called by the endpoint's one sweeper (or a test, with its own clock).
  // SSM's only deadline for an invocation nobody reported is its command's expiry (the total timeout):
  // Pending and InProgress ones end DeliveryTimedOut then, or Undeliverable when still Pending for an agent
  // that is ConnectionLost; a cancel the agent never acknowledged ends Cancelled then.
  const sweep = () => {
    const now = clock();
    settleReported(now);
    for (const cmd of commands.values()) {
      if (now < cmd.expiresAt) continue;
      for (const inv of cmd.invocations.values()) {
        if (TERMINAL.has(inv.status) || inv.reported !== undefined) continue;
        if (inv.status === "Cancelling") finish(inv, "Cancelled", "Canceled", now);
        else if (inv.status === "Pending" && isLost(inv.instanceId, now))
          finish(inv, "Failed", "Undeliverable", now);
        else finish(inv, "TimedOut", "DeliveryTimedOut", now);
      }
    }
  };
  const isLost = (instanceId: string, now: number) => {
    const inst = instances.get(instanceId);
    return !inst || pingStatus(inst, now) === "ConnectionLost";
  };
  const notePing = (id: string) => {
    const inst = instances.get(id);
    if (!inst) return;
    inst.lastPingAt = clock();
    if (inst.lastHealthAt === undefined || inst.lastPingAt - inst.lastHealthAt >= AGENT_HEALTH_INTERVAL_MS) {
      inst.lastHealthAt = inst.lastPingAt;
    }
    hooks.onPing?.(id, inst.lastPingAt);
  };

  /**
   * SendCommand's Targets: `tag:<key>` (instances whose tag has one of the values), `tag-key` (instances
   * with the tag), `InstanceIds`. Resolved when the command is sent; all of them must hold.
   */
  const parseTargets = (raw: unknown): { Key: string; Values: string[] }[] => {
    if (raw === undefined) return [];
    if (!Array.isArray(raw) || raw.length === 0 || raw.length > 5)
      throw new AwsJsonError("ValidationException", "Targets must hold 1 to 5 targets");
    return raw.map((t: { Key?: unknown; Values?: unknown }) => {
      const key = requireString(t.Key, "Targets.Key");
      const values = t.Values;
      if (!Array.isArray(values) || values.length === 0 || !values.every((v) => typeof v === "string"))
        throw new AwsJsonError("ValidationException", "Targets.Values must be a list of strings");
      if (!key.startsWith("tag:") && key !== "tag-key" && key !== "InstanceIds")
        throw new AwsJsonError("InvalidTarget", `target key ${key} is not supported locally`);
      return { Key: key, Values: values as string[] };
    });
  };

  const instancesTargeted = (targets: { Key: string; Values: string[] }[]): string[] =>
    [...instances.values()]
      .filter((inst) =>
        targets.every((t) => {
          if (t.Key === "InstanceIds") return t.Values.includes(inst.id);
          if (t.Key === "tag-key") return t.Values.some((k) => inst.tags.has(k));
          const value = inst.tags.get(t.Key.slice("tag:".length));
          return value !== undefined && t.Values.includes(value);
        }),
      )
      .map((inst) => inst.id);

  /** Commands, newest first; by CommandId or InstanceId (ListCommands). */
  const listCommands = (input: Record<string, unknown>) => {
    const max = input.MaxResults === undefined ? 50 : Number(input.MaxResults);
    if (!Number.isInteger(max) || max < 1 || max > 50)
      throw new AwsJsonError("ValidationException", "MaxResults must be between 1 and 50");
    const all = [...commands.values()]
      .filter(
        (c) =>
          (input.CommandId === undefined || c.commandId === input.CommandId) &&
          (input.InstanceId === undefined || c.instanceIds.includes(String(input.InstanceId))),
      )
      .sort((a, b) => b.requestedAt - a.requestedAt);
    const start = typeof input.NextToken === "string" ? Number(input.NextToken) : 0;
    const page = all.slice(start, start + max);
    return {
      Commands: page.map(commandView),
      ...(start + max < all.length ? { NextToken: String(start + max) } : {}),
    };
  };

  const requireString = (v: unknown, field: string): string => {
    if (typeof v !== "string" || v === "")
      throw new AwsJsonError("ValidationException", `${field} is required`);
    return v;
  };

  const sendCommand = (input: Record<string, unknown>) => {
    const documentName = requireString(input.DocumentName, "DocumentName");
    const doc = documents.get(documentName);
    if (!doc) {
      throw new AwsJsonError(
        "InvalidDocument",
        documentName === SHELL_DOCUMENT
          ? `Document ${documentName} is not served here: the stack's roles may not send it (allowShellDocument)`
          : `Document ${documentName} does not exist`,
      );
    }
    const targets = parseTargets(input.Targets);
    const ids = targets.length > 0 ? instancesTargeted(targets) : input.InstanceIds;
    if (targets.length > 0 && input.InstanceIds !== undefined) {
      throw new AwsJsonError("InvalidParameters", "give InstanceIds or Targets, not both");
    }
    if (
      !Array.isArray(ids) ||
      (targets.length === 0 && ids.length === 0) ||
      !ids.every((i) => typeof i === "string")
    ) {
      throw new AwsJsonError("InvalidInstanceId", "InstanceIds or Targets is required");
    }
    const unknown = (ids as string[]).filter((i) => !instances.has(i));
    if (unknown.length > 0)
      throw new AwsJsonError("InvalidInstanceId", `Instances [${unknown.join(", ")}] not in a valid state`);
    // SSM checks every parameter against the document before anything is queued: a refusal runs nothing.
    const resolved = resolveCommand(doc, (input.Parameters ?? {}) as Record<string, unknown>);
    // SSM's 64 KB counts the document's content and the values given at run time together.
    if (
      Buffer.byteLength(doc.content) + Buffer.byteLength(JSON.stringify(resolved.parameters)) >
      MAX_DOCUMENT_BYTES
    ) {
      throw new AwsJsonError("MaxDocumentSizeExceeded", "The size limit of a document is 64 KB.");
    }
    const execSecs = resolved.executionTimeoutSeconds;
    const timeoutSeconds = input.TimeoutSeconds === undefined ? 3600 : Number(input.TimeoutSeconds);
    if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 30 || timeoutSeconds > 2_592_000) {
      throw new AwsJsonError("ValidationException", "TimeoutSeconds must be between 30 and 2592000");
    }
    const now = clock();
    const cmd: Command = {
      commandId: randomUUID(),
      documentName,
      comment: typeof input.Comment === "string" ? input.Comment : "",
      parameters: resolved.parameters,
      script: resolved.script,
      environment: resolved.environment,
      instanceIds: [...new Set(ids as string[])],
      targets,
      requestedAt: now,
      executionTimeoutSeconds: execSecs,
      timeoutSeconds,
      expiresAt: now + (timeoutSeconds + execSecs) * 1000,
      invocations: new Map(),
    };
    for (const id of cmd.instanceIds) {
      const inv: Invocation = {
        commandId: cmd.commandId,
        instanceId: id,
        status: "Pending",
        statusDetails: "Pending",
        responseCode: -1,
        stdout: "",
        stderr: "",
        visibleAt: now + visibilityDelay,
      };
      if (deliveryDelay > 0) inv.deliverableAt = now + deliveryDelay;
      cmd.invocations.set(id, inv);
      const q = queues.get(id) ?? [];
      q.push(inv);
      queues.set(id, q);
    }
    commands.set(cmd.commandId, cmd);
    hooks.onWork?.(cmd.instanceIds, deliveryDelay);
    const notice: SsmCommandNotice = {
      commandId: cmd.commandId,
      instanceIds: [...cmd.instanceIds],
      comment: cmd.comment,
      documentName,
      parameters: cmd.parameters,
      script: cmd.script,
      requestedAt: cmd.requestedAt,
    };
    for (const listener of commandListeners) {
      try {
        listener(notice);
      } catch {
        // a listener's failure must not fail the command
      }
    }
    return { Command: commandView(cmd) };
  };

  const commandView = (cmd: Command) => {
    const invs = [...cmd.invocations.values()];
    const done = invs.filter((i) => TERMINAL.has(i.status));
    const errors = done.filter((i) => i.status !== "Success");
    const status =
      invs.length === done.length
        ? errors.length === 0
          ? "Success"
          : (invs[0]?.status ?? "Failed")
        : "Pending";
    return {
      CommandId: cmd.commandId,
      DocumentName: cmd.documentName,
      DocumentVersion: "$DEFAULT",
      Comment: cmd.comment,
      ExpiresAfter: epochSeconds(cmd.expiresAt),
      Parameters: cmd.parameters,
      InstanceIds: cmd.targets.length > 0 ? [] : cmd.instanceIds,
      Targets: cmd.targets,
      RequestedDateTime: epochSeconds(cmd.requestedAt),
      Status: status,
      StatusDetails: status,
      MaxConcurrency: "50",
      MaxErrors: "0",
      TargetCount: invs.length,
      CompletedCount: done.length,
      ErrorCount: errors.length,
      DeliveryTimedOutCount: invs.filter((i) => i.statusDetails === "DeliveryTimedOut").length,
      TimeoutSeconds: cmd.timeoutSeconds,
    };
  };

  const visibleInvocation = (commandId: string, instanceId: string): [Command, Invocation] => {
    const cmd = commands.get(commandId);
    const inv = cmd?.invocations.get(instanceId);
    if (!cmd || !inv || clock() < inv.visibleAt) {
      throw new AwsJsonError(
        "InvocationDoesNotExist",
        `Invocation of command ${commandId} on ${instanceId} does not exist`,
      );
    }
    return [cmd, inv];
  };

  const getCommandInvocation = (input: Record<string, unknown>) => {
    const commandId = requireString(input.CommandId, "CommandId");
    const instanceId = requireString(input.InstanceId, "InstanceId");
    const [cmd, inv] = visibleInvocation(commandId, instanceId);
    const elapsed =
      inv.startedAt !== undefined ? Math.max(0, (inv.endedAt ?? clock()) - inv.startedAt) / 1000 : undefined;
    return {
      CommandId: cmd.commandId,
      InstanceId: inv.instanceId,
      Comment: cmd.comment,
      DocumentName: cmd.documentName,
      DocumentVersion: "$DEFAULT",
      PluginName: "aws:runShellScript",
      ResponseCode: inv.responseCode,
      ExecutionStartDateTime: iso(inv.startedAt),
      ExecutionElapsedTime: elapsed === undefined ? "" : `PT${elapsed.toFixed(3)}S`,
      ExecutionEndDateTime: inv.startedAt !== undefined ? iso(inv.endedAt) : "",
      Status: inv.status,
      StatusDetails: inv.statusDetails,
      StandardOutputContent: inv.stdout,
      StandardOutputUrl: "",
      StandardErrorContent: inv.stderr,
      StandardErrorUrl: "",
      CloudWatchOutputConfig: { CloudWatchLogGroupName: "", CloudWatchOutputEnabled: false },
    };
  };

  const paginate = <T>(items: T[], input: Record<string, unknown>, defaultMax: number) => {
    const max = typeof input.MaxResults === "number" && input.MaxResults > 0 ? input.MaxResults : defaultMax;
    const start =
      typeof input.NextToken === "string" && /^\d+$/.test(input.NextToken) ? Number(input.NextToken) : 0;
    const page = items.slice(start, start + max);
    const next = start + max < items.length ? String(start + max) : undefined;
    return { page, next };
  };

  const listCommandInvocations = (input: Record<string, unknown>) => {
    const commandId = typeof input.CommandId === "string" ? input.CommandId : undefined;
    const instanceId = typeof input.InstanceId === "string" ? input.InstanceId : undefined;
    const now = clock();
    const rows: Record<string, unknown>[] = [];
    const sorted = [...commands.values()].sort((a, b) => b.requestedAt - a.requestedAt);
    for (const cmd of sorted) {
      if (commandId && cmd.commandId !== commandId) continue;
      for (const inv of cmd.invocations.values()) {
        if (instanceId && inv.instanceId !== instanceId) continue;
        if (now < inv.visibleAt) continue;
        const row: Record<string, unknown> = {
          CommandId: cmd.commandId,
          InstanceId: inv.instanceId,
          InstanceName: instances.get(inv.instanceId)?.computerName ?? "",
          Comment: cmd.comment,
          DocumentName: cmd.documentName,
          DocumentVersion: "$DEFAULT",
          RequestedDateTime: epochSeconds(cmd.requestedAt),
          Status: inv.status,
          StatusDetails: inv.statusDetails,
          StandardOutputUrl: "",
          StandardErrorUrl: "",
        };
        if (input.Details === true) {
          row.CommandPlugins = [
            {
              Name: "aws:runShellScript",
              Status: inv.status,
              StatusDetails: inv.statusDetails,
              ResponseCode: inv.responseCode,
              ...(inv.startedAt !== undefined ? { ResponseStartDateTime: epochSeconds(inv.startedAt) } : {}),
              ...(inv.endedAt !== undefined ? { ResponseFinishDateTime: epochSeconds(inv.endedAt) } : {}),
              // ListCommandInvocations shows only the first 2,500 characters of output.
              Output: (inv.stdout + (inv.stderr ? `\n----------ERROR-------\n${inv.stderr}` : "")).slice(
                0,
                2500,
              ),
            },
          ];
        }
        rows.push(row);
      }
    }
    const { page, next } = paginate(rows, input, 50);
    return { CommandInvocations: page, ...(next ? { NextToken: next } : {}) };
  };

  const cancelCommand = (input: Record<string, unknown>) => {
    const commandId = requireString(input.CommandId, "CommandId");
    const cmd = commands.get(commandId);
    if (!cmd) throw new AwsJsonError("InvalidCommandId", `Command ${commandId} does not exist`);
    const only =
      Array.isArray(input.InstanceIds) && input.InstanceIds.length > 0 ? new Set(input.InstanceIds) : null;
    const now = clock();
    for (const inv of cmd.invocations.values()) {
      if (only && !only.has(inv.instanceId)) continue;
      if (inv.reported) continue; // the agent already reported: the result stands
      if (inv.status === "Pending") finish(inv, "Cancelled", "Canceled", now);
      else if (inv.status === "InProgress") {
        inv.status = "Cancelling";
        inv.statusDetails = "Cancelling";
        hooks.onWork?.([inv.instanceId], 0);
      }
    }
    return {};
  };

  const describeInstanceInformation = (input: Record<string, unknown>) => {
    let wanted: Set<string> | null = null;
    let pingFilter: Set<string> | null = null;
    const addIds = (vals: unknown) => {
      if (!Array.isArray(vals)) return;
      wanted ??= new Set();
      for (const v of vals) if (typeof v === "string") wanted.add(v);
    };
    for (const f of (input.InstanceInformationFilterList ?? []) as { key?: string; valueSet?: unknown }[]) {
      if (f.key === "InstanceIds") addIds(f.valueSet);
      else if (f.key === "PingStatus" && Array.isArray(f.valueSet))
        pingFilter = new Set(f.valueSet as string[]);
    }
    // Tag filters (Filters only, as in SSM): `tag:KEY` = one of Values; `tag-key` = has one of these keys.
    const tagFilters: ((i: ManagedInstance) => boolean)[] = [];
    for (const f of (input.Filters ?? []) as { Key?: string; Values?: unknown }[]) {
      const values = Array.isArray(f.Values) ? (f.Values as string[]) : [];
      if (f.Key === "InstanceIds") addIds(f.Values);
      else if (f.Key === "PingStatus" && Array.isArray(f.Values)) pingFilter = new Set(f.Values as string[]);
      else if (f.Key === "tag-key") tagFilters.push((i) => values.some((k) => i.tags.has(k)));
      else if (f.Key?.startsWith("tag:") && f.Key.length > 4) {
        const key = f.Key.slice(4);
        tagFilters.push((i) => i.tags.has(key) && values.includes(i.tags.get(key) as string));
      } else if (f.Key !== undefined) {
        throw new AwsJsonError(
          "InvalidInstanceInformationFilterValue",
          `filter key ${f.Key} is not supported locally`,
        );
      }
    }
    const now = clock();
    const list = [...instances.values()]
      .filter((i) => !wanted || (wanted as Set<string>).has(i.id))
      .filter((i) => tagFilters.every((matches) => matches(i)))
      .map((i) => ({
        InstanceId: i.id,
        PingStatus: pingStatus(i, now),
        LastPingDateTime: epochSeconds(i.lastHealthAt ?? i.registeredAt),
        AgentVersion: "3.3.0-lazarus-local",
        IsLatestVersion: true,
        PlatformType: "Linux",
        PlatformName: "Debian GNU/Linux",
        PlatformVersion: "12",
        ResourceType: "ManagedInstance",
        Name: i.computerName,
        ComputerName: i.computerName,
        IPAddress: "127.0.0.1",
        RegistrationDate: epochSeconds(i.registeredAt),
      }))
      .filter((i) => !pingFilter || (pingFilter as Set<string>).has(i.PingStatus));
    const { page, next } = paginate(list, input, 50);
    return { InstanceInformationList: page, ...(next ? { NextToken: next } : {}) };
  };

  /** Tags of managed instances (ResourceType ManagedInstance, as for hybrid nodes). */
  const taggedInstance = (input: Record<string, unknown>): ManagedInstance => {
    if (input.ResourceType !== "ManagedInstance") {
      throw new AwsJsonError(
        "InvalidResourceType",
        `ResourceType ${String(input.ResourceType)} is not supported locally`,
      );
    }
    const id = requireString(input.ResourceId, "ResourceId");
    const inst = instances.get(id);
    if (!inst) throw new AwsJsonError("InvalidResourceId", `resource ${id} does not exist`);
    return inst;
  };
  const listTagsForResource = (input: Record<string, unknown>) => ({
    TagList: [...taggedInstance(input).tags].map(([Key, Value]) => ({ Key, Value })),
  });
  const addTagsToResource = (input: Record<string, unknown>) => {
    const inst = taggedInstance(input);
    for (const t of (input.Tags ?? []) as { Key?: string; Value?: string }[]) {
      inst.tags.set(requireString(t.Key, "Tags.Key"), t.Value ?? "");
    }
    return {};
  };
  const removeTagsFromResource = (input: Record<string, unknown>) => {
    const inst = taggedInstance(input);
    for (const k of (input.TagKeys ?? []) as string[]) inst.tags.delete(k);
    return {};
  };

  const createDocument = (input: Record<string, unknown>) => {
    const name = requireString(input.Name, "Name");
    const content = requireString(input.Content, "Content");
    if (!/^[a-zA-Z0-9_.-]{3,128}$/.test(name) || /^(aws|amazon|amzn)/i.test(name)) {
      throw new AwsJsonError("ValidationException", `document name ${name} is not allowed`);
    }
    if ((input.DocumentType ?? "Command") !== "Command") {
      throw new AwsJsonError("InvalidDocumentContent", "only Command documents are supported locally");
    }
    if ((input.DocumentFormat ?? "JSON") !== "JSON") {
      throw new AwsJsonError("InvalidDocumentContent", "only JSON documents are supported locally");
    }
    if (Buffer.byteLength(content) > MAX_DOCUMENT_BYTES) {
      throw new AwsJsonError("MaxDocumentSizeExceeded", "The size limit of a document is 64 KB.");
    }
    if (documents.has(name)) throw new AwsJsonError("DocumentAlreadyExists", `document ${name} exists`);
    const doc = { ...parseCommandDocument(name, content), createdAt: clock(), content };
    documents.set(name, doc);
    return { DocumentDescription: documentView(doc) };
  };
  const documentView = (doc: CommandDocument & { createdAt: number }) => ({
    Name: doc.name,
    DocumentType: "Command",
    DocumentFormat: "JSON",
    SchemaVersion: "2.2",
    Status: "Active",
    DocumentVersion: "1",
    LatestVersion: "1",
    DefaultVersion: "1",
    CreatedDate: epochSeconds(doc.createdAt),
    PlatformTypes: ["Linux"],
    Parameters: Object.entries(doc.parameters).map(([Name, p]) => ({
      Name,
      Type: p.type,
      ...(p.default !== undefined ? { DefaultValue: String(p.default) } : {}),
    })),
  });
  const describeDocument = (input: Record<string, unknown>) => {
    const name = requireString(input.Name, "Name");
    const doc = documents.get(name);
    if (!doc) throw new AwsJsonError("InvalidDocument", `Document ${name} does not exist`);
    return { Document: documentView(doc) };
  };
  const getDocument = (input: Record<string, unknown>) => {
    const name = requireString(input.Name, "Name");
    const doc = documents.get(name);
    if (!doc) throw new AwsJsonError("InvalidDocument", `Document ${name} does not exist`);
    return {
      Name: name,
      Content: doc.content,
      DocumentType: "Command",
      DocumentFormat: "JSON",
      Status: "Active",
    };
  };

  const ops: Record<string, AwsJsonOperation> = {
    CreateDocument: createDocument,
    DescribeDocument: describeDocument,
    GetDocument: getDocument,
    ListTagsForResource: listTagsForResource,
    AddTagsToResource: addTagsToResource,
    RemoveTagsFromResource: removeTagsFromResource,
    SendCommand: sendCommand,
    ListCommands: listCommands,
    GetCommandInvocation: getCommandInvocation,
    ListCommandInvocations: listCommandInvocations,
    CancelCommand: cancelCommand,
    DescribeInstanceInformation: describeInstanceInformation,
  };

  /** Commands to start and cancels to apply for one instance; marks delivered commands InProgress. */
  const takeWork = (instanceId: string) => {
    const now = clock();
    const q = queues.get(instanceId) ?? [];
    const deliver: AgentCommand[] = [];
    for (const inv of [...q]) {
      if (inv.status !== "Pending" || !deliverable(inv, now)) continue;
      const cmd = commands.get(inv.commandId) as Command;
      inv.status = "InProgress";
      inv.statusDetails = "InProgress";
      inv.startedAt = now;
      q.splice(q.indexOf(inv), 1);
      deliver.push({
        commandId: cmd.commandId,
        script: cmd.script,
        environment: cmd.environment,
        executionTimeoutSeconds: cmd.executionTimeoutSeconds,
      });
    }
    const cancel: string[] = [];
    for (const cmd of commands.values()) {
      const inv = cmd.invocations.get(instanceId);
      if (inv?.status === "Cancelling" && !inv.cancelDelivered) {
        inv.cancelDelivered = true;
        cancel.push(cmd.commandId);
      }
    }
    return { commands: deliver, cancel };
  };

  const agentResult = (body: Record<string, unknown>) => {
    const instanceId = requireString(body.instanceId, "instanceId");
    const commandId = requireString(body.commandId, "commandId");
    notePing(instanceId);
    const inv = commands.get(commandId)?.invocations.get(instanceId);
    if (!inv)
      throw new AwsJsonError("InvocationDoesNotExist", `no invocation ${commandId} on ${instanceId}`, 404);
    if (TERMINAL.has(inv.status) || inv.reported) return { accepted: false, status: inv.status };
    const code = typeof body.exitCode === "number" && Number.isInteger(body.exitCode) ? body.exitCode : -1;
    inv.responseCode = code;
    inv.stdout = String(body.stdout ?? "").slice(0, STDOUT_LIMIT);
    inv.stderr = String(body.stderr ?? "").slice(0, STDERR_LIMIT);
    const [status, details]: [InvStatus, string] =
      inv.status === "Cancelling" || body.cancelled === true
        ? ["Cancelled", "Canceled"]
        : body.timedOut === true
          ? ["TimedOut", "ExecutionTimedOut"]
          : code === 0
            ? ["Success", "Success"]
            : ["Failed", "Failed"];
    if (statusDelay > 0) {
      const at = clock();
      inv.reported = { status, details, at, visibleAt: at + statusDelay };
      reportedPending.add(inv);
      return { accepted: true, status };
    }
    finish(inv, status, details);
    return { accepted: true, status: inv.status };
  };

  return {
    operations: ops,
    settleReported: () => settleReported(),
    sweep,
    isRegistered: (instanceId) => instances.has(instanceId),
    registerInstance(instanceId, computerName, tags) {
      if (!/^(mi-[0-9a-f]{17}|i-[0-9a-f]{8,17})$/.test(instanceId)) {
        throw new Error(`not a managed-instance id: ${instanceId}`);
      }
      const existing = instances.get(instanceId);
      if (existing) {
        existing.computerName = computerName;
        if (tags) existing.tags = new Map(Object.entries(tags));
      } else {
        instances.set(instanceId, {
          id: instanceId,
          computerName,
          tags: new Map(Object.entries(tags ?? {})),
          registeredAt: clock(),
        });
      }
    },
    deregisterInstance(instanceId) {
      instances.delete(instanceId);
      for (const inv of [...(queues.get(instanceId) ?? [])]) finish(inv, "Failed", "Undeliverable");
      queues.delete(instanceId);
      hooks.onWork?.([instanceId], 0);
    },
    tags: (instanceId) => Object.fromEntries(instances.get(instanceId)?.tags ?? []),
    pingStatus(instanceId) {
      const inst = instances.get(instanceId);
      return inst ? pingStatus(inst) : undefined;
    },
    lastPingAt: (instanceId) => instances.get(instanceId)?.lastPingAt,
    notePing,
    hasWork(instanceId) {
      return (
        (queues.get(instanceId) ?? []).some((i) => i.status === "Pending" && deliverable(i)) ||
        [...commands.values()].some((c) => {
          const inv = c.invocations.get(instanceId);
          return inv?.status === "Cancelling" && !inv.cancelDelivered;
        })
      );
    },
    takeWork,
    agentResult,
    setLatency(latency) {
      deliveryDelay = Math.max(0, latency.deliveryDelayMs ?? 0);
      statusDelay = Math.max(0, latency.statusDelayMs ?? 0);
    },
    onCommand(listener) {
      commandListeners.add(listener);
      return () => commandListeners.delete(listener);
    },
  };
}
