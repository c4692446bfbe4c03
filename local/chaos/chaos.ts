/**
 * The chaos run: a local cloud of real libvirt hosts with automatic host- and instance-failure handling and a
 * fault-injecting proxy in front of DynamoDB, then seeded rounds of trouble.
 *
 * The fleet: the first half of the hosts (rounded up) share pool p1 under qemu's image lock and are fenced
 * through their BMCs (LOCAL_FENCING); the others keep their disks on local storage and have only a watchdog
 * device (no power fence: their death is proven by the lease their heartbeats announce). Instances are spread
 * over every host; every host runs the packaged host agent (heartbeat, watchdog feeder, guest monitor).
 *
 * Each round draws, from its own generator (seed and round number only, so one round can be replayed on its
 * own), a disruption (disruptions.ts: host kills, lost heartbeats, agents or leases, a user space killed but
 * for libvirt and qemu, a frozen libvirtd, a dead watchdog feeder, operator evacuations during "fencing
 * required", a mass failure, a guest crash loop, concurrent requests), overlays (overlays.ts: virsh/qemu-img
 * faults, DynamoDB faults, crashed steps, concurrent requests, the BMC fence refused or hanging, clock skew)
 * and the machines' boot delay. After it the system settles (settle.ts) and local/invariants.ts is checked;
 * all along a sampler reads every qemu process from /proc (local/qemu-sampler.ts): no VM uuid may run in two.
 * Violations are kept with their round's story (round.ts) and written to a report (report.ts).
 */

import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { SFNClient } from "@aws-sdk/client-sfn";
import { SsmHostExecutor } from "#shared/hosts/ssm-executor.js";
import {
  LOCAL_FENCING,
  LOCAL_PROBE_DEADLINE_MS,
  type LocalCloud,
  type LocalFencingChoice,
  startLocalCloud,
} from "../cloud.js";
import { DYNAMO_FAULT_KINDS } from "../dynamo/fault-proxy.js";
import { bootByAdoption } from "../fleet-domains.js";
import type { LocalHostSpec } from "../hosts/local-host.js";
import { checkInvariants, violationKind } from "../invariants.js";
import { describeOverlap, type QemuOverlap, startQemuSampler } from "../qemu-sampler.js";
import { type SeededRandom, seededRandom } from "../seeded-random.js";
import {
  concurrentRequests,
  DISRUPTION,
  DISRUPTION_NEEDS,
  DISRUPTIONS,
  type Disruption,
} from "./disruptions.js";
import { applyOverlay, clearOverlays, OVERLAYS, type Overlay } from "./overlays.js";
import { type ChaosReport, replayCommand, writeReport } from "./report.js";
import type { ChaosSettings, HostKind, RoundContext, RoundExecution, RoundRecord } from "./round.js";
import { operatorRepairs, restoreHosts, runningExecutions, waitQuiet } from "./settle.js";

export { DISRUPTIONS, type Disruption } from "./disruptions.js";
export { OVERLAYS, type Overlay } from "./overlays.js";

export interface ChaosOptions {
  seed: number;
  rounds: number;
  /** The first round's number (default 1): `--from-round K` replays round K's draws on a fresh cloud. */
  fromRound?: number;
  /** Hosts in the cloud (default 5, at least 3): half (rounded up) pool + BMC, the rest watchdog + local disks. */
  hosts?: number;
  /** Instances booted at the start (default 8), spread over every host. */
  instances?: number;
  /** Restrict the disruptions drawn (default all). */
  disruptions?: readonly Disruption[];
  /** Round i runs schedule[i - fromRound] (one disruption, or several at once) instead of a drawn one. */
  schedule?: readonly (Disruption | readonly Disruption[])[];
  /** Every overlay that fits the round instead of drawn ones (the overlays' details stay seeded). */
  allOverlays?: boolean;
  /**
   * A time budget, ms: no round starts once it is spent (the summary counts the rounds run), so a long run
   * can be given the time there is rather than a number of rounds.
   */
  budgetMs?: number;
  /** Longest a round may take to settle before it counts as stuck (default 600 s). */
  settleTimeoutMs?: number;
  /** Where a failing run writes its report (default: none written). */
  reportDir?: string;
  /** Live progress, one line per event. */
  log?: (line: string) => void;
}

export interface ChaosSummary {
  seed: number;
  /** Rounds run (fewer than asked when the time budget ran out). */
  rounds: number;
  fromRound: number;
  /** Disruptions drawn, by kind (a round may run several). */
  disruptions: Record<string, number>;
  /** Overlays laid, by kind. */
  overlays: Record<string, number>;
  /** Faults injected, by kind (victims by host kind among them: victim-pool, victim-watchdog). */
  faults: Record<string, number>;
  /** Operations the run performed (requests, executions, restarts, the operator's actions...), by kind. */
  operations: Record<string, number>;
  /** Invariant violations found (must be 0). */
  violations: number;
  lostInstances: number;
  /** Records left on a host whose evacuation ended without listing them as not evacuated (must be 0). */
  strandedInstances: number;
  /** Double runs: seen by the /proc sampler, or a copy defined where its record does not say. */
  doubleRuns: number;
  /** Every violation, `round N: <kind>: <what>`. */
  violationList: string[];
  /** Each round: what it drew, whom it hit, how many violations it found. */
  roundsRun: {
    round: number;
    disruptions: string[];
    overlays: string[];
    victims: { host: string; kind: HostKind }[];
    violations: number;
  }[];
  /** What the /proc sampler did: samples taken, starts refused before the guest ran (not violations). */
  sampler: { samples: number; glimpses: number };
  /** Executions by machine and final status. */
  executions: Record<string, Record<string, number>>;
  /** Instances in ERROR at the end (allowed: each carries its fault). */
  instancesInError: number;
  /** The report files of a failing run, and the command replaying each failing round. */
  report: { json: string; text: string } | null;
  replays: string[];
  durationSeconds: number;
}

/** The chaos cloud's timings (see ChaosSettings): a 5 s watchdog that is also the lease, a 5 s margin. */
const SETTINGS: Omit<ChaosSettings, "settleTimeoutMs"> = {
  watchdogSeconds: 5,
  leaseMarginSeconds: 5,
  feedWithinSeconds: 2,
  // The documented bound: margin - feed window; 1 s of it is left to the simulated reset's kill.
  skewBoundMs: (5 - 2 - 1) * 1000,
};

/** The fleet: pool hosts (BMC fence, qemu's lock) first, then watchdog-only hosts on local disks. */
export function chaosFleet(count: number): {
  specs: LocalHostSpec[];
  kinds: Map<string, HostKind>;
  fencing: Record<string, LocalFencingChoice>;
} {
  const pool = Math.ceil(count / 2);
  const specs: LocalHostSpec[] = [];
  const kinds = new Map<string, HostKind>();
  const fencing: Record<string, LocalFencingChoice> = {};
  for (let i = 1; i <= count; i++) {
    const name = `host-${i}`;
    const kind: HostKind = i <= pool ? "pool" : "watchdog";
    kinds.set(name, kind);
    specs.push(
      kind === "pool"
        ? { name, sharedPoolId: "p1", watchdogTimeoutSeconds: null }
        : { name, sharedPoolId: null, watchdogTimeoutSeconds: SETTINGS.watchdogSeconds },
    );
    fencing[name] = kind === "pool" ? LOCAL_FENCING : { power: "none", watchdog: true, diskLocks: false };
  }
  return { specs, kinds, fencing };
}

/** Round `round`'s own generator: its draws depend on the seed and the round number only. */
export function roundRandom(seed: number, round: number): SeededRandom {
  const rnd = seededRandom((seed ^ Math.imul(round, 0x9e3779b9)) >>> 0);
  rnd.next();
  return rnd;
}

interface RoundPlan {
  disruptions: Disruption[];
  overlays: Overlay[];
  bootDelayMs: number;
}

/** Overlays that would change what a disruption checks by itself. */
const CONFLICTS: Partial<Record<Disruption, readonly Overlay[]>> = {
  requests: ["requests"],
  // Nothing may move in a mass failure: concurrent evacuations by hand would move instances on `lock`.
  "mass-failure": ["requests"],
  // Its BMC's own refusal must last the round.
  "fencing-required": ["fence", "requests"],
};

function drawRound(rnd: SeededRandom, opts: ChaosOptions, index: number): RoundPlan {
  const drawn = rnd.pick(opts.disruptions ?? DISRUPTIONS);
  const scheduled = opts.schedule?.[index % opts.schedule.length];
  const disruptions: Disruption[] =
    scheduled === undefined ? [drawn] : typeof scheduled === "string" ? [scheduled] : [...scheduled];
  const chances: Record<Overlay, number> = {
    ssm: 0.5,
    dynamo: 0.6,
    crash: 0.4,
    requests: 0.4,
    fence: 0.4,
    skew: 0.3,
  };
  const overlays = OVERLAYS.filter((o) => {
    const on = rnd.chance(chances[o]) || opts.allOverlays === true;
    return on && !disruptions.some((d) => CONFLICTS[d]?.includes(o));
  });
  // A reset machine boots at once, soon (before its evacuation decides) or late (after it).
  const boot = rnd.next();
  const bootDelayMs =
    boot < 0.4 ? rnd.int(0, 1000) : boot < 0.8 ? rnd.int(2000, 6000) : rnd.int(15_000, 30_000);
  return { disruptions, overlays, bootDelayMs };
}

export async function runChaos(opts: ChaosOptions): Promise<ChaosSummary> {
  const started = Date.now();
  const startedAt = new Date(started).toISOString();
  const print = opts.log ?? (() => {});
  const hostCount = Math.max(3, opts.hosts ?? 5);
  const instanceCount = opts.instances ?? 8;
  const fromRound = opts.fromRound ?? 1;
  const settings: ChaosSettings = { ...SETTINGS, settleTimeoutMs: opts.settleTimeoutMs ?? 600_000 };
  const fleet = chaosFleet(hostCount);
  const kindOf = (h: string) => fleet.kinds.get(h) ?? "pool";
  const bag = () => ({}) as Record<string, number>;
  const counts = { faults: bag(), operations: bag(), disruptions: bag(), overlays: bag() };
  const add = (b: Record<string, number>, key: string, n = 1) => {
    b[key] = (b[key] ?? 0) + n;
  };
  const violationList: string[] = [];
  const failing: RoundRecord[] = [];
  const roundsRun: ChaosSummary["roundsRun"] = [];
  let current: RoundRecord | null = null;

  print(
    `seed ${opts.seed}: rounds ${fromRound}..${fromRound + opts.rounds - 1} on ${hostCount} hosts (${[...fleet.kinds].map(([h, k]) => `${h} ${k}`).join(", ")})`,
  );
  const cloud = await startLocalCloud({
    hosts: fleet.specs,
    retryIntervalScale: 0.05,
    hostCommandDeadlineMs: 10_000,
    serviceDownSeconds: 10,
    dynamoFaults: { seed: opts.seed },
    instanceFailure: { monitorIntervalMs: 1000 },
    // The hosts watch each other (host-agent/peers.ts): a disrupted host's incident opens on its peers'
    // report, seconds before its alarm; every invariant must hold the same.
    peers: true,
    hostFailure: {
      alarmPeriodSeconds: 10,
      alarmEvaluationPeriods: 1,
      graceSeconds: 4,
      probeDeadlineMs: LOCAL_PROBE_DEADLINE_MS,
      maxConcurrency: 2,
      recoveryPollSeconds: 1,
      fencingByHost: fleet.fencing,
      leaseSeconds: settings.watchdogSeconds,
      leaseMarginSeconds: settings.leaseMarginSeconds,
    },
  });
  const sfn = new SFNClient({});
  const eventBridge = new EventBridgeClient({});
  const sampler = startQemuSampler(() => cloud.fleet.hosts.values(), {
    onDouble: (o) => print(`  !! DOUBLE RUN ${describeOverlap(o)}`),
  });
  let judged = 0;
  /** Overlaps the sampler judged since the last call, into the round's record. */
  const takeOverlaps = (record: RoundRecord) => {
    const fresh: QemuOverlap[] = sampler.overlaps.slice(judged);
    judged += fresh.length;
    for (const o of fresh) {
      if (o.verdict === "double") {
        record.sampler.doubles.push(describeOverlap(o));
        record.violations.push(`double: ${describeOverlap(o)}`);
      } else record.sampler.glimpses.push(describeOverlap(o));
    }
  };
  try {
    // Booting is set-up, not chaos: it gets a generous deadline on a loaded machine (the flows keep 10 s).
    const bootExecutor = new SsmHostExecutor({ client: cloud.ssm, defaultDeadlineMs: 90_000 });
    await bootByAdoption(
      cloud,
      Array.from({ length: instanceCount }, (_, i) => ({
        name: `vm-${i + 1}`,
        host: fleet.specs[i % hostCount]!.name,
        nics: i % 3 === 0 ? 1 : 0,
        ...(i % 4 === 1 ? { stopped: true } : {}),
      })),
      { executor: bootExecutor },
    );
    add(counts.operations, "boot", instanceCount);
    print(`booted ${instanceCount} instances`);
    for (const v of await checkInvariants(cloud.stores, cloud.fleet.hosts, { quiet: true }))
      violationList.push(`round 0: ${v}`);

    for (let index = 0; index < opts.rounds; index++) {
      const round = fromRound + index;
      if (opts.budgetMs !== undefined && Date.now() - started >= opts.budgetMs) {
        print(`time budget of ${Math.round(opts.budgetMs / 60_000)} min spent: ${index} round(s) run`);
        break;
      }
      const rnd = roundRandom(opts.seed, round);
      const plan = drawRound(rnd, opts, index);
      const since = Date.now();
      const record: RoundRecord = {
        round,
        seed: opts.seed,
        roundSeed: rnd.seed,
        disruptions: plan.disruptions,
        overlays: {},
        victims: [],
        bootDelayMs: plan.bootDelayMs,
        startedAt: new Date(since).toISOString(),
        endedAt: null,
        events: [],
        violations: [],
        sampler: { doubles: [], glimpses: [] },
      };
      current = record;
      const ctx: RoundContext = {
        cloud,
        sfn,
        eventBridge,
        rnd,
        settings,
        kindOf,
        record,
        log(line) {
          record.events.push({ at: new Date().toISOString(), line: line.trim() });
          print(line);
        },
        violation(kind, what) {
          record.violations.push(`${kind}: ${what}`);
          print(`  !! ${kind}: ${what}`);
        },
        fault: (k, n) => add(counts.faults, k, n),
        operation: (k, n) => add(counts.operations, k, n),
      };
      for (const d of plan.disruptions) add(counts.disruptions, d);
      for (const o of plan.overlays) add(counts.overlays, o);
      ctx.log(
        `round ${round}: ${plan.disruptions.join(" + ")}${plan.overlays.map((o) => ` +${o}`).join("")} (boot delay ${plan.bootDelayMs} ms)`,
      );
      for (const m of cloud.fleet.machines.values()) m.bootDelayMs = plan.bootDelayMs;
      const ends: (() => void)[] = [];
      try {
        for (const o of plan.overlays) if (o !== "requests") ends.push(applyOverlay(ctx, o));
        await Promise.all([
          ...plan.disruptions.map((d) =>
            DISRUPTION_NEEDS[d] && ![...fleet.kinds.values()].includes(DISRUPTION_NEEDS[d])
              ? Promise.resolve(ctx.log(`  ${d} needs a ${DISRUPTION_NEEDS[d]} host: none here`))
              : DISRUPTION[d](ctx),
          ),
          plan.overlays.includes("requests") ? concurrentRequests(ctx) : Promise.resolve(),
        ]);
      } catch (e) {
        ctx.violation(
          "harness",
          `the round failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`,
        );
      } finally {
        for (const end of ends) end();
        clearOverlays(cloud);
      }
      await restoreHosts(ctx);
      const stuck = await waitQuiet(ctx, settings.settleTimeoutMs);
      if (stuck)
        ctx.violation(
          "stuck",
          `not quiet ${Math.round(settings.settleTimeoutMs / 1000)} s after the round: ${stuck.join(", ")}`,
        );
      await cloud.runScheduled("sweeper");
      ctx.operation("sweeper");
      for (const v of await checkInvariants(cloud.stores, cloud.fleet.hosts, {
        quiet: true,
        executions: () => runningExecutions(cloud),
      }))
        record.violations.push(v);
      takeOverlaps(record);
      record.endedAt = new Date().toISOString();
      for (const v of record.violations) violationList.push(`round ${round}: ${v}`);
      const ran = roundExecutions(cloud, since);
      if (ran.length > 0) ctx.log(`  executions: ${describeExecutions(ran)}`);
      ctx.log(
        `round ${round}: settled, ${record.violations.length} violation(s)${record.violations.length ? `: ${record.violations.join("; ")}` : ""}`,
      );
      roundsRun.push({
        round,
        disruptions: plan.disruptions,
        overlays: plan.overlays,
        victims: record.victims,
        violations: record.violations.length,
      });
      if (record.violations.length > 0) {
        record.executions = ran;
        record.state = await recordsNow(cloud);
        failing.push(record);
      }
      // The operator's part, once the round's findings are kept.
      await operatorRepairs(ctx);
    }
    await sampler.stop();
    if (current) {
      const before = current.violations.length;
      takeOverlaps(current);
      for (const v of current.violations.slice(before)) violationList.push(`round ${current.round}: ${v}`);
      if (current.violations.length > before && !failing.includes(current)) {
        current.executions = roundExecutions(cloud, Date.parse(current.startedAt));
        current.state = await recordsNow(cloud);
        failing.push(current);
      }
    }
    const dynamoStats = cloud.dynamoFaults?.stats();
    if (dynamoStats) add(counts.operations, "dynamo-requests", dynamoStats.requests);
    for (const kind of DYNAMO_FAULT_KINDS) {
      if (dynamoStats?.faults[kind]) add(counts.faults, `dynamo-${kind}`, dynamoStats.faults[kind]);
    }
    const instances = await cloud.stores.instances.list();
    const kindCount = (kind: string) =>
      violationList.filter((v) => violationKind(v.replace(/^round \d+: /, "")) === kind).length;
    const replayOpts = {
      seed: opts.seed,
      hosts: hostCount,
      instances: instanceCount,
      ...(opts.disruptions ? { only: opts.disruptions } : {}),
    };
    const replays = failing.map((r) => replayCommand(replayOpts, r.round));
    let report: ChaosSummary["report"] = null;
    if (violationList.length > 0 && opts.reportDir) {
      const full: ChaosReport = {
        seed: opts.seed,
        startedAt,
        options: { ...replayOpts, rounds: opts.rounds, fromRound },
        violations: violationList,
        failingRounds: failing.map((r) => ({
          ...r,
          replay: replayCommand(replayOpts, r.round),
          replayFromStart: replayCommand(replayOpts, fromRound, r.round - fromRound + 1),
        })),
      };
      report = writeReport(opts.reportDir, full);
    }
    return {
      seed: opts.seed,
      rounds: roundsRun.length,
      fromRound,
      disruptions: counts.disruptions,
      overlays: counts.overlays,
      faults: counts.faults,
      operations: counts.operations,
      violations: violationList.length,
      lostInstances: kindCount("lost"),
      strandedInstances: kindCount("stranded"),
      doubleRuns: kindCount("double"),
      violationList,
      roundsRun,
      sampler: {
        samples: sampler.samples,
        glimpses: sampler.overlaps.filter((o) => o.verdict === "glimpse").length,
      },
      executions: executionCounts(cloud),
      instancesInError: instances.filter((i) => i.vmState === "error").length,
      report,
      replays,
      durationSeconds: Math.round((Date.now() - started) / 1000),
    };
  } finally {
    await sampler.stop();
    sfn.destroy();
    eventBridge.destroy();
    await cloud.stop();
  }
}

/** Every execution of every machine, newest first, all pages. */
function allExecutions(cloud: LocalCloud, arn: string) {
  const out = [];
  let nextToken: string | undefined;
  do {
    const page = cloud.stepFunctions.listExecutions({
      stateMachineArn: arn,
      maxResults: 1000,
      ...(nextToken ? { nextToken } : {}),
    });
    out.push(...(page.executions ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  return out;
}

function executionCounts(cloud: LocalCloud): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const [machine, arn] of Object.entries(cloud.stateMachineArns)) {
    const bag: Record<string, number> = {};
    for (const e of allExecutions(cloud, arn))
      bag[e.status ?? "UNKNOWN"] = (bag[e.status ?? "UNKNOWN"] ?? 0) + 1;
    out[machine] = bag;
  }
  return out;
}

/** Every execution started since `since`, with the states it went through and how it ended. */
function roundExecutions(cloud: LocalCloud, since: number): RoundExecution[] {
  const out: RoundExecution[] = [];
  for (const [machine, arn] of Object.entries(cloud.stateMachineArns)) {
    for (const item of allExecutions(cloud, arn)) {
      if ((item.startDate?.getTime() ?? 0) < since) continue;
      const d = cloud.stepFunctions.describeExecution(item.executionArn!);
      const events =
        cloud.stepFunctions.getExecutionHistory({ executionArn: item.executionArn!, maxResults: 1000 })
          .events ?? [];
      let input: unknown = d.input;
      try {
        input = JSON.parse(d.input ?? "null");
      } catch {
        // kept as text
      }
      out.push({
        machine,
        name: d.name ?? "",
        status: d.status ?? "UNKNOWN",
        startDate: d.startDate?.toISOString() ?? null,
        stopDate: d.stopDate?.toISOString() ?? null,
        input,
        error: d.error ?? null,
        cause: d.cause ? d.cause.slice(0, 2000) : null,
        states: events
          .filter((e) => e.type?.endsWith("StateEntered"))
          .map((e) => e.stateEnteredEventDetails?.name ?? "?"),
      });
    }
  }
  return out.sort((a, b) => (a.startDate ?? "").localeCompare(b.startDate ?? ""));
}

/** One line: each host-failure execution by name and end, the others counted by machine and status. */
function describeExecutions(ran: readonly RoundExecution[]): string {
  const parts: string[] = [];
  const counted = new Map<string, Map<string, number>>();
  for (const e of ran) {
    if (e.machine === "host-evacuation" || e.machine === "host-recovery") {
      parts.push(`${e.name} ${e.status} at ${e.states.at(-1) ?? "?"}${e.error ? ` (${e.error})` : ""}`);
      continue;
    }
    const bag = counted.get(e.machine) ?? new Map<string, number>();
    const key = e.error ? `${e.status}:${e.error}` : e.status;
    bag.set(key, (bag.get(key) ?? 0) + 1);
    counted.set(e.machine, bag);
  }
  for (const [machine, bag] of counted)
    parts.push(`${machine} ${[...bag].map(([k, n]) => `${k}=${n}`).join(" ")}`);
  return parts.join("; ");
}

/** The instance and host records as they are (the fields a reader of a failing round needs). */
async function recordsNow(cloud: LocalCloud): Promise<{ instances: unknown[]; hosts: unknown[] }> {
  const instances = (await cloud.stores.instances.list()).map((i) => ({
    name: i.name,
    uuid: i.uuid,
    host: i.host,
    vmState: i.vmState,
    taskState: i.taskState,
    powerState: i.powerState,
    fault: i.fault ? `${i.fault.error}: ${i.fault.message}`.slice(0, 300) : null,
    fencingRequired: i.fencingRequired,
  }));
  const hosts = (await cloud.stores.hosts.list()).map((h) => ({
    name: h.name,
    enabled: h.enabled,
    status: h.status,
    forcedDown: h.forcedDown,
    deathProof: h.deathProof?.kind ?? null,
    incident: h.incident
      ? { id: h.incident.id, status: h.incident.status, openedAt: h.incident.openedAt }
      : null,
    claims: Object.keys(h.claims).length,
    running: cloud.fleet.hosts.get(h.name)?.running ?? false,
    machine: cloud.fleet.machines.get(h.name)?.state ?? null,
  }));
  return { instances, hosts };
}
