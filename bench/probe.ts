/**
 * `node --import tsx bench/probe.ts [--n 16] [--runs 2] [--latency 0] [--profile] [--by-process] [--without-peers]` (as root, like the
 * bench): where one evacuation's recovery goes, for work on the control plane's overhead. Runs `--runs`
 * evacuations of N instances (shared storage) in one local cloud and prints, per run: recovery, floor and
 * ratio; the host-evacuation's states after death was proven; per rebuild state the median bar beside the
 * median time in its Lambda handler (the Lambda endpoint's record; the rest is the hop: the interpreter,
 * the SDK call, HTTP); each kind of host command's time to and on the host (SSM's own times) and from its
 * end to its Lambda's end (the status polls' lag); DynamoDB calls by table; the machine's busy CPU in the
 * recovery and in the floor, and this process's share; with `--profile`, this process's CPU profile over
 * the recovery; with `--by-process`, the machine's CPU in the recovery and in the floor by kind of process
 * (control plane, SSM agents, libvirtd, qemu, ...; apart, the CPU of the processes each kind ran and
 * reaped: an agent's scripts, the floor's). Each rebuild's states go to /tmp/probe-rows-<n>.json. The
 * first run's targets start their first domains (a cold libvirt): compare later runs with each other.
 */

import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { loadavg } from "node:os";
import { type EventLoopUtilization, performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { ListCommandInvocationsCommand, SSMClient } from "@aws-sdk/client-ssm";
import { procStatFields, STAT } from "#local/proc-stat.js";
import { runSession } from "./evacuation.js";
import { timeByState } from "./gantt.js";
import { median as medianOf } from "./stats.js";

const { values } = parseArgs({
  options: {
    n: { type: "string" },
    runs: { type: "string" },
    latency: { type: "string" },
    /** CPU-profile this process during each recovery: self time by package and the top functions. */
    profile: { type: "boolean" },
    /** The machine's CPU in the recovery and in the floor by kind of process (/proc, every 250 ms). */
    "by-process": { type: "boolean" },
    /** The hosts without the peer watch: the alarms alone detect (to compare). */
    "without-peers": { type: "boolean" },
  },
});
const n = Number(values.n ?? 16);
const runs = Number(values.runs ?? 2);
const ssmLatencyMs = Number(values.latency ?? 0);
const t0 = Date.now();
const log = (line: string) =>
  process.stdout.write(`${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s  ${line}\n`);

/** The median, NaN for none (a state no instance passed). */
const median = (xs: readonly number[]) => (xs.length === 0 ? Number.NaN : medianOf(xs));
const f2 = (x: number) => x.toFixed(2);

/** The machine's busy CPU time so far (/proc/stat: every CPU's user..steal jiffies, not idle or iowait), s. */
function machineBusySeconds(): number {
  const cpu = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = cpu;
  return (user + nice + system + irq + softirq + steal) / 100;
}
/** Event-loop utilization and CPU, sampled every 100 ms (epoch ms, ELU delta, CPU µs delta, machine busy s). */
const samples: { at: number; elu: EventLoopUtilization; cpu: NodeJS.CpuUsage; busy: number }[] = [];
let lastBusy = machineBusySeconds();
let lastElu = performance.eventLoopUtilization();
let lastCpu = process.cpuUsage();
const sampler = setInterval(() => {
  const elu = performance.eventLoopUtilization(lastElu);
  const cpu = process.cpuUsage(lastCpu);
  lastElu = performance.eventLoopUtilization();
  lastCpu = process.cpuUsage();
  const busyNow = machineBusySeconds();
  samples.push({ at: Date.now(), elu, cpu, busy: busyNow - lastBusy });
  lastBusy = busyNow;
}, 100);
sampler.unref();

/**
 * Per-process CPU, for `--by-process`: every 250 ms each process's own and reaped children's ticks
 * (/proc/<pid>/stat utime+stime+cutime+cstime) by kind. A script's processes end inside a window and are
 * counted in their parent's cutime (the agent that ran them); a process that ends before its parent waits
 * for it is missed between its last snapshot and its end (short: its parent is counted instead).
 */
/** pid -> kind, from its command line when first seen. A negative pid: that process's reaped children. */
const kinds = new Map<number, string>();
const procSnapshots: { at: number; ticks: Map<number, number> }[] = [];
function kindOf(pid: number): string {
  const known = kinds.get(pid);
  if (known) return known;
  if (pid < 0) return `${kindOf(-pid)}: children`;
  let cmd = "";
  try {
    cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
  } catch {
    return "gone";
  }
  const kind =
    pid === process.pid
      ? "control plane (this process)"
      : /local\/ssm\/agent\.ts/.test(cmd)
        ? "ssm agents"
        : /host-agent/.test(cmd)
          ? "host agents"
          : /^qemu-system/.test(cmd) || /\/qemu-system/.test(cmd)
            ? "qemu"
            : /libvirtd/.test(cmd)
              ? "libvirtd"
              : /virtlogd/.test(cmd)
                ? "virtlogd"
                : `other (${cmd.split(" ")[0]?.split("/").at(-1) ?? "?"})`;
  kinds.set(pid, kind);
  return kind;
}
function processTicks(): Map<number, number> {
  const out = new Map<number, number>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const f = procStatFields(name);
    if (!f) continue; // ended meanwhile
    const own = Number(f[STAT.utime]) + Number(f[STAT.stime]);
    const children = Number(f[STAT.cutime]) + Number(f[STAT.cstime]);
    // A process's reaped children apart from it (an agent's scripts, the floor's scripts).
    out.set(Number(name), own).set(-Number(name), children);
  }
  return out;
}
const procSampler = values["by-process"]
  ? setInterval(() => {
      const ticks = processTicks();
      for (const pid of ticks.keys()) kindOf(pid);
      procSnapshots.push({ at: Date.now(), ticks });
    }, 250)
  : undefined;
procSampler?.unref();
/** CPU seconds by kind of process between the snapshots nearest to `from` and `to`. */
function cpuByKind(from: number, to: number): string {
  const nearest = (t: number) =>
    procSnapshots.reduce((best, s) => (Math.abs(s.at - t) < Math.abs(best.at - t) ? s : best));
  if (procSnapshots.length === 0) return "no snapshots";
  const a = nearest(from);
  const b = nearest(to);
  const by = new Map<string, number>();
  for (const [pid, t] of b.ticks) {
    const kind = kindOf(pid);
    by.set(kind, (by.get(kind) ?? 0) + (t - (a.ticks.get(pid) ?? 0)) / 100);
  }
  const total = [...by.values()].reduce((x, y) => x + y, 0);
  return `${f2(total)} core-s over ${f2((b.at - a.at) / 1000)} s: ${[...by.entries()]
    .filter(([, v]) => v >= 0.01)
    .sort((x, y) => y[1] - x[1])
    .map(([k, v]) => `${k} ${f2(v)}`)
    .join(", ")}`;
}

interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    parent?: number;
  }[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}
const inspector = values.profile ? new Session() : undefined;
inspector?.connect();
let profileStartedAt = 0;
async function startProfile() {
  if (!inspector) return;
  await inspector.post("Profiler.enable");
  await inspector.post("Profiler.setSamplingInterval", { interval: 500 });
  await inspector.post("Profiler.start");
  profileStartedAt = Date.now();
}
/** This repository's root as a profile's urls start with it. */
const repoRoot = new URL("..", import.meta.url).href;
/** Self time within [from, to] (epoch ms) by package/folder, and the top functions. */
async function profileLines(from: number, to: number): Promise<string[]> {
  if (!inspector) return [];
  const { profile } = (await inspector.post("Profiler.stop")) as unknown as { profile: CpuProfile };
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const byWhere = new Map<string, number>();
  const byFn = new Map<string, number>();
  let t = profileStartedAt * 1000; // µs, epoch (the profile's first sample is at its start)
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    const dt = profile.timeDeltas[i + 1] ?? 0;
    if (t / 1000 < from || t / 1000 > to) continue;
    const node = byId.get(profile.samples[i]!)!;
    if (node.callFrame.functionName === "(idle)") continue;
    const url = node.callFrame.url;
    const where =
      /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1] ??
      (url
        ? url.replace(repoRoot, "").split("/").slice(0, 2).join("/")
        : `(${node.callFrame.functionName || "native"})`);
    byWhere.set(where, (byWhere.get(where) ?? 0) + dt);
    const fn = `${node.callFrame.functionName || "(anon)"} ${url.replace(/^.*\/node_modules\//, "").replace(repoRoot, "")}:${node.callFrame.lineNumber}`;
    byFn.set(fn, (byFn.get(fn) ?? 0) + dt);
    total += dt;
  }
  const top = (m: Map<string, number>, k: number) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, k)
      .map(([w, us]) => `${w} ${(us / 1000).toFixed(0)}ms`);
  const out = [
    `  CPU profile of the recovery: ${(total / 1000).toFixed(0)} ms sampled; by where: ${top(byWhere, 14).join(", ")}`,
    `  top functions: ${top(byFn, 25).join(" | ")}`,
  ];
  await startProfile();
  return out;
}
const summary: string[] = [];
let runIndex = 0;
const dynamoOps: { op: string; table: string; at: number; failed: boolean }[] = [];
await runSession({
  runs: Array.from({ length: runs }, () => ({ n, storage: "shared" as const, ssmLatencyMs })),
  log,
  massFailureWindowSeconds: 20,
  peers: values["without-peers"] !== true,
  started: (cloud) => {
    log(`hosts' CPU group: ${cloud.fleet.cpuGroup ?? "none"}`);
    void startProfile();
    cloud.dynamo.onOperation((o) => {
      const table = /"TableName":"([^"]+)"/.exec(o.body)?.[1]?.replace(/^lazarus-/, "") ?? "?";
      dynamoOps.push({ op: o.op, table, at: o.at, failed: o.status !== 200 });
    });
  },
  inspect: async (cloud, r) => {
    const { detected, ended } = r.epochMs;
    const lines: string[] = [];
    lines.push(
      `N=${r.n}: recover ${f2(r.recoverSeconds)} s, last running ${f2(r.lastRunningSeconds)} s, floor ${f2(r.floorSeconds)} s, ratio ${f2(r.overheadRatio)}, per-VM ${f2(r.perInstanceSeconds)} s, load ${r.loadAverage.before.toFixed(1)}->${r.loadAverage.after.toFixed(1)}`,
    );
    const d0 = (detected - r.epochMs.killed) / 1000;
    const parent = r.gantt.rows[0]!;
    lines.push(
      `  parent after death proven (s from it): ${parent.bars
        .filter((b) => b.end >= d0)
        .map((b) => `${b.state} ${f2(b.start - d0)}-${f2(b.end - d0)}`)
        .join(", ")}`,
    );
    const children = r.gantt.rows.slice(1);
    const firstBar = children.map((c) => c.bars[0]!.start - d0).sort((a, b) => a - b);
    const lastBar = children.map((c) => c.bars.at(-1)!.end - d0).sort((a, b) => a - b);
    lines.push(
      `  children: first state at ${f2(firstBar[0]!)}..${f2(firstBar.at(-1)!)} s, last state ends ${f2(lastBar[0]!)}..${f2(lastBar.at(-1)!)} s`,
    );
    // Time inside a rebuild but in no state (between one state's exit and the next one's entry), and
    // from the parent's EvacuateInstance entry to the child's first state, and from its last to the exit.
    const gaps = children.map((c) => {
      let g = 0;
      for (let i = 1; i < c.bars.length; i++) g += Math.max(0, c.bars[i]!.start - c.bars[i - 1]!.end);
      return g;
    });
    const evac = parent.bars.filter((b) => b.state === "EvacuateInstance").sort((a, b) => a.end - b.end);
    const spans = children.map((c) => c.bars.at(-1)!.end - c.bars[0]!.start).sort((a, b) => a - b);
    lines.push(
      `  rebuild: first->last state ${f2(median(spans))} s median, between states ${f2(median(gaps))} s median (${gaps.length} rows); EvacuateInstance ${f2(median(evac.map((b) => b.end - b.start)))} s median`,
    );
    const calls = cloud.lambda.invocations.filter(
      (i) => i.startedAt.getTime() >= detected && i.startedAt.getTime() <= ended,
    );
    const handlerByFn = new Map<string, number[]>();
    for (const i of calls) {
      const fn = i.functionName.replace(/^lazarus-/, "");
      handlerByFn.set(fn, [
        ...(handlerByFn.get(fn) ?? []),
        ((i.endedAt ?? i.startedAt).getTime() - i.startedAt.getTime()) / 1000,
      ]);
    }
    lines.push("  state: median bar s (sum) | Lambda handler median s (calls)");
    for (const s of timeByState(children)) {
      const fn = [...handlerByFn.keys()].find((k) => k.replaceAll("-", "").endsWith(s.state.toLowerCase()));
      const h = fn ? handlerByFn.get(fn)! : [];
      lines.push(
        `    ${s.state.padEnd(26)} ${f2(s.medianSeconds)} (${f2(s.totalSeconds)})${fn ? ` | ${f2(median(h))} (${h.length}) ${fn}` : ""}`,
      );
    }
    lines.push(
      `  host-evacuation Lambdas: ${[...handlerByFn.entries()]
        .filter(([k]) => k.startsWith("hostfail"))
        .map(([k, v]) => `${k} ${f2(median(v))}x${v.length}`)
        .join(", ")}`,
    );
    // Host commands of the recovery: requested -> started on the host -> ended there (SSM's own times).
    const ssm = new SSMClient({});
    const rows: { comment: string; uuid: string; requested: number; started: number; ended: number }[] = [];
    let token: string | undefined;
    do {
      const page = await ssm.send(new ListCommandInvocationsCommand({ Details: true, NextToken: token }));
      for (const inv of page.CommandInvocations ?? []) {
        const requested = inv.RequestedDateTime!.getTime();
        const plugin = inv.CommandPlugins?.[0];
        if (requested < detected || requested > ended || !plugin?.ResponseFinishDateTime) continue;
        rows.push({
          comment: (inv.Comment ?? "").replace(/\s+[0-9a-f-]{36}$/, ""),
          uuid: /[0-9a-f-]{36}$/.exec(inv.Comment ?? "")?.[0] ?? "",
          requested,
          started: plugin.ResponseStartDateTime!.getTime(),
          ended: plugin.ResponseFinishDateTime.getTime(),
        });
      }
      token = page.NextToken;
    } while (token);
    ssm.destroy();
    // From a host command's end (SSM's own time) to the end of the Lambda that sent it: the status polls'
    // lag and what the step does after the command.
    const tails = new Map<string, number[]>();
    for (const x of rows) {
      const sent = calls.find(
        (i) =>
          (x.uuid ? JSON.stringify(i.event ?? null).includes(x.uuid) : i.functionName.endsWith("-fence")) &&
          i.startedAt.getTime() <= x.requested &&
          (i.endedAt?.getTime() ?? 0) >= x.ended,
      );
      if (!sent?.endedAt) continue;
      const k = `${x.comment} (${sent.functionName.replace(/^lazarus-/, "")})`;
      tails.set(k, [...(tails.get(k) ?? []), (sent.endedAt.getTime() - x.ended) / 1000]);
    }
    for (const [k, v] of tails)
      lines.push(
        `  host command end -> its Lambda's end, ${k}: median ${f2(median(v))} s, max ${f2(Math.max(...v))} s`,
      );
    const kinds = [...new Set(rows.map((x) => x.comment))];
    for (const k of kinds) {
      const of = rows.filter((x) => x.comment === k);
      lines.push(
        `  host command ${k} x${of.length}: to the host ${f2(median(of.map((x) => (x.started - x.requested) / 1000)))} s, on the host ${f2(median(of.map((x) => (x.ended - x.started) / 1000)))} s (max ${f2(Math.max(...of.map((x) => (x.ended - x.started) / 1000)))}), requested ${f2((Math.min(...of.map((x) => x.requested)) - detected) / 1000)}..${f2((Math.max(...of.map((x) => x.requested)) - detected) / 1000)} s, ended ..${f2((Math.max(...of.map((x) => x.ended)) - detected) / 1000)} s`,
      );
    }
    const ops = dynamoOps.filter((o) => o.at >= detected && o.at <= ended);
    const byOp = new Map<string, number>();
    for (const o of ops) {
      const k = `${o.op} ${o.table}${o.failed ? " (refused)" : ""}`;
      byOp.set(k, (byOp.get(k) ?? 0) + 1);
    }
    lines.push(
      `  DynamoDB calls during recovery: ${ops.length} (${f2(ops.length / r.n)} per instance): ${[
        ...byOp.entries(),
      ]
        .sort((a, b) => b[1] - a[1])
        .map(([k, v]) => `${k} ${v}`)
        .join(", ")}`,
    );
    lines.push(...(await profileLines(detected, ended)));
    const win = samples.filter((s) => s.at > detected && s.at <= ended);
    const busy = win.reduce((a, s) => a + s.elu.active, 0);
    const idle = win.reduce((a, s) => a + s.elu.idle, 0);
    const cpu = win.reduce((a, s) => a + s.cpu.user + s.cpu.system, 0) / 1000;
    const span = win.length > 0 ? win.at(-1)!.at - win[0]!.at + 100 : 0;
    const busyIn = (from: number, to: number) =>
      samples.filter((x) => x.at > from && x.at <= to).reduce((a, x) => a + x.busy, 0);
    const { floor } = r.epochMs;
    lines.push(
      `  machine CPU busy: recovery ${f2(busyIn(detected, ended))} core-s over ${f2((ended - detected) / 1000)} s (this process ${f2(cpu / 1000)}), floor ${f2(busyIn(floor.start, floor.end))} core-s over ${f2((floor.end - floor.start) / 1000)} s`,
    );
    if (values["by-process"])
      lines.push(
        `  CPU by process, recovery: ${cpuByKind(detected, ended)}`,
        `  CPU by process, floor: ${cpuByKind(floor.start, floor.end)}`,
      );
    lines.push(
      `  this process during recovery: event loop ${((100 * busy) / Math.max(1, busy + idle)).toFixed(0)}% busy, CPU ${f2(cpu / 1000)} s over ${f2(span / 1000)} s (${((100 * cpu) / Math.max(1, span)).toFixed(0)}% of one core); load now ${loadavg()[0]!.toFixed(2)}`,
    );
    // Each rebuild's states, s from death proven (for a closer look: /tmp/probe-rows-<n>.json).
    writeFileSync(
      `/tmp/probe-rows-${++runIndex}.json`,
      JSON.stringify({ d0, rows: r.gantt.rows, epochMs: r.epochMs }, null, 1),
    );
    for (const l of lines) log(l);
    summary.push(...lines);
  },
});
clearInterval(sampler);
process.stdout.write(`\n${summary.join("\n")}\n`);
process.exit(0);
