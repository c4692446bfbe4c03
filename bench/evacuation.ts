/**
 * One measured host evacuation on the local cloud: a host with N instances loses power, its peers report
 * it (its heartbeat alarm fires later), the host-evacuation machine proves it dead and evacuates every instance through the
 * rebuild machine. Counted meanwhile: every execution history (Step Functions endpoint), Lambda
 * invocation (Lambda endpoint), SSM command (SSM endpoint) and DynamoDB call (at its HTTP layer).
 * Then, in the same run, the floor: the same domains recreated on the same targets with plain
 * virsh/qemu-img run as the host users, all at once.
 */
import { loadavg } from "node:os";
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  ListExecutionsCommand,
  SFNClient,
} from "@aws-sdk/client-sfn";
import { LOCAL_PROBE_DEADLINE_MS, type LocalCloud, startLocalCloud } from "#local/cloud.js";
import type { DynamoOperation } from "#local/dynamo/dynamo-server.js";
import { shellQuote } from "#local/hosts/shell.js";
import type { SsmCommandNotice } from "#local/ssm/ssm-endpoint.js";
import type { Instance } from "#shared/domain/schemas.js";
import { baseImagePath, domainXmlPath, rootDiskPath } from "#shared/hosts/layout.js";
import {
  countStateTransitions,
  dynamoTable,
  dynamoWrites,
  type EvacuationCounts,
  isDynamoRead,
  isHeartbeatLeaseWrite,
} from "./cost.js";
import { buildGantt, type GanttMarker, type GanttRow } from "./gantt.js";

export type Storage = "shared" | "local";

export interface EvacuationPlan {
  n: number;
  /** The dead host's disks: on a pool the targets share ("shared"), or its own ("local"). */
  storage: Storage;
  /** SSM latency per command, ms: half before delivery, half before the result shows. */
  ssmLatencyMs: number;
}

export interface SessionOptions {
  /** One evacuation per entry, one after the other, each of its own source host, in one local cloud. */
  runs: EvacuationPlan[];
  log: (line: string) => void;
  /** Called after each measured evacuation with the cloud it ran in (a probe reads more from it). */
  inspect?: (cloud: LocalCloud, result: EvacuationRunResult) => void | Promise<void>;
  /** Called once the cloud runs, before the first evacuation (a probe subscribes to its endpoints). */
  started?: (cloud: LocalCloud) => void;
  /**
   * The mass-failure window, s (default the local cloud's): a probe of a few same-sized runs, whose sources
   * are a larger share of its fleet than the full bench's, makes it shorter than one run.
   */
  massFailureWindowSeconds?: number;
  /** The hosts watch each other (default true, as the bench measures); false: the alarms alone detect. */
  peers?: boolean;
}

export interface EvacuationRunResult {
  n: number;
  storage: Storage;
  ssmLatencyMs: number;
  /** Power loss -> the host-evacuation execution started (the peers' report or the alarm, EventBridge, trigger). */
  alarmSeconds: number;
  /** Power loss -> death proven and the host fenced (the first Fence with a proof). */
  detectSeconds: number;
  /** Detection -> the host-evacuation execution ended (every instance confirmed running elsewhere). */
  recoverSeconds: number;
  /** Detection -> the last instance's Spawn done (its domain running). */
  lastRunningSeconds: number;
  /** Median over instances of its rebuild execution's duration. */
  perInstanceSeconds: number;
  floorSeconds: number;
  overheadRatio: number;
  spread: { perHost: Record<string, number>; max: number; min: number };
  evacuated: number;
  failed: number;
  /** Totals over the whole evacuation (host-level work included). */
  totals: EvacuationCounts & { dynamoWriteItems: number; heartbeatLeaseWrites: number };
  /** Share of each total that names one instance (its uuid in the call): per instance, median. */
  attributable: {
    ssmCommands: number;
    dynamoWriteItems: number;
    lambdaInvocations: number;
    stateTransitions: number;
  };
  lambdaByFunction: Record<string, number>;
  dynamoWritesByTable: Record<string, number>;
  ssmOperations: Record<string, number>;
  /** Commands per kind (their Comment), summed over instances. */
  ssmCommandsByComment: Record<string, number>;
  loadAverage: { before: number; after: number };
  gantt: { rows: GanttRow[]; markers: GanttMarker[] };
  /**
   * Epoch ms of the power loss, of death proven (the first Fence with a proof), of the host-evacuation's
   * end, and the floor's start and end.
   */
  epochMs: { killed: number; detected: number; ended: number; floor: { start: number; end: number } };
}

export const TARGETS = ["t1", "t2", "t3"];
/** Targets hold every run's instances of a session (their domains are stopped between runs). */
const TARGET_CAPACITY = { vcpus: 12, memoryMiB: 8192, diskGiB: 200 };
const sourceName = (i: number) => `s${i + 1}`;

/** A measurement that did not evacuate everything it should: the bench fails with this, never a figure. */
export class BenchFailure extends Error {
  override name = "BenchFailure";
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An execution's whole history, page by page (also the fleet bench's). */
export async function historyOf(sfn: SFNClient, executionArn: string): Promise<HistoryEvent[]> {
  const events: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    const page = await sfn.send(
      new GetExecutionHistoryCommand({ executionArn, maxResults: 1000, nextToken }),
    );
    events.push(...(page.events ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  return events;
}

/** When a history event happened, ms (NaN for none). */
export const at = (e: HistoryEvent | undefined) => (e ? new Date(e.timestamp ?? 0).getTime() : Number.NaN);
/** The event of `state`'s exit in a history. */
export const exitOf = (events: HistoryEvent[], state: string) =>
  events.find((e) => e.type?.endsWith("StateExited") && e.stateExitedEventDetails?.name === state);

/**
 * When the host-evacuation had its proof of death: the exit of the first Fence whose output holds a proof
 * (the host fenced, or its lease or an operator's word recorded), as "detect" means (bench/RESULTS.md).
 */
export function provenAt(events: HistoryEvent[]): number {
  const proven = events.find((e) => {
    const d = e.stateExitedEventDetails;
    if (!e.type?.endsWith("StateExited") || d?.name !== "Fence") return false;
    const out = JSON.parse(d.output ?? "{}") as { proof?: { proof?: string | null } };
    return typeof out.proof?.proof === "string";
  });
  return at(proven);
}

/** Nothing looks dead to the mass-failure guard now (its own index), else the measurement would not be alone. */
export async function noSuspects(cloud: LocalCloud, windowSeconds: number): Promise<void> {
  const from = new Date(Date.now() - windowSeconds * 1000).toISOString();
  const page = await cloud.stores.hosts.suspectsPage(from, { limit: 10 });
  if (page.hosts.length > 0)
    throw new BenchFailure(
      `hosts still count as suspects in the mass-failure window before the measurement: ${page.hosts.map((h) => h.name).join(", ")}`,
    );
}

/** A host brought back: its recovery has closed the incident and it is up. */
export async function recovered(cloud: LocalCloud, host: string): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const h = await cloud.stores.hosts.require(host);
    if (h.status === "up" && h.incident?.status === "closed") return;
    if (Date.now() > deadline)
      throw new BenchFailure(
        `host ${host} not recovered within 120 s (status ${h.status}, incident ${h.incident?.status})`,
      );
    await sleep(250);
  }
}

async function bootAll(cloud: LocalCloud, source: string, n: number): Promise<Instance[]> {
  const out: Instance[] = [];
  const width = 8;
  for (let i = 0; i < n; i += width) {
    const batch = Array.from({ length: Math.min(width, n - i) }, (_, k) => i + k);
    out.push(
      ...(await Promise.all(
        batch.map((k) => cloud.boot({ name: `vm-${String(k + 1).padStart(2, "0")}`, host: source })),
      )),
    );
  }
  return out;
}

/**
 * The bench's detection settings: the peers' reports (host-agent/peers.ts) before AWS's shortest alarm
 * period (one period of 10 s), the local hosts' 1 s heartbeat, and the local cloud's probe deadline; the
 * mass-failure settle only when the fleet's heartbeats do not rule it out.
 */
export const BENCH_DETECTION = {
  heartbeatSeconds: 1,
  alarmPeriodSeconds: 10,
  alarmEvaluationPeriods: 1,
  graceSeconds: 8,
  serviceDownSeconds: 30,
} as const;

/** How the results describe the detection settings. */
export function benchDetectionText(): string {
  const d = BENCH_DETECTION;
  return `heartbeat ${d.heartbeatSeconds} s, peers' beats every 1 s and a peer silent after 3 s reported (the incident opens then; the alarm, ${d.alarmPeriodSeconds} s x ${d.alarmEvaluationPeriods} period (AWS's shortest), comes later), grace ${d.graceSeconds} s; the SSM probe sent when the incident opens, its deadline ${LOCAL_PROBE_DEADLINE_MS / 1000} s; the mass-failure settle (to the latest alarm of a host that died with it) waited only when the fleet's heartbeats do not show it cannot change the guard's verdict; service down after ${d.serviceDownSeconds} s`;
}

/** The floor: each instance's domain destroyed and undefined on its target, then recreated there directly. */
async function measureFloor(
  cloud: LocalCloud,
  instances: Instance[],
  storage: Storage,
): Promise<{ seconds: number; start: number; end: number }> {
  const plans = await Promise.all(
    instances.map(async (before) => {
      const inst = await cloud.stores.instances.require(before.uuid);
      const record = await cloud.stores.hosts.require(inst.host);
      const host = cloud.fleet.hosts.get(inst.host);
      if (!host) throw new Error(`no local host ${inst.host}`);
      const uuid = inst.uuid;
      const xml = domainXmlPath(record, uuid);
      const disk = rootDiskPath(record, uuid);
      const lines = [
        ...(storage === "local"
          ? [
              `qemu-img create -q -f qcow2 -F qcow2 -b ${shellQuote(baseImagePath(record, inst.imageRef))} ${shellQuote(disk)} ${inst.flavor.diskGiB}G`,
            ]
          : []),
        `virsh -q -c qemu:///session define ${shellQuote(xml)} >/dev/null`,
        `virsh -q -c qemu:///session start ${shellQuote(uuid)} >/dev/null`,
      ];
      return { host, uuid, disk, script: `set -euo pipefail\n${lines.join("\n")}` };
    }),
  );
  // Not timed: take the evacuated copies away (the disk too where the flow created it).
  await Promise.all(
    plans.map(async (p) => {
      await p.host.virsh(["destroy", p.uuid], { allowFail: true });
      await p.host.virsh(["undefine", p.uuid]);
      if (storage === "local") await p.host.runAs("rm", ["-f", p.disk]);
    }),
  );
  const start = Date.now();
  const started = performance.now();
  const results = await Promise.all(
    plans.map((p) => p.host.runAs("bash", ["-c", p.script], { timeoutMs: 120_000 })),
  );
  const seconds = (performance.now() - started) / 1000;
  const end = Date.now();
  const failed = results.filter((r) => r.exitCode !== 0);
  if (failed.length > 0)
    throw new Error(`floor: ${failed.length} recreations failed: ${failed[0]!.stderr.trim()}`);
  for (const p of plans) {
    const st = (await p.host.virsh(["domstate", p.uuid])).stdout.trim();
    if (st !== "running") throw new Error(`floor: ${p.uuid} is ${st} after virsh start`);
  }
  // Not timed: stop the recreated guests so that they do not load the next run.
  await Promise.all(plans.map((p) => p.host.virsh(["destroy", p.uuid], { allowFail: true })));
  return { seconds, start, end };
}

/** Runs `opts.runs` in one local cloud: source host i is s<i+1>, the targets t1-t3. */
export async function runSession(opts: SessionOptions): Promise<EvacuationRunResult[]> {
  const cloud = await startLocalCloud({
    hosts: [
      ...opts.runs.map((r, i) => ({
        name: sourceName(i),
        sharedPoolId: r.storage === "shared" ? "p1" : null,
      })),
      ...TARGETS.map((name) => ({ name, sharedPoolId: "p1", capacity: TARGET_CAPACITY })),
    ],
    hostCommandDeadlineMs: 60_000,
    // Peers that notice first (host-agent/peers.ts): the sources' deaths are reported by the other hosts.
    peers: opts.peers ?? true,
    // Up to 17 hosts on a shared 2-core machine: a heartbeat can be seconds late under load; a host counts
    // down after 30 s without one (AWS: 60 s).
    serviceDownSeconds: BENCH_DETECTION.serviceDownSeconds,
    hostFailure: {
      heartbeatIntervalMs: BENCH_DETECTION.heartbeatSeconds * 1000,
      alarmPeriodSeconds: BENCH_DETECTION.alarmPeriodSeconds,
      alarmEvaluationPeriods: BENCH_DETECTION.alarmEvaluationPeriods,
      graceSeconds: BENCH_DETECTION.graceSeconds,
      maxConcurrency: Math.max(...opts.runs.map((r) => r.n)),
      ...(opts.massFailureWindowSeconds !== undefined
        ? { massFailureWindowSeconds: opts.massFailureWindowSeconds }
        : {}),
    },
  });
  opts.started?.(cloud);
  const sfn = new SFNClient({ endpoint: cloud.sfnEndpoint.url });
  const dynamoCalls: DynamoOperation[] = [];
  const ssmCommands: SsmCommandNotice[] = [];
  const offDynamo = cloud.dynamo.onOperation((op) => dynamoCalls.push(op));
  const offSsm = cloud.fleet.ssm.onCommand((c) => ssmCommands.push(c));
  try {
    // Sources wait disabled: nothing is placed on a host that is to die later in the session.
    for (let i = 0; i < opts.runs.length; i++)
      await cloud.stores.hosts.setService(sourceName(i), {
        enabled: false,
        disabledReason: "bench: a source",
      });
    const results: EvacuationRunResult[] = [];
    for (let i = 0; i < opts.runs.length; i++) {
      const plan = opts.runs[i]!;
      opts.log(
        `evacuation ${i + 1}/${opts.runs.length}: N=${plan.n}, ${plan.storage} storage, SSM latency ${plan.ssmLatencyMs} ms (load ${loadavg()[0]!.toFixed(1)})`,
      );
      // Alone: no host the guard counts, and every earlier source back and beating (a dead one would count
      // as silent in the fleet's heartbeats, and the settle would wait for it).
      await noSuspects(cloud, 120);
      dynamoCalls.length = 0;
      ssmCommands.length = 0;
      results.push(
        await measureOne(cloud, sfn, {
          ...plan,
          source: sourceName(i),
          log: opts.log,
          dynamoCalls,
          ssmCommands,
        }),
      );
      const r = results.at(-1)!;
      await opts.inspect?.(cloud, r);
      opts.log(
        `  detect ${r.detectSeconds.toFixed(1)} s, recover ${r.recoverSeconds.toFixed(1)} s, floor ${r.floorSeconds.toFixed(1)} s, ratio ${r.overheadRatio.toFixed(2)}, spread ${JSON.stringify(r.spread.perHost)}`,
      );
      if (i < opts.runs.length - 1) {
        // Its power back: host-recovery cleans it and closes the incident; then it waits disabled again.
        await cloud.restartHost(sourceName(i));
        await recovered(cloud, sourceName(i));
        await cloud.stores.hosts.setService(sourceName(i), {
          enabled: false,
          disabledReason: "bench: measured",
        });
      }
    }
    return results;
  } finally {
    offDynamo();
    offSsm();
    sfn.destroy();
    await cloud.stop();
  }
}

async function measureOne(
  cloud: LocalCloud,
  sfn: SFNClient,
  opts: EvacuationPlan & {
    source: string;
    log: (line: string) => void;
    dynamoCalls: DynamoOperation[];
    ssmCommands: SsmCommandNotice[];
  },
): Promise<EvacuationRunResult> {
  const { n, log, source, dynamoCalls, ssmCommands } = opts;
  log(`  booting ${n} instances on ${source}`);
  // Its turn: enabled for its own instances (the scheduler places nothing on a disabled host, a requested
  // one included); nothing else is being placed now, and the evacuation disables it again.
  await cloud.stores.hosts.setService(source, { enabled: true, disabledReason: null });
  const instances = await bootAll(cloud, source, n);
  const uuids = instances.map((i) => i.uuid);
  const names = new Map(instances.map((i) => [i.uuid, i.name]));
  const mentionsInstance = (text: string) => uuids.some((u) => text.includes(u));
  // SSM's latency for the measured part only (booting is not measured).
  const half = Math.round(opts.ssmLatencyMs / 2);
  cloud.fleet.ssm.setLatency({ deliveryDelayMs: half, statusDelayMs: opts.ssmLatencyMs - half });
  const ssmOpsBefore = cloud.fleet.ssm.operationCounts();
  const eventsBefore = cloud.events.events.length;
  const loadBefore = loadavg()[0]!;

  log(`  ${source} loses power`);
  const killedAt = Date.now();
  await cloud.killHost(source);
  const evacArn = cloud.stateMachineArns["host-evacuation"]!;
  // The execution of this host's incident that proved it dead (an earlier false alarm's NotDead or a
  // Duplicate does not count); one that ended without evacuating is taken after 150 s, as a failed run.
  let parent: { arn: string; status: string } | undefined;
  let fallback: { arn: string; status: string } | undefined;
  while (!parent) {
    if (Date.now() - killedAt > 150_000) {
      if (!fallback) throw new BenchFailure(`no host-evacuation of ${source} ended within 150 s`);
      parent = fallback;
      break;
    }
    await sleep(250);
    const list = await sfn.send(new ListExecutionsCommand({ stateMachineArn: evacArn, maxResults: 1000 }));
    for (const e of list.executions ?? []) {
      if (e.startDate!.getTime() < killedAt || e.status === "RUNNING") continue;
      const d = await sfn.send(new DescribeExecutionCommand({ executionArn: e.executionArn! }));
      if ((JSON.parse(d.input ?? "{}") as { host?: string }).host !== source) continue;
      const found = { arn: e.executionArn!, status: e.status! };
      if (exitOf(await historyOf(sfn, e.executionArn!), "DisableHost")) parent = found;
      else fallback ??= found;
    }
  }
  const windowEnd = Date.now();
  cloud.fleet.ssm.setLatency({});
  const loadAfter = loadavg()[0]!;
  const ssmOpsAfter = cloud.fleet.ssm.operationCounts();
  const eventsAfter = cloud.events.events.length;

  const parentEvents = await historyOf(sfn, parent.arn);
  const children = (
    await sfn.send(
      new ListExecutionsCommand({ stateMachineArn: cloud.rebuildStateMachineArn, maxResults: 1000 }),
    )
  ).executions!.filter((e) => e.startDate!.getTime() >= killedAt);
  const childData = await Promise.all(
    children.map(async (c) => {
      const d = await sfn.send(new DescribeExecutionCommand({ executionArn: c.executionArn! }));
      const uuid = (JSON.parse(d.input ?? "{}") as { instanceUuid?: string }).instanceUuid ?? "?";
      return { uuid, status: d.status!, events: await historyOf(sfn, c.executionArn!) };
    }),
  );
  const startedAt = at(parentEvents[0]);
  const detectedAt = provenAt(parentEvents);
  const endedAt = at(parentEvents.at(-1));
  const spawnEnds = childData.map((c) => at(exitOf(c.events, "Spawn")));
  const childDurations = childData.map((c) => (at(c.events.at(-1)) - at(c.events[0])) / 1000);

  // Where the instances are now, and that each runs there.
  const after = await Promise.all(uuids.map((u) => cloud.stores.instances.require(u)));
  const perHost: Record<string, number> = Object.fromEntries(TARGETS.map((t) => [t, 0]));
  let evacuated = 0;
  for (const inst of after) {
    if (inst.host === source || inst.vmState !== "active") continue;
    const st = (
      await cloud.fleet.hosts.get(inst.host)!.virsh(["domstate", inst.uuid], { allowFail: true })
    ).stdout.trim();
    if (st !== "running") continue;
    evacuated++;
    perHost[inst.host] = (perHost[inst.host] ?? 0) + 1;
  }
  if (evacuated < n) {
    // A held, aborted or partial evacuation is a failure with its reason, never a figure (issue 34).
    const incident = (await cloud.stores.hosts.get(source))?.incident;
    throw new BenchFailure(
      `${source} (N=${n}, ${opts.storage} storage): evacuated ${evacuated}/${n}, host-evacuation ${parent.status}, ` +
        `incident ${incident?.status ?? "none"} ${JSON.stringify(incident?.summary ?? null)}`,
    );
  }
  log(`  evacuated ${evacuated}/${n} (${parent.status}); measuring the floor`);
  const floor = await measureFloor(cloud, instances, opts.storage);
  const floorSeconds = floor.seconds;

  // Counts, over the window from the power loss to the end of the host-evacuation execution.
  const inWindow = (t: number) => t >= killedAt && t <= windowEnd;
  const lambdaCalls = cloud.lambda.invocations.filter((i) => inWindow(i.startedAt.getTime()));
  const lambdaByFunction: Record<string, number> = {};
  for (const i of lambdaCalls) lambdaByFunction[i.functionName] = (lambdaByFunction[i.functionName] ?? 0) + 1;
  const lambdaSeconds = lambdaCalls.reduce(
    (s, i) => s + ((i.endedAt ?? i.startedAt).getTime() - i.startedAt.getTime()) / 1000,
    0,
  );
  const windowCalls = dynamoCalls.filter((c) => inWindow(c.at));
  const windowCommands = ssmCommands.filter((c) => inWindow(c.requestedAt));
  const leaseWrites = windowCalls.filter(isHeartbeatLeaseWrite);
  const flowCalls = windowCalls.filter((c) => !isHeartbeatLeaseWrite(c));
  let writeItems = 0;
  let writeUnits = 0;
  let attributableWrites = 0;
  const dynamoWritesByTable: Record<string, number> = {};
  for (const c of flowCalls) {
    const w = dynamoWrites(c);
    if (w.items === 0) continue;
    writeItems += w.items;
    writeUnits += w.writeUnits;
    const table = dynamoTable(c).replace(/^lazarus-/, "");
    dynamoWritesByTable[table] = (dynamoWritesByTable[table] ?? 0) + w.items;
    if (mentionsInstance(c.body)) attributableWrites += w.items;
  }
  const ssmByComment: Record<string, number> = {};
  for (const c of windowCommands) {
    // Per kind of command: its comment without the instance's uuid.
    const kind = (c.comment || "(none)").replace(/\s+[0-9a-f-]{36}$/, "").replace(/\s+alarm-\S+$/, "");
    ssmByComment[kind] = (ssmByComment[kind] ?? 0) + 1;
  }
  const parentTransitions = countStateTransitions(parentEvents);
  const childTransitions = childData.map((c) => countStateTransitions(c.events));
  const childTotal = childTransitions.reduce((s, t) => s + t.entered + t.retries, 0);
  const ssmOperations: Record<string, number> = {};
  for (const [k, v] of Object.entries(ssmOpsAfter)) ssmOperations[k] = v - (ssmOpsBefore[k] ?? 0);

  // The timeline: the parent, then each instance's rebuild, by start.
  const rows = buildGantt(
    [
      { label: "host-evacuation", events: parentEvents },
      ...[...childData]
        .sort((a, b) => at(a.events[0]) - at(b.events[0]))
        .map((c) => ({ label: names.get(c.uuid) ?? c.uuid.slice(0, 8), events: c.events })),
    ],
    killedAt,
  );
  const markers: GanttMarker[] = [
    { label: "power loss", at: 0 },
    { label: "incident opened", at: (startedAt - killedAt) / 1000 },
    { label: "death proven", at: (detectedAt - killedAt) / 1000 },
  ];
  if (Number.isFinite(floorSeconds))
    markers.push({ label: "floor", at: (detectedAt - killedAt) / 1000 + floorSeconds });

  const recoverSeconds = (endedAt - detectedAt) / 1000;
  const counts = Object.values(perHost);
  const sortedDurations = [...childDurations].sort((a, b) => a - b);
  return {
    n,
    storage: opts.storage,
    ssmLatencyMs: opts.ssmLatencyMs,
    alarmSeconds: (startedAt - killedAt) / 1000,
    detectSeconds: (detectedAt - killedAt) / 1000,
    recoverSeconds,
    lastRunningSeconds: (Math.max(...spawnEnds) - detectedAt) / 1000,
    perInstanceSeconds: sortedDurations[Math.floor(sortedDurations.length / 2)] ?? Number.NaN,
    floorSeconds,
    overheadRatio: recoverSeconds / floorSeconds,
    spread: { perHost, max: Math.max(...counts), min: Math.min(...counts) },
    evacuated,
    failed: n - evacuated,
    totals: {
      stateTransitions: parentTransitions.entered + parentTransitions.retries + childTotal,
      lambdaInvocations: lambdaCalls.length,
      lambdaSeconds,
      ssmCommands: windowCommands.length,
      dynamoWriteUnits: writeUnits,
      dynamoWriteItems: writeItems,
      dynamoReadCalls: flowCalls.filter(isDynamoRead).length,
      eventBridgeEvents: eventsAfter - eventsBefore,
      heartbeatLeaseWrites: leaseWrites.length,
    },
    attributable: {
      ssmCommands: windowCommands.filter((c) => mentionsInstance(c.script)).length,
      dynamoWriteItems: attributableWrites,
      lambdaInvocations: lambdaCalls.filter((i) => mentionsInstance(JSON.stringify(i.event ?? null))).length,
      stateTransitions: childTotal,
    },
    lambdaByFunction,
    dynamoWritesByTable,
    ssmOperations,
    ssmCommandsByComment: ssmByComment,
    loadAverage: { before: loadBefore, after: loadAfter },
    gantt: { rows, markers },
    epochMs: {
      killed: killedAt,
      detected: detectedAt,
      ended: endedAt,
      floor: { start: floor.start, end: floor.end },
    },
  };
}
