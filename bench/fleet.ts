/**
 * Fleet scale on the local cloud: host evacuations in fleets of simulated hosts (local/sim: a model
 * hypervisor, an in-process agent running the hosts' real commands, heartbeats and alarms as a real host's)
 * with two real libvirt hosts mixed in, everything else the real local stack (DynamoDB API, the ASL
 * interpreter, the Lambda code). Each fleet is fresh (its own cloud): no measurement sees an earlier one's
 * dead hosts. Measured per fleet: one host's 16-instance evacuation (its time, and the reads, writes and
 * cost per evacuated instance, which must not grow with the fleet), the standing traffic of a quiet fleet
 * (heartbeats, alarms, one sweeper run, one sync run: priced per host-month in aggregate.ts), and in the
 * largest fleet, `massHosts` hosts dying at once. A held, incomplete or partial evacuation throws
 * `BenchFailure` with its reason: it is never a figure.
 */
import { randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { dirname } from "node:path";
import { DescribeExecutionCommand, ListExecutionsCommand, SFNClient } from "@aws-sdk/client-sfn";
import { randomMac } from "#local/boot.js";
import { type LocalCloud, SIM_FENCING, startLocalCloud } from "#local/cloud.js";
import type { DynamoOperation } from "#local/dynamo/dynamo-server.js";
import type { SimLatency } from "#local/sim/hypervisor.js";
import type { SsmCommandNotice } from "#local/ssm/ssm-endpoint.js";
import {
  FLEET_HEARTBEAT_METRIC,
  heartbeatLogGroupName,
  hostOfHeartbeatAlarm,
} from "#shared/definitions/heartbeat.js";
import { newHostRecord } from "#shared/domain/host-record.js";
import { type Claim, type Host, Instance, type Port } from "#shared/domain/schemas.js";
import { instanceDomainXml } from "#shared/hosts/instance-domain.js";
import { rootDiskPath } from "#shared/hosts/layout.js";
import {
  countStateTransitions,
  type DynamoUsage,
  type EvacuationCounts,
  priceOf,
  sumDynamoUsage,
} from "./cost.js";
import { at, BenchFailure, exitOf, historyOf, noSuspects, provenAt, recovered } from "./evacuation.js";

/** The detection and flow settings of every fleet (and of the speed runs on real hosts): bench/run.ts. */
export interface FleetDetection {
  heartbeatIntervalMs: number;
  alarmPeriodSeconds: number;
  alarmEvaluationPeriods: number;
  graceSeconds: number;
  heartbeatFreshSeconds: number;
  probeDeadlineMs: number;
}

export interface FleetPlan {
  /** Simulated hosts in the fleet (two real hosts are added to every fleet). */
  simulatedHosts: number;
  /** Instances on every host but the measured source. */
  instancesPerHost: number;
  /** Instances on the measured source. */
  sourceInstances: number;
  /** Hosts that die at once after the single-host measurement (0: none). */
  massHosts: number;
  detection: FleetDetection;
  /** How long the quiet fleet's own traffic is measured, s (default 30). */
  standingSeconds?: number;
  latency?: SimLatency;
  log: (line: string) => void;
}

export interface PerInstanceCounts extends EvacuationCounts {
  dynamoItemsRead: number;
  dynamoItemsWritten: number;
  dynamoReadUnits: number;
}

export interface FleetEvacuation {
  hosts: number;
  instances: number;
  /** Power loss -> the last host-evacuation execution started (alarm, EventBridge, trigger). */
  alarmSeconds: number;
  /** Power loss -> the last host proven dead and disabled. */
  detectSeconds: number;
  /** Power loss -> the last instance's Spawn done (its domain running). */
  lastRunningSeconds: number;
  /** Power loss -> the last host-evacuation execution ended (every instance confirmed elsewhere). */
  deathToAllConfirmedSeconds: number;
  perInstance: PerInstanceCounts;
  priceUSDPerInstance: ReturnType<typeof priceOf>;
  dynamoByOperation: Record<string, number>;
  loadAverage: { before: number; after: number };
}

/** What a quiet fleet sends and costs, measured over a window (priced per host-month in aggregate.ts). */
export interface StandingTraffic {
  windowSeconds: number;
  hosts: number;
  /** Heartbeat log lines and their billed bytes (message + 26), per host per second. */
  logEventsPerHostSecond: number;
  logBytesPerHostSecond: number;
  /** Bytes of one heartbeat line as billed (message + 26). */
  logBytesPerEvent: number;
  alarmsPerHost: number;
  metricsPerHost: number;
  /** Metrics of the deployment whatever its size: the fleet's heartbeat series, when the hosts sent it. */
  fleetMetrics?: number;
  /** One run of each scheduled job: its calls and units (the sync: one page of hosts). */
  sweeperRun: JobRun;
  syncRun: JobRun;
}

export interface JobRun {
  lambdaSeconds: number;
  lambdaInvocations: number;
  ssmCommands: number;
  dynamo: DynamoUsage;
  /** Hosts the run looked at (sync: one page). */
  hostsCovered: number;
}

export interface FleetResult {
  fleetSize: number;
  simulatedHosts: number;
  realHosts: number;
  instances: number;
  seedSeconds: number;
  single: FleetEvacuation;
  mass?: FleetEvacuation;
  standing: StandingTraffic;
  simHypervisorOps: Record<string, number>;
}

const REAL_HOSTS = ["real-1", "real-2"];
const SIM_POOL = "sp";
const REAL_POOL = "rp";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const simName = (i: number) => `sim-${String(i + 1).padStart(5, "0")}`;

/** Instances, claims, ports and running domains for every simulated host, written in bulk (not measured). */
async function seedFleet(cloud: LocalCloud, sources: Set<string>, plan: FleetPlan): Promise<number> {
  const sim = cloud.sim!;
  const now = new Date().toISOString();
  const hosts: Host[] = [];
  const instances: Instance[] = [];
  const ports: Port[] = [];
  for (const simHost of sim.hosts.values()) {
    const count = sources.has(simHost.name) ? plan.sourceInstances : plan.instancesPerHost;
    const base = { ...newHostRecord(simHost.record()), fencing: SIM_FENCING };
    const claims: Record<string, Claim> = {};
    const flavor = { vcpus: 1, memoryMiB: 64, diskGiB: 1 };
    for (let i = 0; i < count; i++) {
      const uuid = randomUUID();
      const port: Port = {
        id: randomUUID(),
        instanceUuid: uuid,
        mac: randomMac(),
        network: "default",
        bindingHost: simHost.name,
        status: "ACTIVE",
        preserveOnDelete: false,
        version: 0,
      };
      const instance = Instance.parse({
        uuid,
        name: `${simHost.name}-vm-${String(i + 1).padStart(2, "0")}`,
        host: simHost.name,
        node: simHost.name,
        availabilityZone: base.availabilityZone,
        flavor,
        imageRef: "cirros-0.6",
        vmState: "active",
        taskState: null,
        powerState: "running",
        ports: [port.id],
        volumes: [],
        serverGroup: null,
        haEnabled: true,
        onSharedStorage: null,
        launchedAt: now,
        createdAt: now,
        updatedAt: now,
        version: 0,
        fault: null,
      });
      claims[uuid] = {
        instanceUuid: uuid,
        resources: flavor,
        owner: `boot:${uuid}`,
        serverGroup: null,
        claimedAt: now,
      };
      const disk = rootDiskPath(base, uuid);
      mkdirSync(dirname(disk), { recursive: true });
      writeFileSync(disk, "");
      sim.hypervisors.seedDomain(simHost.name, {
        uuid,
        name: `instance-${uuid}`,
        state: "running",
        xml: instanceDomainXml({ instance, host: base, ports: [port], volumes: [] }),
        disks: [disk],
      });
      instances.push(instance);
      ports.push(port);
    }
    hosts.push({
      ...base,
      usage: {
        vcpus: count * flavor.vcpus,
        memoryMiB: count * flavor.memoryMiB,
        diskGiB: count * flavor.diskGiB,
      },
      claims,
    });
  }
  await cloud.stores.hosts.putMany(hosts);
  await cloud.stores.ports.putMany(ports);
  await cloud.stores.instances.putMany(instances);
  return instances.length;
}

/**
 * Until every host's heartbeat alarm (a host's only alarm) says OK: the fleet's heartbeats are in, nothing is
 * measured before. The paging alarms are not waited for: their 60 s periods take two minutes to leave
 * INSUFFICIENT_DATA, and none of them starts or stops an evacuation.
 */
async function alarmsSettled(cloud: LocalCloud, log: (line: string) => void): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const alarms = cloud.cloudwatch.evaluator
      .list()
      .filter((a) => hostOfHeartbeatAlarm(a.definition.name) !== undefined);
    const notOk = alarms.filter((a) => a.state !== "OK");
    if (notOk.length === 0) {
      log(`  every heartbeat alarm OK (${alarms.length})`);
      return;
    }
    if (Date.now() > deadline)
      throw new BenchFailure(
        `alarms not OK after 120 s: ${notOk
          .slice(0, 5)
          .map((a) => `${a.definition.name} ${a.state}`)
          .join(", ")}`,
      );
    await sleep(500);
  }
}

interface Counters {
  dynamo: DynamoOperation[];
  ssm: SsmCommandNotice[];
}

/** Kills `sources` at once and waits for every instance of theirs to run elsewhere; counts over the window. */
async function evacuate(
  cloud: LocalCloud,
  sfn: SFNClient,
  sources: string[],
  counters: Counters,
  log: (line: string) => void,
): Promise<FleetEvacuation> {
  const before = await Promise.all(sources.map((s) => cloud.stores.instances.listByHost(s)));
  const uuids = before.flat().map((i) => i.uuid);
  const eventsBefore = cloud.events.events.length;
  const loadBefore = loadavg()[0]!;
  counters.dynamo.length = 0;
  counters.ssm.length = 0;
  const killedAt = Date.now();
  await Promise.all(sources.map((s) => cloud.killHost(s)));
  log(
    `  ${sources.length === 1 ? sources[0] : `${sources.length} hosts`} lost power (${uuids.length} instances)`,
  );

  // Each source's incident ends (evacuated, or held/aborted: a failure with its reason).
  const deadline = killedAt + 600_000;
  const ended = new Map<string, Host>();
  while (ended.size < sources.length) {
    if (Date.now() > deadline)
      throw new BenchFailure(`${sources.length - ended.size} host evacuations not ended within 600 s`);
    await sleep(250);
    const hosts = await cloud.stores.hosts.getMany(sources.filter((s) => !ended.has(s)));
    for (const h of hosts) {
      const inc = h.incident;
      if (!inc || Date.parse(inc.openedAt) < killedAt) continue;
      if (inc.status === "held")
        throw new BenchFailure(
          `host ${h.name}'s evacuation was held (mass-failure guard): ${JSON.stringify(inc.summary)}`,
        );
      if (inc.status === "aborted" || inc.status === "not-dead")
        throw new BenchFailure(
          `host ${h.name}'s incident ended ${inc.status}: ${JSON.stringify(inc.summary)}`,
        );
      if (inc.status === "evacuated") ended.set(h.name, h);
    }
  }
  // The parents' executions end right after the report: wait for them to be over before counting.
  const evacArn = cloud.stateMachineArns["host-evacuation"]!;
  const names = new Set([...ended.values()].map((h) => h.incident!.executionName));
  let parents: { arn: string; status: string }[] = [];
  for (let i = 0; i < 200; i++) {
    const list = await sfn.send(new ListExecutionsCommand({ stateMachineArn: evacArn, maxResults: 1000 }));
    parents = (list.executions ?? [])
      .filter((e) => names.has(e.name ?? ""))
      .map((e) => ({ arn: e.executionArn!, status: e.status! }));
    if (parents.length === names.size && parents.every((p) => p.status !== "RUNNING")) break;
    await sleep(100);
  }
  const windowEnd = Date.now();
  const loadAfter = loadavg()[0]!;
  const failedParents = parents.filter((p) => p.status !== "SUCCEEDED");
  if (parents.length !== names.size || failedParents.length > 0) {
    const causes = await Promise.all(
      failedParents.map(
        async (p) =>
          (await sfn.send(new DescribeExecutionCommand({ executionArn: p.arn }))).cause ?? p.status,
      ),
    );
    throw new BenchFailure(`host evacuations not SUCCEEDED: ${causes.join(" | ").slice(0, 2000)}`);
  }

  // Every instance runs exactly once, on the host its record names, with no task.
  const after = await cloud.stores.instances.getMany(uuids);
  const wrong: string[] = [];
  for (const inst of after) {
    const running = [
      ...cloud.sim!.hypervisors.runningOn(inst.uuid),
      ...(await realRunningOn(cloud, inst.uuid)),
    ];
    if (sources.includes(inst.host) || inst.vmState !== "active" || inst.taskState !== null)
      wrong.push(`${inst.name}: ${inst.host} ${inst.vmState}/${inst.taskState}`);
    else if (running.length !== 1 || running[0] !== inst.host)
      wrong.push(`${inst.name}: running on [${running.join(", ")}]`);
  }
  if (after.length !== uuids.length || wrong.length > 0)
    throw new BenchFailure(
      `evacuated ${uuids.length - wrong.length}/${uuids.length}: ${wrong.slice(0, 10).join("; ")}`,
    );

  // Times from the histories: the parents', and every child rebuild started in the window.
  const parentEvents = await Promise.all(parents.map((p) => historyOf(sfn, p.arn)));
  const children = (
    await sfn.send(
      new ListExecutionsCommand({ stateMachineArn: cloud.rebuildStateMachineArn, maxResults: 1000 }),
    )
  ).executions!.filter((e) => e.startDate!.getTime() >= killedAt);
  const childEvents = await Promise.all(children.map((c) => historyOf(sfn, c.executionArn!)));
  const latest = (xs: number[]) => Math.max(...xs);
  const alarmAt = latest(parentEvents.map((e) => at(e[0])));
  const detectedAt = latest(parentEvents.map((e) => provenAt(e)));
  const lastSpawn = latest(childEvents.map((e) => at(exitOf(e, "Spawn"))));
  const endAt = latest(parentEvents.map((e) => at(e.at(-1))));

  const inWindow = (t: number) => t >= killedAt && t <= windowEnd;
  const lambda = cloud.lambda.invocations.filter((i) => inWindow(i.startedAt.getTime()));
  const dynamoCalls = counters.dynamo.filter((c) => inWindow(c.at));
  const usage = sumDynamoUsage(dynamoCalls);
  const transitions = [...parentEvents, ...childEvents]
    .map(countStateTransitions)
    .reduce((n, t) => n + t.entered + t.retries, 0);
  const n = uuids.length;
  const totals: EvacuationCounts = {
    stateTransitions: transitions,
    lambdaInvocations: lambda.length,
    lambdaSeconds: lambda.reduce(
      (s, i) => s + ((i.endedAt ?? i.startedAt).getTime() - i.startedAt.getTime()) / 1000,
      0,
    ),
    ssmCommands: counters.ssm.filter((c) => inWindow(c.requestedAt)).length,
    dynamoWriteUnits: usage.writeUnits,
    dynamoReadCalls: usage.readUnits,
    eventBridgeEvents: cloud.events.events.length - eventsBefore,
  };
  const per = (v: number) => v / n;
  const perInstance: PerInstanceCounts = {
    stateTransitions: per(totals.stateTransitions),
    lambdaInvocations: per(totals.lambdaInvocations),
    lambdaSeconds: per(totals.lambdaSeconds),
    ssmCommands: per(totals.ssmCommands),
    dynamoWriteUnits: per(usage.writeUnits),
    dynamoReadCalls: per(usage.readUnits),
    eventBridgeEvents: per(totals.eventBridgeEvents),
    dynamoItemsRead: per(usage.itemsRead),
    dynamoItemsWritten: per(usage.itemsWritten),
    dynamoReadUnits: per(usage.readUnits),
  };
  const dynamoByOperation: Record<string, number> = {};
  for (const c of dynamoCalls) dynamoByOperation[c.op] = (dynamoByOperation[c.op] ?? 0) + 1;
  return {
    hosts: sources.length,
    instances: n,
    alarmSeconds: (alarmAt - killedAt) / 1000,
    detectSeconds: (detectedAt - killedAt) / 1000,
    lastRunningSeconds: (lastSpawn - killedAt) / 1000,
    deathToAllConfirmedSeconds: (endAt - killedAt) / 1000,
    perInstance,
    priceUSDPerInstance: priceOf(perInstance),
    dynamoByOperation,
    loadAverage: { before: loadBefore, after: loadAfter },
  };
}

/** The real hosts on which `uuid` runs (virsh, as their users). */
async function realRunningOn(cloud: LocalCloud, uuid: string): Promise<string[]> {
  const out: string[] = [];
  for (const [name, host] of cloud.fleet.hosts) {
    if (!host.running) continue;
    const st = (await host.virsh(["domstate", uuid], { allowFail: true })).stdout.trim();
    if (st === "running") out.push(name);
  }
  return out;
}

/** A quiet fleet's own traffic over `seconds`, and one run of each scheduled job. */
async function standingTraffic(
  cloud: LocalCloud,
  counters: Counters,
  hosts: number,
  seconds: number,
): Promise<StandingTraffic> {
  const logs0 = { ...cloud.logs.counts };
  await sleep(seconds * 1000);
  const events = cloud.logs.counts.events - logs0.events;
  const bytes = cloud.logs.counts.bytes - logs0.bytes;
  const job = async (id: string, covered: (result: unknown) => number): Promise<JobRun> => {
    counters.dynamo.length = 0;
    counters.ssm.length = 0;
    const started = Date.now();
    const result = await cloud.runScheduled(id);
    const calls = cloud.lambda.invocations.filter((i) => i.startedAt.getTime() >= started);
    return {
      lambdaSeconds: calls.reduce(
        (s, i) => s + ((i.endedAt ?? new Date()).getTime() - i.startedAt.getTime()) / 1000,
        0,
      ),
      lambdaInvocations: calls.length,
      ssmCommands: counters.ssm.length,
      dynamo: sumDynamoUsage(counters.dynamo),
      hostsCovered: covered(result),
    };
  };
  const sweeperRun = await job("sweeper", () => hosts);
  const syncRun = await job(
    "inventory-sync",
    (r) => ((r as { hosts?: unknown[] } | null)?.hosts ?? []).length,
  );
  const alarms = cloud.cloudwatch.evaluator.list();
  const metrics = new Set(
    alarms.map((a) => JSON.stringify([a.definition.metricName, a.definition.dimensions])),
  );
  return {
    windowSeconds: seconds,
    hosts,
    logEventsPerHostSecond: events / hosts / seconds,
    logBytesPerHostSecond: bytes / hosts / seconds,
    logBytesPerEvent: events > 0 ? bytes / events : 0,
    alarmsPerHost: alarms.length / hosts,
    metricsPerHost: metrics.size / hosts,
    fleetMetrics:
      cloud.cloudwatch.data(FLEET_HEARTBEAT_METRIC.namespace, FLEET_HEARTBEAT_METRIC.metricName, {
        // The bench's cloud has the default prefix.
        [FLEET_HEARTBEAT_METRIC.dimension]: heartbeatLogGroupName(),
      }).length > 0
        ? 1
        : 0,
    sweeperRun,
    syncRun,
  };
}

/** One fresh fleet: seeded, settled, the standing traffic measured, one host and then `massHosts` killed. */
export async function runFleet(plan: FleetPlan): Promise<FleetResult> {
  const { log, detection: d } = plan;
  const t0 = Date.now();
  const simulated = Array.from({ length: plan.simulatedHosts }, (_, i) => ({
    name: simName(i),
    sharedPoolId: SIM_POOL,
  }));
  const cloud = await startLocalCloud({
    hosts: REAL_HOSTS.map((name) => ({ name, sharedPoolId: REAL_POOL })),
    simulatedHosts: simulated,
    ...(plan.latency ? { simLatency: plan.latency } : {}),
    recordHeartbeats: false,
    hostCommandDeadlineMs: 60_000,
    serviceDownSeconds: 60,
    hostFailure: {
      heartbeatIntervalMs: d.heartbeatIntervalMs,
      alarmPeriodSeconds: d.alarmPeriodSeconds,
      alarmEvaluationPeriods: d.alarmEvaluationPeriods,
      graceSeconds: d.graceSeconds,
      heartbeatFreshSeconds: d.heartbeatFreshSeconds,
      probeDeadlineMs: d.probeDeadlineMs,
      maxConcurrency: Math.max(plan.sourceInstances, plan.instancesPerHost),
      fencing: { power: "local", watchdog: false, diskLocks: true },
    },
  });
  const sfn = new SFNClient({ endpoint: cloud.sfnEndpoint.url });
  const counters: Counters = { dynamo: [], ssm: [] };
  const offDynamo = cloud.dynamo.onOperation((op) => counters.dynamo.push(op));
  const offSsm = cloud.fleet.ssm.onCommand((c) => counters.ssm.push(c));
  try {
    const fleetSize = plan.simulatedHosts + REAL_HOSTS.length;
    // The measured source, and the hosts that die together later: spread over the fleet.
    const single = simName(Math.floor(plan.simulatedHosts / 2));
    const step = Math.max(1, Math.floor(plan.simulatedHosts / Math.max(1, plan.massHosts)));
    const mass = Array.from({ length: plan.massHosts }, (_, k) =>
      simName((k * step + 1) % plan.simulatedHosts),
    ).filter((n) => n !== single);
    const instances = await seedFleet(cloud, new Set([single]), plan);
    const seedSeconds = (Date.now() - t0) / 1000;
    log(
      `  fleet of ${fleetSize} hosts (${plan.simulatedHosts} simulated, ${REAL_HOSTS.length} real), ${instances} instances seeded in ${seedSeconds.toFixed(1)} s`,
    );
    await alarmsSettled(cloud, log);
    const window = plan.standingSeconds ?? 30;
    log(`  measuring the quiet fleet's own traffic (${window} s), one sweeper run, one sync run`);
    const standing = await standingTraffic(cloud, counters, fleetSize, window);
    await noSuspects(cloud, 120);
    log(`  one host's ${plan.sourceInstances}-instance evacuation`);
    const singleResult = await evacuate(cloud, sfn, [single], counters, log);
    log(
      `  ${singleResult.instances} back: death -> all running ${singleResult.lastRunningSeconds.toFixed(1)} s (detect ${singleResult.detectSeconds.toFixed(1)} s); per instance ${singleResult.perInstance.dynamoItemsRead.toFixed(1)} items read, ${singleResult.perInstance.dynamoItemsWritten.toFixed(1)} written`,
    );
    let massResult: FleetEvacuation | undefined;
    if (mass.length > 0) {
      // The first source back (host-recovery cleans it): it no longer counts for the guard.
      await cloud.restartHost(single);
      await recovered(cloud, single);
      await noSuspects(cloud, 120);
      log(`  ${mass.length} hosts die at once`);
      massResult = await evacuate(cloud, sfn, mass, counters, log);
      log(
        `  ${massResult.instances} back: death -> all running ${massResult.lastRunningSeconds.toFixed(1)} s; $${(massResult.priceUSDPerInstance.total * 1000).toFixed(4)} per 1,000 instances`,
      );
    }
    return {
      fleetSize,
      simulatedHosts: plan.simulatedHosts,
      realHosts: REAL_HOSTS.length,
      instances,
      seedSeconds,
      single: singleResult,
      ...(massResult ? { mass: massResult } : {}),
      standing,
      simHypervisorOps: { ...cloud.sim!.hypervisors.counts },
    };
  } finally {
    offDynamo();
    offSsm();
    sfn.destroy();
    await cloud.stop();
  }
}
