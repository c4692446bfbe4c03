/**
 * The chaos run: a local cloud with automatic host-failure handling and a fault-injecting proxy in front of
 * DynamoDB, then seeded rounds of random trouble. Each round picks a disruption and a few overlays:
 *
 *  disruptions  host-kill        a host with instances loses power; its alarm evacuates it. Sometimes the
 *                                alarm event is delivered again (duplicates), a second host dies or the first
 *                                returns while the evacuation runs.
 *               heartbeat-stop   the host's heartbeat publisher is stopped (its pid) past the alarm and the
 *                                grace period while the host and its guests run: the lease is not renewed,
 *                                the SSM probe answers, nothing may move.
 *               agent-stop       the host's SSM agent is stopped (its pid) while the guests and the heartbeat
 *                                run; rebuilds of its instances are requested meanwhile.
 *               requests         concurrent rebuild/evacuate requests (API and direct executions) on the same
 *                                instances.
 *  overlays     ssm-faults       `virsh`/`qemu-img` on some hosts fail or hang after doing their work.
 *               dynamo-faults    throttling, 5xx and lost answers from DynamoDB (the proxy's rates).
 *               lambda-crash     step Lambdas crash after their work (`Lambda.Unknown`), so Retry runs them again.
 *               requests         concurrent requests, as above, on top of another disruption.
 *
 * After each round every fault is cleared, dead hosts come back, the system is let settle (every execution
 * ended, the sweeper run, hosts the incidents disabled enabled again by the "operator") and the invariants
 * of local/invariants.ts are checked. A sampler meanwhile watches every up hypervisor for a guest running
 * on two hosts at the same moment. The same seed replays the same decisions (timings still vary).
 */

import { randomUUID } from "node:crypto";
import { EventBridgeClient, PutEventsCommand } from "@aws-sdk/client-eventbridge";
import { SFNClient, StartExecutionCommand } from "@aws-sdk/client-sfn";
import { ALL_FUNCTIONS } from "#shared/definitions/functions.js";
import { heartbeatAlarmName } from "#shared/definitions/heartbeat.js";
import type { Instance } from "#shared/domain/schemas.js";
import { SsmHostExecutor } from "#shared/hosts/ssm-executor.js";
import { type LocalCloud, startLocalCloud } from "../cloud.js";
import { DYNAMO_FAULT_KINDS, type DynamoFaultRates } from "../dynamo/fault-proxy.js";
import { bootByAdoption } from "../fleet-domains.js";
import type { LocalHost, LocalHostSpec } from "../hosts/local-host.js";
import { checkInvariants, violationKind } from "../invariants.js";
import { type SeededRandom, seededRandom } from "../seeded-random.js";

/**
 * The disruptions drawn by default: the failures the flows as built must survive. `lease-lost`: agent AND
 * heartbeat stop while the guests keep running (a management-network partition); the host's lease is no
 * longer renewed. Before fencing (issue 16) the host-failure flow took the failed probe as proof of death
 * and evacuated running guests (double runs); now host-evacuation powers the host off (the local cloud's
 * hosts have the power fence, LOCAL_FENCING: their IPMI BMCs) before it starts anything elsewhere.
 */
export const DISRUPTIONS = ["host-kill", "heartbeat-stop", "agent-stop", "requests", "lease-lost"] as const;
export type Disruption = (typeof DISRUPTIONS)[number];

export interface ChaosOptions {
  seed: number;
  rounds: number;
  /** Hosts in the cloud (default 4, at least 3), all in one shared pool. */
  hosts?: number;
  /** Instances booted at the start (default 6). */
  instances?: number;
  /** Restrict the disruptions drawn (default all). */
  disruptions?: readonly Disruption[];
  /** Round i runs schedule[i - 1] instead of a drawn disruption (a short CI run covering each kind). */
  schedule?: readonly Disruption[];
  /** Every overlay in every round instead of drawn ones (the overlays' details stay seeded). */
  allOverlays?: boolean;
  /** Longest a round may wait for the system to settle (default 240 s). */
  settleTimeoutMs?: number;
  /** Live progress, one line per event. */
  log?: (line: string) => void;
}

export interface ChaosSummary {
  seed: number;
  rounds: number;
  /** Faults injected, by kind. */
  faults: Record<string, number>;
  /** Operations the run performed (requests, executions, kills...), by kind. */
  operations: Record<string, number>;
  /** Invariant violations found after the rounds (must be 0). */
  violations: number;
  lostInstances: number;
  /** Instances seen running on two hosts at once, or defined on a host their record does not name. */
  doubleRuns: number;
  /** Every violation, `round N: <kind>: <what>`. */
  violationList: string[];
  /** Executions by machine and final status. */
  executions: Record<string, Record<string, number>>;
  /** Instances in ERROR at the end (allowed: each carries its fault). */
  instancesInError: number;
  durationSeconds: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const IMAGES = ["cirros-0.6", "ubuntu-24.04"];
/** Host commands a fault can hit, with the modes that make sense for each. */
const COMMAND_FAULTS: { command: "virsh" | "qemu-img"; arg: string; modes: ("fail" | "hang-after")[] }[] = [
  { command: "virsh", arg: "start", modes: ["fail", "hang-after"] },
  { command: "virsh", arg: "define", modes: ["fail", "hang-after"] },
  { command: "virsh", arg: "destroy", modes: ["fail"] },
  { command: "virsh", arg: "undefine", modes: ["fail"] },
  { command: "virsh", arg: "domstate", modes: ["fail"] },
  { command: "qemu-img", arg: "create", modes: ["fail"] },
];
/** The Lambdas a crash hook may hit: the machines' steps (the API and the trigger answer their caller directly). */
const STEP_FUNCTIONS = new Set(ALL_FUNCTIONS.filter((f) => f.role === "step").map((f) => `lazarus-${f.id}`));

export async function runChaos(opts: ChaosOptions): Promise<ChaosSummary> {
  const started = Date.now();
  const log = opts.log ?? (() => {});
  const rnd = seededRandom(opts.seed);
  const hostCount = Math.max(3, opts.hosts ?? 4);
  const specs: LocalHostSpec[] = Array.from({ length: hostCount }, (_, i) => ({
    name: `host-${i + 1}`,
    sharedPoolId: "p1",
  }));
  const faults: Record<string, number> = {};
  const operations: Record<string, number> = {};
  const count = (bag: Record<string, number>, key: string, n = 1) => {
    bag[key] = (bag[key] ?? 0) + n;
  };
  const violationList: string[] = [];
  const doubleSeen = new Set<string>();

  log(`seed ${opts.seed}: ${opts.rounds} rounds on ${hostCount} hosts`);
  const cloud = await startLocalCloud({
    hosts: specs,
    retryIntervalScale: 0.05,
    hostCommandDeadlineMs: 10_000,
    serviceDownSeconds: 10,
    dynamoFaults: { seed: opts.seed },
    hostFailure: {
      alarmPeriodSeconds: 2,
      alarmEvaluationPeriods: 2,
      graceSeconds: 4,
      probeDeadlineMs: 6_000,
      maxConcurrency: 2,
      recoveryPollSeconds: 1,
    },
  });
  const sfn = new SFNClient({});
  const eventBridge = new EventBridgeClient({});
  const sampler = startDoubleRunSampler(cloud, (uuid, hosts) => {
    if (doubleSeen.has(uuid)) return;
    doubleSeen.add(uuid);
    violationList.push(`double: instance ${uuid} running on ${hosts.join(" and ")} at once`);
    log(`  !! ${uuid} runs on ${hosts.join(" and ")} at once`);
  });
  try {
    // Booting is set-up, not chaos: it gets a generous deadline on a loaded machine (the flows keep 10 s).
    const bootExecutor = new SsmHostExecutor({ client: cloud.ssm, defaultDeadlineMs: 90_000 });
    const names = Array.from({ length: opts.instances ?? 6 }, (_, i) => `vm-${i + 1}`);
    // Domains defined with virsh on their hosts and adopted, as a fleet has them. Spread over all but the
    // last host, which stays empty: there is always room to evacuate to.
    await bootByAdoption(
      cloud,
      names.map((name, i) => ({
        name,
        host: specs[i % (hostCount - 1)]!.name,
        nics: i % 3 === 0 ? 1 : 0,
        ...(i % 4 === 1 ? { stopped: true } : {}),
      })),
      { executor: bootExecutor },
    );
    count(operations, "boot", names.length);
    log(`booted ${names.length} instances`);
    const initial = await checkInvariants(cloud.stores, cloud.fleet.hosts, { quiet: true });
    for (const v of initial) violationList.push(`round 0: ${v}`);

    const ctx: RoundContext = { cloud, sfn, eventBridge, rnd, log, faults, operations, count };
    for (let round = 1; round <= opts.rounds; round++) {
      const drawn = rnd.pick(opts.disruptions ?? DISRUPTIONS);
      const disruption = opts.schedule?.[(round - 1) % opts.schedule.length] ?? drawn;
      const all = opts.allOverlays === true;
      const overlays = {
        ssm: rnd.chance(0.5) || all,
        dynamo: rnd.chance(0.6) || all,
        crash: rnd.chance(0.4) || all,
        requests: disruption !== "requests" && (rnd.chance(0.4) || all),
        fence: rnd.chance(0.4) || all,
      };
      log(
        `round ${round}: ${disruption}${Object.entries(overlays)
          .filter(([, on]) => on)
          .map(([k]) => ` +${k}`)
          .join("")}`,
      );
      const killed = new Set<string>();
      let endFenceFault = () => {};
      try {
        if (overlays.fence) endFenceFault = fenceOverlay(ctx);
        if (overlays.dynamo) dynamoOverlay(ctx);
        if (overlays.crash) crashOverlay(ctx);
        if (overlays.ssm) await ssmOverlay(ctx);
        const side = overlays.requests ? concurrentRequests(ctx) : Promise.resolve();
        await DISRUPTION[disruption](ctx, killed);
        await side;
      } finally {
        endFenceFault();
        clearOverlays(cloud);
      }
      await settle(ctx, opts.settleTimeoutMs ?? 240_000);
      const found = await checkInvariants(cloud.stores, cloud.fleet.hosts, {
        quiet: true,
        executions: () => runningExecutions(cloud),
      });
      for (const v of found) violationList.push(`round ${round}: ${v}`);
      log(
        `round ${round}: settled, ${found.length} violation(s)${found.length ? `: ${found.join("; ")}` : ""}`,
      );
    }
    const dynamoStats = cloud.dynamoFaults?.stats();
    if (dynamoStats) count(operations, "dynamo-requests", dynamoStats.requests);
    for (const kind of DYNAMO_FAULT_KINDS) {
      if (dynamoStats?.faults[kind]) count(faults, `dynamo-${kind}`, dynamoStats.faults[kind]);
    }
    const instances = await cloud.stores.instances.list();
    const lostInstances = violationList.filter((v) => violationKind(stripRound(v)) === "lost").length;
    const doubleRuns = violationList.filter((v) => violationKind(stripRound(v)) === "double").length;
    return {
      seed: opts.seed,
      rounds: opts.rounds,
      faults,
      operations,
      violations: violationList.length,
      lostInstances,
      doubleRuns,
      violationList,
      executions: executionCounts(cloud),
      instancesInError: instances.filter((i) => i.vmState === "error").length,
      durationSeconds: Math.round((Date.now() - started) / 1000),
    };
  } finally {
    sampler.stop();
    await sampler.done;
    sfn.destroy();
    eventBridge.destroy();
    await cloud.stop();
  }
}

function stripRound(v: string): string {
  return v.replace(/^round \d+: /, "");
}

interface RoundContext {
  cloud: LocalCloud;
  sfn: SFNClient;
  eventBridge: EventBridgeClient;
  rnd: SeededRandom;
  log: (line: string) => void;
  faults: Record<string, number>;
  operations: Record<string, number>;
  count: (bag: Record<string, number>, key: string, n?: number) => void;
}

const DISRUPTION: Record<Disruption, (ctx: RoundContext, killed: Set<string>) => Promise<void>> = {
  "host-kill": hostKill,
  "heartbeat-stop": heartbeatStop,
  "agent-stop": agentStop,
  requests: concurrentRequests,
  "lease-lost": leaseLost,
};

async function leaseLost(ctx: RoundContext): Promise<void> {
  const { cloud, rnd, log, count } = ctx;
  const candidates = await occupiedHosts(cloud);
  if (candidates.length === 0) return;
  const name = rnd.pick(candidates);
  const host = localHost(cloud, name);
  log(`  ${name} loses its management network: agent and heartbeat stop, its guests keep running`);
  await host.stopHeartbeat();
  await host.stopAgent();
  count(ctx.faults, "lease-lost");
  const arn = cloud.stateMachineArns["host-evacuation"]!;
  const before = evacuationsOf(cloud, arn, name).length;
  try {
    await waitFor(`an evacuation of ${name} to start and end`, 180_000, () => {
      const runs = evacuationsOf(cloud, arn, name);
      return runs.length > before && runs.every((e) => e.status !== "RUNNING") ? true : undefined;
    });
  } catch {
    log(`  no evacuation of ${name} ended in time`);
  } finally {
    await host.startAgent();
    host.startHeartbeat();
  }
}

/** Up, enabled hosts holding at least one instance (the candidates for a disruption). */
async function occupiedHosts(cloud: LocalCloud): Promise<string[]> {
  const instances = await cloud.stores.instances.list();
  const hosts = await cloud.stores.hosts.list();
  return hosts
    .filter((h) => h.enabled && cloud.fleet.hosts.get(h.name)?.running)
    .filter((h) => instances.some((i) => i.host === h.name))
    .map((h) => h.name);
}

function localHost(cloud: LocalCloud, name: string): LocalHost {
  const h = cloud.fleet.hosts.get(name);
  if (!h) throw new Error(`no host ${name}`);
  return h;
}

async function hostKill(ctx: RoundContext, killed: Set<string>): Promise<void> {
  const { cloud, rnd, log, count } = ctx;
  const candidates = await occupiedHosts(cloud);
  if (candidates.length === 0) return log("  no occupied host to kill");
  const victim = rnd.pick(candidates);
  const duplicates = rnd.chance(0.6) ? rnd.int(1, 3) : 0;
  const during = rnd.pick(["nothing", "second-kill", "victim-returns"] as const);
  log(`  kill ${victim}${duplicates ? `, ${duplicates} duplicate alarm(s)` : ""}, then ${during}`);
  // Only this kill's alarm and evacuation count, not those of an earlier round.
  const eventsBefore = cloud.events.events.length;
  const arn = cloud.stateMachineArns["host-evacuation"]!;
  const evacuationsBefore = new Set(
    [...cloud.fleet.hosts.keys()].flatMap((h) => evacuationsOf(cloud, arn, h).map((e) => e.executionArn)),
  );
  const newEvacuations = (host: string) =>
    evacuationsOf(cloud, arn, host).filter((e) => !evacuationsBefore.has(e.executionArn));
  await cloud.killHost(victim);
  killed.add(victim);
  count(ctx.faults, "host-kill");
  const alarm = await waitFor(`${victim}'s ALARM event`, 60_000, () =>
    alarmEvent(cloud, victim, eventsBefore),
  );
  for (let i = 0; i < duplicates; i++) {
    await ctx.eventBridge.send(
      new PutEventsCommand({
        Entries: [
          {
            Source: alarm.source,
            DetailType: alarm.detailType,
            Detail: alarm.detail,
            Resources: alarm.resources,
          },
        ],
      }),
    );
    count(ctx.faults, "duplicate-alarm");
  }
  // Wait for the evacuation to move something (a child rebuild started) or end.
  await waitFor(`${victim}'s evacuation to start evacuating`, 90_000, () => {
    const children = cloud.stepFunctions.listExecutions({
      stateMachineArn: cloud.rebuildStateMachineArn,
      statusFilter: "RUNNING",
    });
    if ((children.executions ?? []).length > 0) return true;
    const ran = newEvacuations(victim);
    return ran.length > 0 && ran.every((e) => e.status !== "RUNNING") ? true : undefined;
  }).catch(() => log(`  ${victim}'s evacuation did not start evacuating in time`));
  if (during === "second-kill") {
    const others = (await occupiedHosts(cloud)).filter((h) => h !== victim);
    // Keep at least two hosts up: one to hold what moves, one more for the reschedules.
    const up = [...cloud.fleet.hosts.values()].filter((h) => h.running).length;
    if (others.length > 0 && up > 2) {
      const second = rnd.pick(others);
      log(`  kill ${second} while ${victim} is evacuated`);
      await cloud.killHost(second);
      killed.add(second);
      count(ctx.faults, "host-kill");
    }
  } else if (during === "victim-returns") {
    await sleep(rnd.int(0, 3000));
    log(`  ${victim} returns while it is evacuated`);
    await cloud.restartHost(victim);
    count(ctx.operations, "host-restart");
  }
  await waitFor("the evacuations to end", 180_000, () =>
    [...killed].every((h) => newEvacuations(h).every((e) => e.status !== "RUNNING")) ? true : undefined,
  ).catch(() => log("  evacuations still running; settling anyway"));
}

async function heartbeatStop(ctx: RoundContext): Promise<void> {
  const { cloud, rnd, log, count } = ctx;
  const candidates = await occupiedHosts(cloud);
  if (candidates.length === 0) return;
  const name = rnd.pick(candidates);
  const host = localHost(cloud, name);
  log(`  stop ${name}'s heartbeat publisher (the host and its guests keep running)`);
  await host.stopHeartbeat();
  count(ctx.faults, "heartbeat-stop");
  const arn = cloud.stateMachineArns["host-evacuation"]!;
  const before = evacuationsOf(cloud, arn, name).length;
  try {
    await waitFor(`an evacuation of ${name} to start and end`, 90_000, () => {
      const runs = evacuationsOf(cloud, arn, name);
      return runs.length > before && runs.every((e) => e.status !== "RUNNING") ? true : undefined;
    });
  } catch {
    log(`  no evacuation of ${name} ended in time`);
  } finally {
    host.startHeartbeat();
  }
}

async function agentStop(ctx: RoundContext): Promise<void> {
  const { cloud, rnd, log, count } = ctx;
  const candidates = await occupiedHosts(cloud);
  if (candidates.length === 0) return;
  const name = rnd.pick(candidates);
  const host = localHost(cloud, name);
  log(`  stop ${name}'s SSM agent (guests and heartbeat keep running); rebuild its instances`);
  await host.stopAgent();
  count(ctx.faults, "agent-stop");
  try {
    const mine = (await cloud.stores.instances.list()).filter((i) => i.host === name);
    const runs = [];
    for (const inst of rnd.sample(mine, 2)) {
      runs.push(startRebuild(ctx, inst, "direct"));
    }
    await Promise.all(runs);
    await sleep(rnd.int(2000, 8000));
  } finally {
    await host.startAgent();
  }
}

/** Several requests at once on one or two instances: API rebuilds and evacuations, direct executions. */
async function concurrentRequests(ctx: RoundContext): Promise<void> {
  const { cloud, rnd, log } = ctx;
  const instances = (await cloud.stores.instances.list()).filter((i) => i.taskState === null);
  const targets = rnd.sample(instances, rnd.int(1, 2));
  const calls: Promise<unknown>[] = [];
  for (const inst of targets) {
    const n = rnd.int(2, 4);
    log(`  ${n} concurrent requests on ${inst.name} (${inst.host})`);
    for (let i = 0; i < n; i++) {
      const how = rnd.pick(["api-rebuild", "api-evacuate", "direct-rebuild", "direct-evacuate"] as const);
      calls.push(
        how === "api-rebuild" || how === "api-evacuate"
          ? apiAction(ctx, inst, how === "api-rebuild" ? "rebuild" : "evacuate")
          : startRebuild(ctx, inst, how === "direct-rebuild" ? "direct" : "evacuate"),
      );
    }
  }
  await Promise.all(calls);
}

async function apiAction(ctx: RoundContext, inst: Instance, action: "rebuild" | "evacuate"): Promise<void> {
  const body = action === "rebuild" ? { rebuild: { imageRef: ctx.rnd.pick(IMAGES) } } : { evacuate: {} };
  ctx.count(ctx.operations, `api-${action}`);
  try {
    const res = await fetch(`${ctx.cloud.api.url}/v2.1/servers/${inst.uuid}/action`, {
      method: "POST",
      headers: { "content-type": "application/json", "OpenStack-API-Version": "compute 2.29" },
      body: JSON.stringify(body),
    });
    await res.text();
    ctx.count(ctx.operations, `api-${action}-${res.status}`);
    if (res.status >= 500 && res.status !== 501) ctx.log(`  api ${action} ${inst.name}: HTTP ${res.status}`);
  } catch (e) {
    ctx.count(ctx.operations, `api-${action}-unreachable`);
    ctx.log(`  api ${action} ${inst.name}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

async function startRebuild(ctx: RoundContext, inst: Instance, kind: "direct" | "evacuate"): Promise<void> {
  const requestId = randomUUID();
  const recreate = kind === "evacuate";
  ctx.count(ctx.operations, recreate ? "execution-evacuate" : "execution-rebuild");
  await ctx.sfn.send(
    new StartExecutionCommand({
      stateMachineArn: ctx.cloud.rebuildStateMachineArn,
      name: requestId,
      input: JSON.stringify({
        requestId,
        instanceUuid: inst.uuid,
        recreate,
        ...(recreate ? {} : { imageRef: ctx.rnd.pick(IMAGES) }),
      }),
    }),
  );
}

function dynamoOverlay(ctx: RoundContext): void {
  const rates: DynamoFaultRates = {
    throttle: ctx.rnd.int(0, 8) / 100,
    throughput: ctx.rnd.int(0, 4) / 100,
    "server-error": ctx.rnd.int(0, 4) / 100,
    "lost-response": ctx.rnd.int(0, 3) / 100,
  };
  ctx.log(
    `  DynamoDB faults: ${Object.entries(rates)
      .map(([k, v]) => `${k} ${Math.round((v ?? 0) * 100)}%`)
      .join(", ")}`,
  );
  ctx.cloud.dynamoFaults?.configure(rates, { seed: ctx.rnd.int(0, 2 ** 31) });
}

function crashOverlay(ctx: RoundContext): void {
  const p = ctx.rnd.int(5, 15) / 100;
  // Its own generator: how many invocations a round makes varies with timing, the main sequence must not.
  const crashes = seededRandom(ctx.rnd.int(0, 2 ** 31));
  ctx.log(`  step Lambdas crash after their work with p=${p}`);
  ctx.cloud.lambda.setHooks({
    afterInvoke(name) {
      if (!STEP_FUNCTIONS.has(name) || !crashes.chance(p)) return;
      ctx.count(ctx.faults, "lambda-crash");
      const e = new Error(`chaos: ${name} crashed after its work`);
      e.name = "Lambda.Unknown";
      throw e;
    },
  });
}

async function ssmOverlay(ctx: RoundContext): Promise<void> {
  const up = [...ctx.cloud.fleet.hosts.values()].filter((h) => h.running);
  for (const host of ctx.rnd.sample(up, ctx.rnd.int(1, 2))) {
    const f = ctx.rnd.pick(COMMAND_FAULTS);
    const mode = ctx.rnd.pick(f.modes);
    ctx.log(`  ${host.name}: ${f.command} ${f.arg} will ${mode === "fail" ? "fail" : "hang after its work"}`);
    host.injectCommandFault(f.command, f.arg, `chaos: ${f.command} ${f.arg}`, mode);
    ctx.count(ctx.faults, `ssm-${mode}`);
  }
}

/**
 * The power fence fails (every BMC refuses the chassis control) or hangs (accepted, never carried out: the
 * fence times out) for a seeded while, then works again: instances wait "fencing required" meanwhile, and
 * a later fence round finishes them. Counted per power-off that met the fault. Returns the fault's early end.
 */
function fenceOverlay(ctx: RoundContext): () => void {
  const { cloud, rnd } = ctx;
  const mode = rnd.pick(["fail", "hang"] as const);
  const forMs = rnd.int(5_000, 20_000);
  ctx.log(
    `  the power fence will ${mode === "fail" ? "be refused" : "hang"} for ${Math.round(forMs / 1000)} s`,
  );
  const controlsBefore = cloud.bmcs.controls.length;
  cloud.bmcs.setFault(null, { mode });
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    clearTimeout(timer);
    cloud.bmcs.setFault(null, null);
    const met = cloud.bmcs.controls.slice(controlsBefore).filter((c) => c.power === "off" && c.fault).length;
    if (met > 0) ctx.count(ctx.faults, `fence-${mode}`, met);
  };
  const timer = setTimeout(end, forMs);
  return end;
}

function clearOverlays(cloud: LocalCloud): void {
  cloud.dynamoFaults?.configure({});
  cloud.lambda.setHooks(undefined);
  for (const h of cloud.fleet.hosts.values()) h.clearFaults();
}

/**
 * Bring the system back to quiet: dead hosts restarted (their recovery cleans them), every execution
 * ended, the sweeper run, and hosts that an incident disabled enabled again as an operator would once
 * the incident is closed.
 */
async function settle(ctx: RoundContext, timeoutMs: number): Promise<void> {
  const { cloud, log } = ctx;
  for (const h of cloud.fleet.hosts.values()) {
    if (!h.running) {
      log(`  ${h.name} returns`);
      await cloud.restartHost(h.name);
      ctx.count(ctx.operations, "host-restart");
    } else if (!h.agentRunning) {
      await h.startAgent();
    }
    if (h.running && !h.heartbeating) h.startHeartbeat();
  }
  const deadline = Date.now() + timeoutMs;
  let quietSince: number | null = null;
  for (;;) {
    // Alarms back to OK first (their OK starts the recovery), then nothing running.
    const alarmsOk = [...cloud.fleet.hosts.keys()].every(
      (h) => cloud.cloudwatch.evaluator.get(heartbeatAlarmName(h))?.state !== "ALARM",
    );
    // An alarm's OK starts the recovery through EventBridge and the trigger: let those land, then look.
    if (alarmsOk) await cloud.lambda.idle();
    const running = runningExecutions(cloud);
    // Quiet twice, 2 s apart: an event emitted just before the first look has landed by the second.
    if (alarmsOk && running.length === 0) {
      if (quietSince !== null && Date.now() - quietSince >= 2000) break;
      quietSince ??= Date.now();
    } else {
      quietSince = null;
    }
    if (Date.now() > deadline) {
      log(`  still not quiet after ${timeoutMs} ms: ${running.join(", ") || "an alarm in ALARM"}`);
      break;
    }
    await sleep(500);
  }
  await cloud.runScheduled("sweeper");
  ctx.count(ctx.operations, "sweeper");
  // The operator's part: a host whose incident is over comes back into service.
  for (const h of await cloud.stores.hosts.list()) {
    const open = h.incident?.status === "confirming" || h.incident?.status === "evacuating";
    if (!open && (!h.enabled || h.forcedDown) && cloud.fleet.hosts.get(h.name)?.running) {
      await cloud.stores.hosts.setService(h.name, { enabled: true, disabledReason: null, deathProof: null });
      ctx.count(ctx.operations, "host-enable");
    }
  }
}

function runningExecutions(cloud: LocalCloud): string[] {
  const out: string[] = [];
  for (const [machine, arn] of Object.entries(cloud.stateMachineArns)) {
    for (const e of cloud.stepFunctions.listExecutions({ stateMachineArn: arn, statusFilter: "RUNNING" })
      .executions ?? []) {
      out.push(`${e.name} (${machine})`);
    }
  }
  return out;
}

function executionCounts(cloud: LocalCloud): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const [machine, arn] of Object.entries(cloud.stateMachineArns)) {
    const bag: Record<string, number> = {};
    for (const e of cloud.stepFunctions.listExecutions({ stateMachineArn: arn, maxResults: 1000 })
      .executions ?? []) {
      const status = e.status ?? "UNKNOWN";
      bag[status] = (bag[status] ?? 0) + 1;
    }
    out[machine] = bag;
  }
  return out;
}

function evacuationsOf(cloud: LocalCloud, arn: string, host: string) {
  return (cloud.stepFunctions.listExecutions({ stateMachineArn: arn, maxResults: 1000 }).executions ?? [])
    .map((e) => cloud.stepFunctions.describeExecution(e.executionArn!))
    .filter((d) => (JSON.parse(d.input ?? "{}") as { host?: string }).host === host);
}

function alarmEvent(cloud: LocalCloud, host: string, fromIndex: number) {
  const events = cloud.events.events
    .slice(fromIndex)
    .filter(
      (e) =>
        e.source === "aws.cloudwatch" &&
        (e.detailObject as { alarmName?: string }).alarmName === heartbeatAlarmName(host) &&
        (e.detailObject as { state?: { value?: string } }).state?.value === "ALARM",
    );
  return events.at(-1);
}

async function waitFor<T>(
  what: string,
  timeoutMs: number,
  check: () => T | undefined | Promise<T | undefined>,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

/**
 * Watches every up hypervisor (`virsh list --state-running --uuid`) and reports a guest running on two hosts
 * in two consecutive looks (a start that fails at once, e.g. on qemu's disk lock, is active for a moment
 * without ever running the guest: one look is not enough). Runs until stopped.
 */
function startDoubleRunSampler(
  cloud: LocalCloud,
  onDouble: (uuid: string, hosts: string[]) => void,
  intervalMs = 1500,
): { stop(): void; done: Promise<void> } {
  let stopped = false;
  const done = (async () => {
    let previous = new Map<string, string[]>();
    while (!stopped) {
      const where = new Map<string, string[]>();
      for (const h of cloud.fleet.hosts.values()) {
        if (!h.running) continue;
        const r = await h.virsh(["list", "--state-running", "--uuid"], {
          allowFail: true,
          timeoutMs: 10_000,
        });
        if (r.exitCode !== 0) continue;
        for (const uuid of r.stdout
          .split("\n")
          .map((l) => l.trim().toLowerCase())
          .filter(Boolean)) {
          where.set(uuid, [...(where.get(uuid) ?? []), h.name]);
        }
      }
      const doubles = new Map([...where].filter(([, hosts]) => hosts.length > 1));
      for (const [uuid, hosts] of doubles) {
        const before = previous.get(uuid) ?? [];
        const both = hosts.filter((h) => before.includes(h));
        if (both.length > 1) onDouble(uuid, both);
      }
      previous = doubles;
      await sleep(intervalMs);
    }
  })();
  return {
    stop() {
      stopped = true;
    },
    done,
  };
}
