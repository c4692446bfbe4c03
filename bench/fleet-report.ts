/**
 * `npm run bench -- --fleet N [--quick]`: the fleet figures of issue 34 (bench/fleet.ts runs each fleet) —
 * one host's 16-instance evacuation at 4, 100 and N hosts, `massHosts` hosts dying at once in the largest,
 * the standing cost per host-month at 100, 1,000 and 10,000 hosts from the measured call counts, and the
 * scheduler's 50 concurrent claims on a 1,000-host index. Writes bench/fleet-results.json and the fleet
 * section of bench/RESULTS.md (between FLEET_BEGIN and FLEET_END; the speed bench keeps it).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { SYNC_HOSTS_PER_RUN } from "#functions/inventory/sync.js";
import { LOCAL_PROBE_DEADLINE_MS } from "#local/cloud.js";
import { detectionCost } from "./aggregate.js";
import { HOURS_PER_MONTH, PRICES, priceOf } from "./cost.js";
import { BenchFailure } from "./evacuation.js";
import {
  type FleetDetection,
  type FleetResult,
  type JobRun,
  runFleet,
  type StandingTraffic,
} from "./fleet.js";
import { runScheduler, type SchedulerRunResult } from "./scheduler.js";
import { round } from "./stats.js";

export const FLEET_BEGIN = "<!-- fleet: written by `npm run bench -- --fleet N` -->";
export const FLEET_END = "<!-- /fleet -->";

/** Detection of every measured fleet: quick enough for 1,000 hosts on 2 shared cores, as the demo's. */
const DETECTION: FleetDetection = {
  heartbeatIntervalMs: 1000,
  alarmPeriodSeconds: 10,
  alarmEvaluationPeriods: 1,
  graceSeconds: 4,
  heartbeatFreshSeconds: 3,
  probeDeadlineMs: LOCAL_PROBE_DEADLINE_MS,
};

/** The deployed schedules (shared/definitions/functions.ts): runs per month. */
const RUNS_PER_MONTH = { sweeper: HOURS_PER_MONTH * 60, sync: HOURS_PER_MONTH * 12 };

export interface FleetBenchResults {
  meta: {
    startedAt: string;
    durationSeconds: number;
    cpus: number;
    loadAverage: { start: number[]; end: number[] };
    settings: Record<string, string>;
  };
  /** Each fleet, with this process's peak resident memory after it (the whole local cloud but the real hosts). */
  fleets: (FleetResult & { peakRssMiB: number })[];
  /** Reads/writes per evacuated instance of the largest fleet over the smallest (1 = flat). */
  growth: {
    itemsReadRatio: number;
    itemsWrittenRatio: number;
    timeRatio: number;
    fromHosts: number;
    toHosts: number;
  };
  standingCostPerHostMonthUSD: Record<string, StandingCost>;
  scheduler: SchedulerRunResult & { hosts: number; concurrentClaims: number };
}

export interface StandingCost {
  metric: number;
  alarm: number;
  heartbeatLogs: number;
  sweeper: number;
  sync: number;
  instanceMonitorEvents: number;
  total: number;
}

/** A scheduled job's run priced (Lambda, DynamoDB; its SSM commands are free). */
function runPrice(run: JobRun): number {
  return priceOf({
    stateTransitions: 0,
    lambdaInvocations: run.lambdaInvocations,
    lambdaSeconds: run.lambdaSeconds,
    ssmCommands: run.ssmCommands,
    dynamoWriteUnits: run.dynamo.writeUnits,
    dynamoReadCalls: run.dynamo.readUnits,
    eventBridgeEvents: 0,
  }).total;
}

/**
 * The standing cost of one host for a month in a fleet of `hosts`, from a quiet fleet's measured traffic:
 * its metric and alarm (per host) and its share of the fleet's heartbeat series, its heartbeat lines at
 * the deployed interval (5 s, EMF: the measured line size), the sweeper's runs (bounded per run: the fleet shares them) and the sync's (at most
 * SYNC_HOSTS_PER_RUN hosts per run at the measured cost per host synced: a host of a fleet bigger than a
 * page is synced once per hosts / page runs, docs/SCALE.md). The instance monitor's events
 * are sent on a change only (no standing traffic: 0).
 */
export function standingCostPerHostMonth(s: StandingTraffic, hosts: number): StandingCost {
  const deployed = detectionCost(Math.max(0, s.logBytesPerEvent - 26)).deployed.usd;
  // The fleet's heartbeat series is one metric for the deployment: shared by its hosts. (Fleet results
  // recorded before it existed have no count: none.)
  const metric = (s.metricsPerHost + (s.fleetMetrics ?? 0) / hosts) * PRICES.cloudWatchMetricMonth;
  const alarm = s.alarmsPerHost * PRICES.cloudWatchHighResAlarmMonth;
  const heartbeatLogs = deployed.calls;
  const sweeper = (runPrice(s.sweeperRun) * RUNS_PER_MONTH.sweeper) / hosts;
  // A run syncs at most a page of hosts (SYNC_CONCURRENCY at once): the month's runs sync min(hosts, page) hosts
  // each, at the measured cost per host synced, shared by the fleet (a bigger fleet: each host less often).
  const perHostSynced = runPrice(s.syncRun) / Math.max(1, s.syncRun.hostsCovered);
  const sync = (RUNS_PER_MONTH.sync * Math.min(hosts, SYNC_HOSTS_PER_RUN) * perHostSynced) / hosts;
  const instanceMonitorEvents = 0;
  const total = metric + alarm + heartbeatLogs + sweeper + sync + instanceMonitorEvents;
  const r = (x: number) => round(x, 4);
  return {
    metric: r(metric),
    alarm: r(alarm),
    heartbeatLogs: r(heartbeatLogs),
    sweeper: r(sweeper),
    sync: r(sync),
    instanceMonitorEvents,
    total: r(total),
  };
}

/** The fleet sizes measured for `--fleet n` (hosts, two of them real). */
export function fleetSizes(n: number): number[] {
  return [...new Set([4, 100, n].filter((s) => s <= n && s >= 4))].sort((a, b) => a - b);
}

export async function runFleetBench(opts: {
  fleet: number;
  quick: boolean;
  outDir: URL;
  log: (line: string) => void;
}): Promise<number> {
  const { log } = opts;
  const t0 = Date.now();
  const loadStart = loadavg();
  log(
    `fleet bench: sizes ${fleetSizes(opts.fleet).join(", ")}; ${cpus().length} CPUs, load ${loadStart[0]!.toFixed(2)}`,
  );

  log("scheduler: 50 concurrent placements against 1,000 hosts on dynalite (the index's pages)");
  const sched = await runScheduler({ hosts: 1000, concurrent: 50, slotsPerHost: 3 });
  log(
    `  ${sched.placements} placed in ${sched.seconds.toFixed(2)} s, ${sched.failures} failed, ${sched.overcommits} overcommits`,
  );

  const fleets: FleetBenchResults["fleets"] = [];
  const sizes = fleetSizes(opts.fleet);
  for (const size of sizes) {
    const largest = size === sizes.at(-1) && size >= 100;
    const massHosts = largest ? 10 : 0;
    log(`fleet of ${size} hosts${massHosts ? `, then ${massHosts} hosts at once` : ""}`);
    const result = await runFleet({
      simulatedHosts: size - 2,
      instancesPerHost: 20,
      sourceInstances: 16,
      massHosts,
      detection: DETECTION,
      standingSeconds: opts.quick ? 10 : 30,
      log,
    });
    // maxRSS is in KiB on Linux.
    const peakRssMiB = round(process.resourceUsage().maxRSS / 1024, 0);
    log(`  peak memory of the local cloud so far: ${peakRssMiB} MiB`);
    fleets.push({ ...result, peakRssMiB });
  }
  const first = fleets[0]!;
  const last = fleets.at(-1)!;
  const largestStanding = last.standing;
  const standingCostPerHostMonthUSD = Object.fromEntries(
    [100, 1000, 10_000].map((h) => [String(h), standingCostPerHostMonth(largestStanding, h)]),
  );
  const out: FleetBenchResults = {
    meta: {
      startedAt: new Date(t0).toISOString(),
      durationSeconds: round((Date.now() - t0) / 1000, 1),
      cpus: cpus().length,
      loadAverage: { start: loadStart, end: loadavg() },
      settings: {
        hosts:
          "simulated hosts (local/sim: a model hypervisor answering the hosts' virsh/qemu-img, an in-process SSM agent, heartbeats and alarms as a real host's) plus 2 real libvirt hosts; 20 instances per host, 16 on the measured source",
        detection: `heartbeat ${DETECTION.heartbeatIntervalMs / 1000} s, alarm ${DETECTION.alarmPeriodSeconds} s x ${DETECTION.alarmEvaluationPeriods}, grace ${DETECTION.graceSeconds} s`,
        standing: `measured over ${opts.quick ? 10 : 30} s of a quiet fleet; priced at the deployed heartbeat (5 s, EMF), sweeper every minute, sync every 5 minutes`,
      },
    },
    fleets,
    growth: {
      fromHosts: first.fleetSize,
      toHosts: last.fleetSize,
      itemsReadRatio: round(
        last.single.perInstance.dynamoItemsRead / first.single.perInstance.dynamoItemsRead,
        3,
      ),
      itemsWrittenRatio: round(
        last.single.perInstance.dynamoItemsWritten / first.single.perInstance.dynamoItemsWritten,
        3,
      ),
      timeRatio: round(last.single.lastRunningSeconds / first.single.lastRunningSeconds, 3),
    },
    standingCostPerHostMonthUSD,
    scheduler: { ...sched, hosts: 1000, concurrentClaims: 50 },
  };
  writeFileSync(new URL("fleet-results.json", opts.outDir), `${JSON.stringify(out, null, 2)}\n`);
  const resultsMd = new URL("RESULTS.md", opts.outDir);
  writeFileSync(resultsMd, withFleetSection(readOr(resultsMd), renderFleet(out)));
  log(`wrote fleet-results.json and RESULTS.md's fleet section (${out.meta.durationSeconds} s)`);
  if (sched.overcommits > 0)
    throw new BenchFailure(`${sched.overcommits} overcommits with 50 concurrent claims`);
  return 0;
}

function readOr(url: URL): string {
  try {
    return readFileSync(url, "utf8");
  } catch {
    return "";
  }
}

/** `md` with its fleet section replaced by `section` (appended when it has none). */
export function withFleetSection(md: string, section: string): string {
  const a = md.indexOf(FLEET_BEGIN);
  const b = md.indexOf(FLEET_END);
  const block = `${FLEET_BEGIN}\n${section.trim()}\n${FLEET_END}`;
  if (a >= 0 && b > a) return md.slice(0, a) + block + md.slice(b + FLEET_END.length);
  return `${md.trimEnd()}\n\n${block}\n`;
}

/** The fleet section of an existing RESULTS.md ("" when none): the speed bench writes it back unchanged. */
export function fleetSectionOf(md: string): string {
  const a = md.indexOf(FLEET_BEGIN);
  const b = md.indexOf(FLEET_END);
  return a >= 0 && b > a ? md.slice(a + FLEET_BEGIN.length, b) : "";
}

const f = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : "n/a");

export function renderFleet(r: FleetBenchResults): string {
  const lines: string[] = [];
  lines.push("## Fleet scale (issue 34)");
  lines.push("");
  lines.push(
    `One run on this machine (${r.meta.cpus} CPUs, load average ${f(r.meta.loadAverage.start[0]!, 2)} at the start, ${f(r.meta.loadAverage.end[0]!, 2)} at the end), ${r.meta.startedAt}, ${f(r.meta.durationSeconds, 0)} s. ${r.meta.settings.hosts}. Detection: ${r.meta.settings.detection}. Each fleet is a fresh local cloud; a held, incomplete or partial evacuation fails the bench. Raw figures: bench/fleet-results.json.`,
  );
  lines.push("");
  lines.push("### One host's 16-instance evacuation by fleet size");
  lines.push("");
  lines.push(
    "| hosts | instances | seeded in (s) | peak memory (MiB) | death -> detected (s) | death -> all running (s) | death -> all confirmed (s) | items read / instance | items written / instance | read units / instance | $ per 1,000 instances |",
  );
  lines.push("|---|---|---|---|---|---|---|---|---|---|---|");
  for (const x of r.fleets) {
    const s = x.single;
    lines.push(
      `| ${x.fleetSize} | ${x.instances} | ${f(x.seedSeconds)} | ${x.peakRssMiB} | ${f(s.detectSeconds)} | ${f(s.lastRunningSeconds)} | ${f(s.deathToAllConfirmedSeconds)} | ${f(s.perInstance.dynamoItemsRead)} | ${f(s.perInstance.dynamoItemsWritten)} | ${f(s.perInstance.dynamoReadUnits)} | ${f(s.priceUSDPerInstance.total * 1000, 3)} |`,
    );
  }
  lines.push("");
  lines.push(
    `From ${r.growth.fromHosts} to ${r.growth.toHosts} hosts: items read per instance x${r.growth.itemsReadRatio}, written x${r.growth.itemsWrittenRatio}, time to all running x${r.growth.timeRatio}.`,
  );
  const mass = r.fleets.find((x) => x.mass);
  if (mass?.mass) {
    const m = mass.mass;
    lines.push("");
    lines.push(`### ${m.hosts} hosts dying at once in a ${mass.fleetSize}-host fleet`);
    lines.push("");
    lines.push(
      `All ${m.instances} instances back: death -> detected ${f(m.detectSeconds)} s, all running ${f(m.lastRunningSeconds)} s, all confirmed ${f(m.deathToAllConfirmedSeconds)} s; per instance ${f(m.perInstance.dynamoItemsRead)} items read, ${f(m.perInstance.dynamoItemsWritten)} written, ${f(m.perInstance.stateTransitions)} state transitions; **$${f(m.priceUSDPerInstance.total * 1000, 3)} per 1,000 instances** (load average ${f(m.loadAverage.before, 1)} -> ${f(m.loadAverage.after, 1)}).`,
    );
  }
  lines.push("");
  lines.push("### Standing cost per host-month (us-east-1 list prices)");
  lines.push("");
  lines.push(
    `Measured in the ${r.fleets.at(-1)!.fleetSize}-host fleet: ${f(r.fleets.at(-1)!.standing.logBytesPerEvent, 0)} billed bytes per heartbeat line, ${f(r.fleets.at(-1)!.standing.alarmsPerHost, 2)} alarms and ${f(r.fleets.at(-1)!.standing.metricsPerHost, 2)} metrics per host, ${r.fleets.at(-1)!.standing.fleetMetrics ?? 0} for the whole fleet; one sweeper run ${f(r.fleets.at(-1)!.standing.sweeperRun.dynamo.itemsRead, 0)} items read, one sync run (${r.fleets.at(-1)!.standing.syncRun.hostsCovered} hosts) ${f(r.fleets.at(-1)!.standing.syncRun.dynamo.itemsRead, 0)} items read. ${r.meta.settings.standing}.`,
  );
  lines.push("");
  lines.push("| hosts | metric | alarm | heartbeat lines | sweeper | sync | instance monitor | total |");
  lines.push("|---|---|---|---|---|---|---|---|");
  for (const [hosts, c] of Object.entries(r.standingCostPerHostMonthUSD))
    lines.push(
      `| ${hosts} | ${c.metric} | ${c.alarm} | ${c.heartbeatLogs} | ${c.sweeper} | ${c.sync} | ${c.instanceMonitorEvents} | **${c.total}** |`,
    );
  lines.push("");
  lines.push("### Scheduler contention on a 1,000-host index");
  lines.push("");
  lines.push(
    `${r.scheduler.concurrentClaims} concurrent evacuation Schedules against ${r.scheduler.hosts} hosts (3 slots each) on dynalite: ${r.scheduler.placements} placed in ${f(r.scheduler.seconds, 2)} s, ${r.scheduler.failures} failed, **${r.scheduler.overcommits} overcommits**.`,
  );
  return lines.join("\n");
}
