/**
 * Fast step tests: the real stores on dynalite, and a HostExecutor / Notifier / ExecutionReader at their
 * interfaces that record every call and fail on command. A step's failure path costs milliseconds here;
 * the flows end to end stay in test/hosts on real libvirt hosts.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll } from "vitest";
import { accepted } from "#functions/conductor/steps/accept.js";
import { type DynamoServer, startDynamoServer } from "#local/dynamo/dynamo-server.js";
import { type DynamoFaultProxy, startDynamoFaultProxy } from "#local/dynamo/fault-proxy.js";
import { HostCommandFailed, HostCommandTimedOut, HostUnreachable } from "#shared/domain/errors.js";
import type { Host, Instance } from "#shared/domain/schemas.js";
import { type FlowState, RebuildRequest } from "#shared/flow/contract.js";
import type { StepDeps } from "#shared/flow/deps.js";
import type { ExecutionLook, ExecutionReader, ExecutionStatus } from "#shared/flow/executions.js";
import type { HostCommand, HostExecutor, HostTarget, RunOptions, RunResult } from "#shared/hosts/executor.js";
import type { Notification, Notifier } from "#shared/notifications/notifier.js";
import { startTestDynamo, type TestDynamo } from "./dynamo.js";
import { makeHost, makeInstance } from "./fixtures.js";

export interface HostCall {
  host: string;
  /** The host document sent, and its parameters. */
  document: string;
  parameters: Readonly<Record<string, string>>;
  comment: string | undefined;
  probe: boolean;
}

/** What a scripted host answers: a result, or one of the executor's errors. */
export type HostAnswer = RunResult | "unreachable" | "timeout" | { fail: string };
export type HostRule = (call: HostCall) => HostAnswer | undefined;

export class ScriptedExecutor implements HostExecutor {
  readonly calls: HostCall[] = [];
  private rules: HostRule[] = [];

  /** Rules are tried newest first; the first that answers wins. Unanswered calls succeed with no output. */
  on(rule: HostRule): void {
    this.rules.unshift(rule);
  }

  reset(): void {
    this.rules = [];
    this.calls.length = 0;
  }

  run(host: HostTarget, command: HostCommand, options?: RunOptions): Promise<RunResult> {
    return this.exec(host, command, options, false);
  }

  probe(host: HostTarget, command: HostCommand, options?: RunOptions): Promise<RunResult> {
    return this.exec(host, command, options, true);
  }

  private async exec(
    host: HostTarget,
    command: HostCommand,
    options: RunOptions | undefined,
    probe: boolean,
  ) {
    const call: HostCall = {
      host: host.name,
      document: command.document,
      parameters: command.parameters,
      comment: options?.comment,
      probe,
    };
    this.calls.push(call);
    let answer: HostAnswer | undefined;
    for (const rule of this.rules) {
      answer = rule(call);
      if (answer !== undefined) break;
    }
    answer ??= { exitCode: 0, stdout: "", stderr: "" };
    if (answer === "unreachable")
      throw new HostUnreachable(`host ${host.name} unreachable (scripted)`, { host: host.name });
    if (answer === "timeout")
      throw new HostCommandTimedOut(`command on ${host.name} timed out (scripted)`, { host: host.name });
    if ("fail" in answer) {
      throw new HostCommandFailed(`command on ${host.name} exited 1: ${answer.fail}`, {
        host: host.name,
        exitCode: 1,
        stderr: answer.fail,
      });
    }
    if (answer.exitCode !== 0 && !probe) {
      throw new HostCommandFailed(`command on ${host.name} exited ${answer.exitCode}`, {
        host: host.name,
        exitCode: answer.exitCode,
        stderr: answer.stderr,
      });
    }
    return answer;
  }
}

export class RecordingNotifier implements Notifier {
  readonly published: Notification[] = [];
  failing = false;
  async publish(n: Notification): Promise<void> {
    if (this.failing) throw new Error("EventBridge refused the entry (scripted)");
    this.published.push(n);
  }
}

export class ScriptedExecutions implements ExecutionReader {
  readonly statuses = new Map<string, ExecutionStatus>();
  /** When an execution stopped (unset: unknown, as for one that has not). */
  readonly stopped = new Map<string, Date>();
  async status(arn: string): Promise<ExecutionLook> {
    return { status: this.statuses.get(arn) ?? "NOT_FOUND", stoppedAt: this.stopped.get(arn) ?? null };
  }
  /**
   * The execution ended in `status`; a stopped (ABORTED) or TIMED_OUT one at `at` (default: long before
   * anything a test does, so that no invocation of it can still run).
   */
  end(arn: string, status: "SUCCEEDED" | "FAILED" | "ABORTED" | "TIMED_OUT", at = new Date(0)): void {
    this.statuses.set(arn, status);
    if (status === "ABORTED" || status === "TIMED_OUT") this.stopped.set(arn, at);
  }
}

/** One isolated world: fresh tables (on the harness's dynalite), a scripted executor, notifier and executions. */
export interface StepWorld {
  db: TestDynamo;
  /** The harness's DynamoDB server (shared by the file's worlds): `onOperation` sees every API call. */
  dynamo: DynamoServer;
  deps: StepDeps;
  executor: ScriptedExecutor;
  notifier: RecordingNotifier;
  executions: ScriptedExecutions;
  /**
   * The world's deps with stores of their own client, through a DynamoDB fault proxy of their own (the same
   * tables) and never retried by the SDK: a fault armed with `proxy.failNext` fails the step at that very
   * request (a "lost-response" there: the write was made and the step died right after it), and
   * `proxy.holdNext` freezes it there. A new proxy each call (one per concurrent caller to steer), closed
   * with the harness; the deps' clock and sleep are the world's as they are when asked.
   */
  faulty(): Promise<{ deps: StepDeps; proxy: DynamoFaultProxy }>;
}

export interface StepHarness {
  world(): Promise<StepWorld>;
  close(): Promise<void>;
}

export async function startStepHarness(): Promise<StepHarness> {
  const server = await startDynamoServer();
  const opened: TestDynamo[] = [];
  const proxies: DynamoFaultProxy[] = [];
  return {
    async world() {
      const db = await startTestDynamo({ prefix: "steps", endpoint: server.endpoint });
      opened.push(db);
      const executor = new ScriptedExecutor();
      const notifier = new RecordingNotifier();
      const executions = new ScriptedExecutions();
      const deps: StepDeps = {
        stores: db.stores,
        executor,
        notifier,
        executions,
        now: () => new Date(),
        sleep: async () => undefined,
        serviceDownSeconds: 60,
        shutdownTimeoutSeconds: 3,
      };
      const throughProxy = async () => {
        const proxy = await startDynamoFaultProxy({ target: server.endpoint });
        proxies.push(proxy);
        const stores = db.storesWith({ endpoint: proxy.endpoint, maxAttempts: 1 });
        return { deps: { ...deps, stores }, proxy };
      };
      return {
        db,
        dynamo: server,
        deps,
        executor,
        notifier,
        executions,
        faulty: throughProxy,
      };
    },
    async close() {
      for (const proxy of proxies) await proxy.close();
      for (const db of opened) await db.close();
      await server.close();
    },
  };
}

/**
 * The harness of one test file: started before its tests, closed after them. Returns the way to a fresh
 * world (its own tables) for each test.
 */
export function useStepHarness(): () => Promise<StepWorld> {
  let harness: StepHarness | undefined;
  beforeAll(async () => {
    harness = await startStepHarness();
  });
  afterAll(() => harness?.close());
  return () => {
    if (!harness) throw new Error("useStepHarness: the harness starts in beforeAll; call world() in a test");
    return harness.world();
  };
}

/** A machine's (`lazarus-<machine>`) execution ARN for a request, as Step Functions names it (name = request id). */
export function executionArn(machine: string, requestId: string): string {
  return `arn:aws:states:us-east-1:000000000000:execution:lazarus-${machine}:${requestId}`;
}

/** The rebuild machine's execution ARN for a request. */
export function rebuildExecutionArn(requestId: string): string {
  return executionArn("rebuild", requestId);
}

/**
 * A fleet in the store: hosts with fresh heartbeats unless said otherwise; names unique per call. A host
 * `down` is a dead host as host-evacuation leaves it: status down, forced down with its proof of death
 * (power), so its instances may be evacuated.
 */
export async function seedHosts(
  h: StepWorld,
  specs: { name: string; down?: boolean; pool?: string | null; overrides?: Partial<Host> }[],
): Promise<Record<string, Host>> {
  const out: Record<string, Host> = {};
  for (const s of specs) {
    const host = makeHost({
      name: s.name,
      lastHeartbeatAt: new Date().toISOString(),
      forcedDown: s.down === true,
      deathProof: s.down
        ? { kind: "power", at: new Date().toISOString(), incidentId: null, detail: "fenced off (test)" }
        : null,
      status: s.down ? "down" : "up",
      storage: {
        instancesPath: s.pool === null ? `/srv/${s.name}/instances` : "/srv/pool/instances",
        sharedPoolId: s.pool === undefined ? "pool-1" : s.pool,
        imageCachePath: `/srv/${s.name}/images`,
        volumesPath: "/srv/volumes",
      },
      ...s.overrides,
    });
    out[s.name] = await h.db.stores.hosts.put(host);
  }
  return out;
}

/** Every claim of instance `uuid` in the fleet: where, and whose. */
export async function claimsOf(w: StepWorld, uuid: string): Promise<{ host: string; owner: string }[]> {
  const hosts = await w.db.stores.hosts.list();
  return hosts.filter((h) => h.claims[uuid]).map((h) => ({ host: h.name, owner: h.claims[uuid]!.owner }));
}

/** A claim for the instance's flavor (and its server group) on `host`, held by `owner`. */
export async function claimFor(h: StepWorld, host: string, instance: Instance, owner: string): Promise<void> {
  await h.db.stores.hosts.claim(host, {
    instanceUuid: instance.uuid,
    resources: instance.flavor,
    owner,
    serverGroup: instance.serverGroup,
  });
}

/** An instance placed on `host` (its claim made, as boot does). */
export async function seedInstance(h: StepWorld, host: string, overrides: Partial<Instance> = {}) {
  const instance = makeInstance({ host, node: host, ...overrides });
  await claimFor(h, host, instance, `boot-${instance.uuid}`);
  return h.db.stores.instances.create(instance);
}

/** What a machine's Catch records of a step's error (`$.failure.<step>`): its name, and its cause as JSON. */
export function caughtAs(e: unknown): { Error: string; Cause: string } {
  const err = e as Error;
  return { Error: err.name, Cause: JSON.stringify({ errorType: err.name, errorMessage: err.message }) };
}

/** A FlowState as Accept would hand it on, for a step test that starts later in the flow. */
export function acceptedFlow(instance: Instance, over: Partial<FlowState> = {}): FlowState {
  const requestId = over.requestId ?? randomUUID();
  const request = RebuildRequest.parse({ requestId, instanceUuid: instance.uuid, recreate: true });
  return { ...accepted(request, instance, rebuildExecutionArn(requestId)), ...over };
}

/** A rule answering target probes (the probe-target document) on `host` with the given facts. */
export function probeFacts(
  host: string,
  facts: Partial<Record<"domain" | "disk" | "image", "present" | "absent">>,
): HostRule {
  const asked = { domain: "domainUuid", disk: "disk", image: "image" } as const;
  return (call) => {
    if (call.host !== host || call.document !== "probe-target") return undefined;
    const lines = (["domain", "disk", "image"] as const)
      .filter((k) => call.parameters[asked[k]])
      .map((k) => `${k}=${facts[k] ?? "absent"}`);
    return { exitCode: 0, stdout: `${lines.join("\n")}\n`, stderr: "" };
  };
}
