/**
 * A local SSM Run Command endpoint: the AWS JSON 1.1 protocol that `@aws-sdk/client-ssm` uses
 * (`X-Amz-Target: AmazonSSM.<Op>`, through local/http/aws-json.ts), plus a small agent protocol on the
 * same server (`POST /agent/poll`, a long poll, and `POST /agent/result`) that `local/ssm/agent.ts` speaks.
 * Signatures are not checked. Binds to 127.0.0.1 only.
 *
 * This file is the HTTP layer only: what SSM knows and how it behaves (instances, ping status, commands,
 * invocations, timeouts) is ssm-state.ts. Here: the long polls, the timers, the server.
 */
import { createServer, type ServerResponse } from "node:http";
import { AwsJsonError, type AwsJsonOperation, awsJsonHandler, sendJson } from "../http/aws-json.js";
import { closeServer, listenOnLoopback } from "../http/loopback.js";
import {
  type AgentWork,
  createSsmState,
  type PingStatus,
  type SsmCommandNotice,
  type SsmStateOptions,
} from "./ssm-state.js";

export type { PingStatus, SsmCommandNotice } from "./ssm-state.js";

/** One command as an agent runs it (what a poll hands it). */
export type AgentCommand = AgentWork["commands"][number];

/** What an agent reports when a command ended (the agent protocol's `/agent/result`). */
export interface AgentReport {
  exitCode: number;
  stdout: string;
  stderr: string;
  timedOut?: boolean;
  cancelled?: boolean;
}

/**
 * An agent in this process (a simulated host's): it gets its commands as the polling agent takes them
 * (after the same delivery delay) and reports as it reports, without HTTP.
 */
export interface InProcessAgent {
  run(command: AgentCommand, report: (r: AgentReport) => void): void;
  cancel(commandId: string): void;
}

export interface SsmEndpointOptions extends SsmStateOptions {
  /**
   * SSM's clock, epoch ms (default Date.now): PingStatus and every command's expiry are read on it. A unit
   * test moves it to reach a ConnectionLost agent or an expired command at once, as SSM would after that long.
   */
  now?: () => number;
  /** 0 (default) = any free port. */
  port?: number;
  /** How long `/agent/poll` holds a request open when there is nothing to deliver. */
  agentPollWaitMs?: number;
  /** Sweeper period (timeouts are enforced with this granularity). */
  sweepIntervalMs?: number;
  /** More SSM operations served beside Run Command (the parameter store: local/secrets/secrets-endpoint.ts). */
  moreOperations?: Readonly<Record<string, AwsJsonOperation>>;
}

export interface SsmEndpoint {
  /** Base URL, e.g. http://127.0.0.1:PORT (AWS_ENDPOINT_URL_SSM). */
  url: string;
  port: number;
  /** Registers (or renames) a managed instance; `tags` replace its tags when given. */
  registerInstance(instanceId: string, computerName: string, tags?: Record<string, string>): void;
  /** The instance's tags (AddTagsToResource / RemoveTagsFromResource change them too). */
  tags(instanceId: string): Record<string, string>;
  deregisterInstance(instanceId: string): void;
  pingStatus(instanceId: string): PingStatus | undefined;
  /** Epoch ms of the agent's last poll, or undefined if it never polled. */
  lastPingAt(instanceId: string): number | undefined;
  /** Resolves when the agent of `instanceId` has polled at or after `since` (epoch ms). */
  waitForPing(instanceId: string, timeoutMs: number, since?: number): Promise<void>;
  /** How many times each SSM API operation was called (SendCommand, GetCommandInvocation, ...). */
  operationCounts(): Record<string, number>;
  /** Changes SSM's latency (`deliveryDelayMs`, `statusDelayMs` of the options) for commands sent from now on. */
  setLatency(latency: { deliveryDelayMs?: number; statusDelayMs?: number }): void;
  /**
   * Serves `instanceId`'s commands with an agent in this process: it is connected (its health reported as a
   * live agent's) until `detach()` (power lost: its commands wait undelivered, then time out, as for a dead
   * agent).
   */
  attachAgent(instanceId: string, agent: InProcessAgent): { detach(): void };
  /** Calls `listener` for every command accepted from now on. Returns an unsubscribe function. */
  onCommand(listener: (notice: SsmCommandNotice) => void): () => void;
  close(): Promise<void>;
}

interface Waiter {
  deliver: () => void;
}

const requireInstanceId = (body: Record<string, unknown>): string => {
  const id = body.instanceId;
  if (typeof id !== "string" || id === "")
    throw new AwsJsonError("ValidationException", "instanceId is required");
  return id;
};

export async function startSsmEndpoint(opts: SsmEndpointOptions = {}): Promise<SsmEndpoint> {
  const pollWait = opts.agentPollWaitMs ?? 1000;
  const opCounts: Record<string, number> = {};
  /** Timers that wake an agent when a delayed command becomes deliverable (cleared on close). */
  const deliveryTimers = new Set<NodeJS.Timeout>();
  /** Long-polling agents per instance. */
  const waiters = new Map<string, Set<Waiter>>();
  const pingWaiters = new Set<{ id: string; since: number; resolve: () => void }>();
  let closed = false;

  /** Agents served in this process, by instance id. */
  const local = new Map<string, InProcessAgent>();
  const deliverLocal = (instanceId: string) => {
    const agent = local.get(instanceId);
    if (!agent || closed || !state.hasWork(instanceId)) return;
    state.notePing(instanceId);
    const work = state.takeWork(instanceId);
    for (const id of work.cancel) agent.cancel(id);
    for (const c of work.commands)
      agent.run(c, (r) => {
        if (closed || local.get(instanceId) !== agent) return;
        try {
          state.agentResult({ instanceId, commandId: c.commandId, ...r });
        } catch {
          // the command is gone (deregistered): nothing to report to
        }
      });
  };
  // A connected agent reports its health as a polling one does (notePing keeps SSM's own cadence).
  const localHealth = setInterval(() => {
    for (const id of local.keys()) state.notePing(id);
  }, 1000);
  localHealth.unref();

  const wake = (instanceId: string) => {
    for (const w of [...(waiters.get(instanceId) ?? [])]) w.deliver();
    deliverLocal(instanceId);
  };

  const state = createSsmState(opts, {
    ...(opts.now ? { now: opts.now } : {}),
    onWork(instanceIds, afterMs) {
      if (afterMs <= 0 || closed) {
        for (const id of instanceIds) wake(id);
        return;
      }
      const timer = setTimeout(() => {
        deliveryTimers.delete(timer);
        for (const id of instanceIds) wake(id);
      }, afterMs);
      deliveryTimers.add(timer);
    },
    onPing(instanceId, at) {
      for (const w of [...pingWaiters]) {
        if (w.id === instanceId && at >= w.since) {
          pingWaiters.delete(w);
          w.resolve();
        }
      }
    },
  });

  // One sweeper enforces every timeout, so close() has a single timer to clear (plus poll waits).
  const sweeper = setInterval(state.sweep, opts.sweepIntervalMs ?? 100);

  /** The agent's long poll: answers at once when there is work, else when work comes or `pollWait` passes. */
  const agentPoll = (body: Record<string, unknown>, res: ServerResponse) => {
    const instanceId = requireInstanceId(body);
    if (!state.isRegistered(instanceId)) {
      throw new AwsJsonError("UnknownInstance", `instance ${instanceId} is not registered`, 404);
    }
    state.notePing(instanceId);
    if (state.hasWork(instanceId) || closed) {
      sendJson(res, 200, state.takeWork(instanceId));
      return;
    }
    const set = waiters.get(instanceId) ?? new Set<Waiter>();
    waiters.set(instanceId, set);
    let done = false;
    const waiter: Waiter = {
      deliver: () => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        set.delete(waiter);
        // Never hand work to a connection that is gone (a killed agent): it stays queued instead.
        if (res.destroyed || res.writableEnded) return;
        state.notePing(instanceId);
        sendJson(res, 200, closed ? { commands: [], cancel: [] } : state.takeWork(instanceId));
      },
    };
    const timer = setTimeout(waiter.deliver, pollWait);
    set.add(waiter);
    res.on("close", () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      set.delete(waiter);
    });
  };

  const server = createServer(
    awsJsonHandler({
      version: "1.1",
      targetPrefix: "AmazonSSM",
      operations: { ...opts.moreOperations, ...state.operations },
      beforeOperation(name) {
        opCounts[name] = (opCounts[name] ?? 0) + 1;
        state.settleReported();
      },
      routes: {
        "/agent/poll": agentPoll,
        "/agent/result": (body, res) => sendJson(res, 200, state.agentResult(body)),
      },
    }),
  );
  // Long polls hold connections; keep-alive sockets must not keep close() waiting.
  server.keepAliveTimeout = 2000;

  const { port } = await listenOnLoopback(server, opts.port);

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    registerInstance: state.registerInstance,
    tags: state.tags,
    deregisterInstance: state.deregisterInstance,
    pingStatus: state.pingStatus,
    lastPingAt: state.lastPingAt,
    waitForPing(instanceId, timeoutMs, since = 0) {
      const last = state.lastPingAt(instanceId);
      if (last !== undefined && last >= since) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const entry = {
          id: instanceId,
          since,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        };
        const timer = setTimeout(() => {
          pingWaiters.delete(entry);
          reject(new Error(`agent of ${instanceId} did not poll within ${timeoutMs} ms`));
        }, timeoutMs);
        pingWaiters.add(entry);
      });
    },
    operationCounts() {
      return { ...opCounts };
    },
    setLatency: state.setLatency,
    attachAgent(instanceId, agent) {
      if (!state.isRegistered(instanceId)) throw new Error(`instance ${instanceId} is not registered`);
      local.set(instanceId, agent);
      state.notePing(instanceId);
      deliverLocal(instanceId);
      return {
        detach: () => {
          if (local.get(instanceId) === agent) local.delete(instanceId);
        },
      };
    },
    onCommand: state.onCommand,
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(sweeper);
      clearInterval(localHealth);
      local.clear();
      for (const timer of deliveryTimers) clearTimeout(timer);
      deliveryTimers.clear();
      for (const id of [...waiters.keys()]) wake(id);
      for (const w of [...pingWaiters]) w.resolve();
      pingWaiters.clear();
      await closeServer(server).catch(() => {
        // already closed: nothing left to stop
      });
    },
  };
}
