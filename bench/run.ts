/**
 * `npm run bench -- --fleet N [--quick]`: the fleet figures instead (bench/fleet-report.ts).
 * `npm run bench [-- --quick] [--runs N]`: host evacuation on the local cloud (N = 4, 8, 16; SSM latency
 * 0 and 1 s; one run on local disks), the floor in the same runs, cost per evacuated instance, the
 * standing cost of detection, and the scheduler under contention. Writes bench/results.json,
 * bench/RESULTS.md and the timeline pictures (SVG) next to them. Must run as root (the local hosts are
 * Unix users).
 */
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { parseArgs } from "node:util";
import {
  HEARTBEAT_INTERVAL_SECONDS,
  heartbeatLogGroupName,
  heartbeatLogLine,
} from "#shared/definitions/heartbeat.js";
import { INSTANCE_MONITOR_PROPERTY } from "#shared/definitions/instance-failure.js";
import {
  aggregateEvacuations,
  breakdownPerInstance,
  costFigures,
  detectionCost,
  type EvacuationFigures,
  growthRatio,
  issue23Targets,
} from "./aggregate.js";
import {
  benchDetectionText,
  type EvacuationPlan,
  type EvacuationRunResult,
  runSession,
} from "./evacuation.js";
import { fleetSectionOf, runFleetBench, withFleetSection } from "./fleet-report.js";
import { renderGanttSvg, timeByState } from "./gantt.js";
import { type BenchResults, renderResults } from "./report.js";
import { runScheduler } from "./scheduler.js";
import { round, summarize } from "./stats.js";

const { values } = parseArgs({
  options: {
    quick: { type: "boolean" },
    runs: { type: "string" },
    out: { type: "string" },
    /** Only write RESULTS.md again from results.json (after a change to the report's wording). */
    render: { type: "boolean" },
    /** Fleet scale (issue 34): evacuations in fleets of 4, 100 and this many hosts, mostly simulated. */
    fleet: { type: "string" },
  },
});
const quick = values.quick === true;
// Two runs per size by default: 9 evacuations fit the 10-minute budget on a quiet 2-core machine; 3 do not.
const runs = Number(values.runs ?? (quick ? 1 : 2));
const outDir = new URL(values.out ? `file://${values.out.replace(/\/?$/, "/")}` : "./", import.meta.url);
const t0 = Date.now();
const log = (line: string) =>
  process.stdout.write(`${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s  ${line}\n`);

/** The evacuations of one session, interleaved by size so that a change in the machine's load hits every N alike. */
function plan(): EvacuationPlan[] {
  if (quick) return [{ n: 4, storage: "shared", ssmLatencyMs: 0 }];
  const out: EvacuationPlan[] = [];
  for (let i = 0; i < runs; i++)
    for (const n of [4, 8, 16]) out.push({ n, storage: "shared", ssmLatencyMs: 0 });
  out.push({ n: 8, storage: "local", ssmLatencyMs: 0 });
  for (let i = 0; i < Math.max(1, runs - 1); i++) out.push({ n: 16, storage: "shared", ssmLatencyMs: 1000 });
  out.push({ n: 4, storage: "shared", ssmLatencyMs: 1000 });
  return out;
}

async function main(): Promise<number> {
  const loadStart = loadavg();
  log(
    `bench ${quick ? "--quick" : "full"}: ${cpus().length} CPUs, load average ${loadStart.map((l) => l.toFixed(2)).join(" ")}`,
  );

  log("scheduler: 50 concurrent placements against 20 hosts on dynalite");
  const sched = [];
  for (let i = 0; i < (quick ? 1 : 3); i++) {
    const r = await runScheduler({ hosts: 20, concurrent: 50, slotsPerHost: 3 });
    log(
      `  ${r.placements} placed in ${r.seconds.toFixed(2)} s (${r.placementsPerSecond.toFixed(1)}/s), ${r.failures} failed, ${r.overcommits} overcommits`,
    );
    sched.push(r);
  }

  let hostsCpuGroup: string | undefined;
  const results: EvacuationRunResult[] = await runSession({
    runs: plan(),
    log,
    started: (cloud) => {
      hostsCpuGroup = cloud.fleet.cpuGroup;
    },
  });

  const group = (f: (r: EvacuationRunResult) => boolean) => {
    const out: Record<string, EvacuationFigures> = {};
    for (const n of [4, 8, 16]) {
      const rs = results.filter((r) => r.n === n && f(r));
      if (rs.length > 0) out[String(n)] = aggregateEvacuations(rs);
    }
    return out;
  };
  const main0 = (r: EvacuationRunResult) => r.storage === "shared" && r.ssmLatencyMs === 0;
  const evacuation = group(main0);
  const atLatency = group((r) => r.storage === "shared" && r.ssmLatencyMs === 1000);
  const localStorage = group((r) => r.storage === "local");
  const baseline = results.filter(main0);
  const cost = costFigures(baseline);
  // One deployed host's heartbeat line, as its agent sends it (a typical name, the default interval and log
  // group, an armed watchdog, the instance monitor's health).
  const emfLine = heartbeatLogLine(
    {
      host: "compute-host-0042",
      at: new Date(),
      intervalSeconds: HEARTBEAT_INTERVAL_SECONDS,
      fleet: heartbeatLogGroupName(),
      watchdogTimeoutSeconds: 30,
    },
    { [INSTANCE_MONITOR_PROPERTY]: "running" },
  );
  const detection = detectionCost(Buffer.byteLength(emfLine));
  const growthOverheadRatio16to4 = growthRatio(evacuation["4"], evacuation["16"]);
  const costByN = Object.fromEntries(
    [4, 8, 16]
      .filter((n) => baseline.some((r) => r.n === n))
      .map((n) => [String(n), costFigures(baseline.filter((r) => r.n === n)).priceUSDPerInstance.total]),
  );
  const biggest = [...baseline].sort((a, b) => b.n - a.n)[0]!;
  const latent = results.filter((r) => r.ssmLatencyMs === 1000).sort((a, b) => b.n - a.n)[0];

  const pictures: { file: string; title: string; run: EvacuationRunResult }[] = [
    {
      file: `gantt-n${biggest.n}.svg`,
      title: `Host evacuation, N=${biggest.n}, SSM latency 0 (seconds from power loss)`,
      run: biggest,
    },
  ];
  if (latent)
    pictures.push({
      file: `gantt-n${latent.n}-ssm1s.svg`,
      title: `Host evacuation, N=${latent.n}, SSM latency 1 s per command (seconds from power loss)`,
      run: latent,
    });
  const pngs: string[] = [];
  for (const p of pictures) {
    const svg = new URL(p.file, outDir);
    writeFileSync(svg, renderGanttSvg(p.run.gantt.rows, { title: p.title, markers: p.run.gantt.markers }));
    // A PNG too when an SVG renderer is installed (none is required).
    const png = svg.pathname.replace(/\.svg$/, ".png");
    const r = spawnSync("rsvg-convert", ["-o", png, svg.pathname], { stdio: "ignore" });
    if (r.status === 0) pngs.push(p.file.replace(/\.svg$/, ".png"));
  }

  const loadEnd = loadavg();
  const out: BenchResults = {
    meta: {
      mode: quick ? "quick" : "full",
      runsPerSize: runs,
      startedAt: new Date(t0).toISOString(),
      durationSeconds: round((Date.now() - t0) / 1000, 1),
      cpus: cpus().length,
      loadAverage: {
        start: loadStart,
        end: loadEnd,
        perRun: results.map((r) => ({ n: r.n, ...r.loadAverage })),
      },
      settings: {
        flavor: "1 vCPU, 64 MiB, 1 GiB (cirros-0.6, a 64 MiB blank qcow2 overlay)",
        hosts:
          "source s<i> per run (4 vCPU), targets t1-t3 (pool p1; records sized for every run of the session)",
        detection: benchDetectionText(),
        maxConcurrency: "N (every instance at once)",
        ssmLatency: "per command: half before delivery to the agent, half before the result is visible",
        hostsCpu: hostsCpuGroup
          ? "every process of the simulated hosts (libvirtd and its qemu, SSM agents and their commands, host agents, the floor's scripts) in one CPU cgroup weighing as much as the control plane's process (local/hosts/cpu-group.ts)"
          : "no CPU cgroup on this machine: the hosts' processes share the CPU with the control plane's process session by session",
      },
    },
    evacuation,
    evacuationAtSsmLatency: { "1000": atLatency },
    evacuationLocalStorage: localStorage,
    cost: {
      ...cost,
      costPerInstanceUSDByN: costByN,
      breakdown: breakdownPerInstance(biggest),
      detectionPerHostMonthUSD: detection.deployed.usd.total,
      detection: { ...detection, emfLineBytes: Buffer.byteLength(emfLine) },
    },
    scheduler: {
      hosts: 20,
      concurrentClaims: 50,
      slotsPerHost: 3,
      placementsPerSecond: summarize(sched.map((r) => r.placementsPerSecond)),
      overcommits: Math.max(...sched.map((r) => r.overcommits)),
      failures: sched.reduce((n, r) => n + r.failures, 0),
      spread: sched.map((r) => r.spread),
    },
    growth: {
      overheadRatio16to4: growthOverheadRatio16to4,
      costPerInstanceRatio16to4:
        costByN["4"] && costByN["16"] ? round(costByN["16"] / costByN["4"], 3) : Number.NaN,
    },
    pictures: { svg: pictures.map((p) => p.file), png: pngs },
    timeByState: pictures.map((p) => ({
      picture: p.file,
      n: p.run.n,
      ssmLatencyMs: p.run.ssmLatencyMs,
      states: timeByState(p.run.gantt.rows.slice(1)).map((s) => ({
        ...s,
        medianSeconds: round(s.medianSeconds),
        totalSeconds: round(s.totalSeconds),
      })),
    })),
    targets: issue23Targets({ evacuation, atLatency, growthOverheadRatio16to4, cost }),
  };
  writeFileSync(new URL("results.json", outDir), `${JSON.stringify(out, null, 2)}\n`);
  writeResultsMd(renderResults(out, committedBaseline()));
  log(
    `wrote results.json, RESULTS.md, ${pictures.map((p) => p.file).join(", ")} (${out.meta.durationSeconds} s)`,
  );
  const failed = results.reduce((n, r) => n + r.failed, 0);
  if (failed > 0 || out.scheduler.overcommits > 0) {
    log(`problems: ${failed} instances not evacuated, ${out.scheduler.overcommits} overcommits`);
    return 1;
  }
  return 0;
}

/** bench/baseline.json: the results before the current round's levers, shown side by side (optional). */
function committedBaseline(): BenchResults | undefined {
  try {
    return JSON.parse(readFileSync(new URL("baseline.json", import.meta.url), "utf8")) as BenchResults;
  } catch {
    return undefined;
  }
}

function renderOnly(): number {
  const results = JSON.parse(readFileSync(new URL("results.json", outDir), "utf8")) as BenchResults;
  results.pictures ??= { svg: results.timeByState.map((t) => t.picture), png: [] };
  writeResultsMd(renderResults(results, committedBaseline()));
  log("wrote RESULTS.md from results.json");
  return 0;
}

/** RESULTS.md as rendered, with the fleet section it had (written by --fleet) kept. */
function writeResultsMd(md: string): void {
  const url = new URL("RESULTS.md", outDir);
  let fleet = "";
  try {
    fleet = fleetSectionOf(readFileSync(url, "utf8"));
  } catch {}
  writeFileSync(url, fleet ? withFleetSection(md, fleet) : md);
}

if (values.fleet !== undefined && !(Number.isInteger(Number(values.fleet)) && Number(values.fleet) >= 4)) {
  process.stderr.write(`--fleet wants a number of hosts >= 4, got ${values.fleet}\n`);
  process.exit(2);
}
const run = values.fleet
  ? () => runFleetBench({ fleet: Number(values.fleet), quick, outDir, log })
  : values.render
    ? () => Promise.resolve(renderOnly())
    : main;
run().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
