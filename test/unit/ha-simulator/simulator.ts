/**
 * A deterministic simulator of host failure (Proxmox's pve-ha-manager simulator, for Lazarus): a fake
 * clock in 1 s ticks (sim-scheduler.ts), a model of the machine room (hosts' power, network, agent,
 * libvirtd, watchdog device, clock skew, fence hardware, disk locks; which domain runs where), and the
 * control plane as deployed: the REAL host-failure steps (functions/host-failure/steps, by the step table
 * the Lambda handlers use) and instance-failure steps (functions/instance-failure/steps) on real stores
 * (dynalite), run in the order state-machines/host-evacuation.asl.json, host-recovery.asl.json and
 * instance-recovery.asl.json define (asl-interpreter.ts). The outside world reaches the steps through their
 * interfaces: the heartbeat metric and the fleet series (HeartbeatReader; a compromised host may inflate the
 * series, `forge-fleet-series`), the power fence (host-power's EC2 path, PowerFence),
 * SSM (HostExecutor: the liveness probe, the clean-up, a domain's state, a restart in place), Step Functions
 * (ExecutionStarter), alerts, and the host agent's guest monitor, which after every new boot reports each
 * domain it finds shut off (`host-reset`) through the real trigger. A child rebuild execution is modelled
 * here with the rebuild machine's real Accept (the admission of every evacuation), Schedule, Finish and
 * HandleFailure, and the target's start judged by the world (started; or refused by a disk lock some other
 * powered host holds).
 *
 * The world checks the one rule an HA system must never break by itself, whatever the log says: at no
 * tick does one instance run on two powered hosts (a restart in place included); and no host-evacuation
 * ends SUCCEEDED while an instance its policy should evacuate is left on the dead host (stranded). Either is
 * a "VIOLATION" line.
 */

import { negotiate } from "#functions/api/microversion.js";
import { evacuateAsk } from "#functions/api/routes/server-actions.js";
import { accept } from "#functions/conductor/steps/accept.js";
import { finish } from "#functions/conductor/steps/finish.js";
import { handleFailure } from "#functions/conductor/steps/handle-failure.js";
import { schedule } from "#functions/conductor/steps/schedule.js";
import { HOST_FAILURE_STEPS, type HostFailureStepName } from "#functions/host-failure/steps/index.js";
import {
  INSTANCE_FAILURE_STEPS,
  type InstanceFailureStepName,
} from "#functions/instance-failure/steps/index.js";
import { HOST_FAILURE_FUNCTIONS, INSTANCE_FAILURE_FUNCTIONS } from "#shared/definitions/functions.js";
import { HEARTBEAT_ALARM_PREFIX, HEARTBEAT_METRIC } from "#shared/definitions/heartbeat.js";
import { readDefinition, stateMachineSpec } from "#shared/definitions/state-machines.js";
import {
  HostCommandFailed,
  HostCommandTimedOut,
  HostUnreachable,
  isLazarusError,
} from "#shared/domain/errors.js";
import { withClaim } from "#shared/domain/evacuation-plan.js";
import { type FencingConfig, type HeartbeatSample, operatorProof } from "#shared/domain/fencing.js";
import {
  AlarmStateChangeEvent,
  DEFAULT_HOST_FAILURE_CONFIG,
  type HostFailureConfig,
} from "#shared/domain/host-failure.js";
import { deterministicUuid } from "#shared/domain/ids.js";
import { DOMAIN_STOPPED_EVENT, DomainStoppedEvent, HOST_RESET } from "#shared/domain/instance-failure.js";
import { Host, Instance } from "#shared/domain/schemas.js";
import { assertAdmissible, readAdmissionFacts } from "#shared/flow/admission.js";
import type { FlowState } from "#shared/flow/contract.js";
import { executionArnOf } from "#shared/flow/executions.js";
import { endsStopped } from "#shared/flow/flow-state.js";
import type {
  HostCommand,
  HostExecutor,
  HostTarget,
  ProbeSender,
  RunOptions,
  RunResult,
  SentCommand,
} from "#shared/hosts/executor.js";
import type { PowerFence } from "#shared/hosts/power-fence.js";
import type { HostFailureDeps } from "#shared/lambda/host-failure-runtime.js";
import type { InstanceFailureDeps } from "#shared/lambda/instance-failure-runtime.js";
import type { HeartbeatReader } from "#shared/metrics/heartbeat-reader.js";
import type { Stores } from "#shared/store/index.js";
import { AslInterpreter, type Definition, type Json, StatesError } from "./asl-interpreter.js";
import { SimScheduler } from "./sim-scheduler.js";

// ---- scenario --------------------------------------------------------------------------------------

export interface SimConfig extends HostFailureConfig, FencingConfig {
  /** Seconds without a heartbeat datapoint before the alarm goes to ALARM (periods x evaluation periods). */
  alarmAfterSeconds: number;
  /** How long an unanswered probe takes to fail (the SSM deadline); an answer takes 1 s. */
  probeSeconds: number;
  /** How long a fence takes to answer when the hardware works. */
  fenceSeconds: number;
  /** How long one child evacuation takes. */
  evacuateSeconds: number;
}

export const SIM_DEFAULTS: SimConfig = {
  heartbeatIntervalSeconds: 5,
  alarmAfterSeconds: 20,
  heartbeatFreshSeconds: 15,
  graceSeconds: 30,
  policy: "all",
  maxConcurrency: 2,
  // The deployed default: one 10 s alarm period and the margin.
  massFailureSettleSeconds: DEFAULT_HOST_FAILURE_CONFIG.massFailureSettleSeconds,
  latestAlarmSeconds: DEFAULT_HOST_FAILURE_CONFIG.latestAlarmSeconds,
  massFailureShare: 1 / 3,
  massFailureWindowSeconds: 120,
  leaseSeconds: 60,
  leaseMarginSeconds: 15,
  fenceTimeoutSeconds: 30,
  fenceRetrySeconds: 30,
  probeSeconds: 10,
  fenceSeconds: 5,
  evacuateSeconds: 10,
  maxProofRounds: 10,
};

const HOST_ACTIONS = [
  "power-off",
  "power-on",
  "network-down",
  "network-up",
  "agent-down",
  "agent-up",
  "libvirtd-freeze",
  "libvirtd-thaw",
  "feeder-fail",
  "feeder-ok",
  "heartbeat-path-down",
  "heartbeat-path-up",
  "forge-fleet-series",
  "fence-hw",
  "skew",
  "redeliver-alarm",
  "operator-evacuate",
  "operator-force-down",
  "operator-force-up",
] as const;
const SERVER_ACTIONS = ["server-evacuate"] as const;
/**
 * `at T step-fails STEP N`: the next N invocations of host-failure step STEP (its handler's name, e.g.
 * reportEvacuation) fail with DynamoDB's InternalServerError before they do anything (a retried one too).
 */
const CONTROL_ACTIONS = ["step-fails"] as const;
type HostAction = (typeof HOST_ACTIONS)[number];
type ServerAction = (typeof SERVER_ACTIONS)[number];
type ControlAction = (typeof CONTROL_ACTIONS)[number];

interface ScenarioEvent {
  at: number;
  action: HostAction | ServerAction | ControlAction;
  /** A host, (server actions) an instance name, or (step-fails) a host-failure step. */
  target: string;
  arg: string | null;
}

type FenceHw = "ok" | "fail" | "hang" | "down-with-host";
const FENCE_HW: readonly FenceHw[] = ["ok", "fail", "hang", "down-with-host"];

/**
 * What resets the node when its agent stops feeding it. `device`: a kernel/hardware watchdog (armed at
 * boot with `timeout` seconds; the heartbeat reports it); it resets the node however its user space and
 * libvirtd are. `unarmed`: a device no one armed (the heartbeat says 0). `guard`: the old user-space
 * guard process (the local cloud's before the watchdog device): reports 0, dies with the agent, acts
 * through libvirtd.
 */
type Watchdog = { kind: "device"; timeout: number | null } | { kind: "unarmed" } | { kind: "guard" } | null;

interface HostSpec {
  record: Host;
  fenceHw: FenceHw;
  skew: number;
  watchdog: Watchdog;
  /** The pool's hosts really enforce the disk lock (the world refuses a second opener). */
  locks: boolean;
  /** Seconds a reset node takes to boot again; null = it stays down. */
  reboot: number | null;
  /** Seconds between an accepted heartbeat and the device's feed. */
  feedDelay: number;
}

export interface Scenario {
  config: SimConfig;
  hosts: HostSpec[];
  instances: Instance[];
  events: ScenarioEvent[];
  runUntil: number;
}

const T0 = Date.UTC(2026, 0, 1);
/** The simulated deployment's fleet series dimension (its heartbeat log group). */
const SIM_FLEET = "/lazarus/host-heartbeats";
const at = (t: number) => new Date(T0 + t * 1000);
const CONFIG_KEYS: Record<string, keyof SimConfig> = {
  heartbeat: "heartbeatIntervalSeconds",
  alarm: "alarmAfterSeconds",
  fresh: "heartbeatFreshSeconds",
  grace: "graceSeconds",
  concurrency: "maxConcurrency",
  "mass-share": "massFailureShare",
  "mass-window": "massFailureWindowSeconds",
  lease: "leaseSeconds",
  "lease-margin": "leaseMarginSeconds",
  "fence-timeout": "fenceTimeoutSeconds",
  "fence-retry": "fenceRetrySeconds",
  probe: "probeSeconds",
  fence: "fenceSeconds",
  evacuate: "evacuateSeconds",
  "proof-rounds": "maxProofRounds",
  settle: "massFailureSettleSeconds",
};

function kv(words: string[]): { flags: Set<string>; values: Map<string, string> } {
  const flags = new Set<string>();
  const values = new Map<string, string>();
  for (const w of words) {
    const eq = w.indexOf("=");
    if (eq > 0) values.set(w.slice(0, eq), w.slice(eq + 1));
    else flags.add(w);
  }
  return { flags, values };
}

function watchdogOf(flags: Set<string>, values: Map<string, string>): Watchdog {
  const w = values.get("watchdog") ?? (flags.has("watchdog") ? "device" : null);
  if (w === null) return null;
  if (w === "device") return { kind: "device", timeout: null };
  if (w === "unarmed" || w === "guard") return { kind: w };
  const timeout = Number(w);
  if (!Number.isInteger(timeout) || timeout < 1) throw new Error(`watchdog=${w}`);
  return { kind: "device", timeout };
}

/**
 * The scenario language, one statement per line (`#` starts a comment):
 *   config grace=30 lease=60 concurrency=2 policy=ha-only ...
 *   host NAME [pool=P|local] [power=local|ec2|none] [locks] [watchdog[=T|unarmed|guard]] [reboot=S]
 *        [feed-delay=S] [vcpus=N] [mem=MiB] [disk=GiB] [disabled] [fence-hw=ok|fail|hang|down-with-host]
 *        [skew=SECONDS]
 *   instance NAME on HOST [prio=N] [vcpus=N] [mem=MiB] [disk=GiB] [stopped] [error] [not-ha] [local-disk]
 *        [anti-affinity=GROUP]
 *   at SECONDS ACTION HOST [ARG]   power-off power-on network-down network-up agent-down agent-up
 *                                  libvirtd-freeze libvirtd-thaw feeder-fail feeder-ok
 *                                  heartbeat-path-down heartbeat-path-up fence-hw STATE, skew SECONDS,
 *                                  forge-fleet-series FACTOR, redeliver-alarm COUNT,
 *                                  operator-evacuate (the host), operator-force-down, operator-force-up
 *   at SECONDS server-evacuate INSTANCE [MICROVERSION]   an operator's evacuate through the API's admission
 *   run SECONDS
 * `watchdog` alone is a device whose timeout is the lease; `locks`: the pool's hosts enforce the image lock
 * (the record says so and the world refuses a second opener). `forge-fleet-series FACTOR`: from then on each
 * heartbeat of the host that reaches CloudWatch adds FACTOR times its interval to the fleet series instead
 * of once (a compromised host's extra EMF lines or larger interval; EMF duplicates; a host beating more often
 * than the setting); 1 is honest again, 0 adds nothing (its beats read as silence there).
 */
export function parseScenario(text: string): Scenario {
  const config: SimConfig = { ...SIM_DEFAULTS };
  const hosts: HostSpec[] = [];
  const instances: Instance[] = [];
  const events: ScenarioEvent[] = [];
  let runUntil = 0;
  text.split("\n").forEach((raw, index) => {
    const line = index + 1;
    const words = raw.replace(/#.*/, "").trim().split(/\s+/).filter(Boolean);
    const [kind, ...rest] = words;
    const fail = (msg: string): never => {
      throw new Error(`scenario line ${line}: ${msg}: ${raw}`);
    };
    if (!kind) return;
    if (kind === "config") {
      for (const [k, v] of kv(rest).values) {
        if (k === "policy") config.policy = v === "ha-only" ? "ha-only" : "all";
        else {
          const key = CONFIG_KEYS[k] ?? fail(`unknown config ${k}`);
          const n = Number(v);
          if (!Number.isFinite(n)) fail(`not a number: ${v}`);
          (config as unknown as Record<string, number>)[key] = n;
        }
      }
    } else if (kind === "host") {
      const [name, ...opts] = rest;
      if (!name) fail("host needs a name");
      const { flags, values } = kv(opts);
      const pool = values.get("pool") ?? "p1";
      const power = values.get("power") ?? "none";
      if (power !== "none" && power !== "ec2" && power !== "local") fail(`power ${power}`);
      const hw = (values.get("fence-hw") ?? "ok") as FenceHw;
      if (!FENCE_HW.includes(hw)) fail(`fence-hw ${hw}`);
      let watchdog: Watchdog = null;
      try {
        watchdog = watchdogOf(flags, values);
      } catch (e) {
        fail((e as Error).message);
      }
      const locks = flags.has("locks");
      const record = Host.parse({
        name,
        managedInstanceId: `mi-${deterministicUuid("sim-host", name!).replace(/-/g, "").slice(0, 17)}`,
        virtType: "qemu",
        supportsRecreate: true,
        availabilityZone: "az1",
        capacity: {
          vcpus: Number(values.get("vcpus") ?? 8),
          memoryMiB: Number(values.get("mem") ?? 8192),
          diskGiB: Number(values.get("disk") ?? 100),
        },
        allocationRatios: { cpu: 1, ram: 1, disk: 1 },
        usage: { vcpus: 0, memoryMiB: 0, diskGiB: 0 },
        claims: {},
        antiAffinity: {},
        enabled: !flags.has("disabled"),
        disabledReason: flags.has("disabled") ? "reserved by the operator" : null,
        forcedDown: false,
        status: "up",
        // As in AWS: liveness is the alarm's (status), not a heartbeat time on the record.
        lastHeartbeatAt: null,
        storage: {
          instancesPath: "/var/lib/lazarus/instances",
          sharedPoolId: pool === "local" ? null : pool,
          imageCachePath: "/var/lib/lazarus/images",
          volumesPath: "/var/lib/lazarus/volumes",
        },
        incident: null,
        // What registration declared; the control plane never counts on it (the heartbeats say).
        fencing: { power, watchdog: watchdog !== null, diskLocks: locks },
        version: 0,
      });
      const reboot = values.get("reboot");
      hosts.push({
        record,
        fenceHw: hw,
        skew: Number(values.get("skew") ?? 0),
        watchdog,
        locks,
        reboot: reboot === undefined ? null : Number(reboot),
        feedDelay: Number(values.get("feed-delay") ?? 0),
      });
    } else if (kind === "instance") {
      const [name, on, hostName, ...opts] = rest;
      if (!name || on !== "on" || !hostName) fail("instance NAME on HOST");
      const { flags, values } = kv(opts);
      const group = values.get("anti-affinity");
      const inst = Instance.parse({
        uuid: deterministicUuid("sim-instance", name!),
        name,
        host: hostName,
        node: hostName,
        availabilityZone: "az1",
        flavor: {
          vcpus: Number(values.get("vcpus") ?? 1),
          memoryMiB: Number(values.get("mem") ?? 1024),
          diskGiB: Number(values.get("disk") ?? 10),
        },
        imageRef: "cirros-0.6.2",
        vmState: flags.has("error") ? "error" : flags.has("stopped") ? "stopped" : "active",
        taskState: null,
        taskRequestId: null,
        powerState: flags.has("stopped") || flags.has("error") ? "shutdown" : "running",
        ports: [],
        volumes: [],
        serverGroup: group ? { id: group, policy: "anti-affinity" } : null,
        haEnabled: !flags.has("not-ha"),
        haPriority: Number(values.get("prio") ?? 0),
        onSharedStorage: flags.has("local-disk") ? false : null,
        launchedAt: at(0).toISOString(),
        createdAt: at(0).toISOString(),
        updatedAt: at(0).toISOString(),
        version: 0,
        fault: null,
      });
      instances.push(inst);
      const h = hosts.find((x) => x.record.name === hostName) ?? fail(`unknown host ${hostName}`);
      h.record = withClaim(h.record, inst, `boot-${name}`, at(0));
    } else if (kind === "at") {
      const [t, action, target, arg] = rest;
      if (HOST_ACTIONS.includes(action as HostAction)) {
        if (!target || !hosts.some((h) => h.record.name === target)) fail(`unknown host ${target}`);
        if (action === "forge-fleet-series" && !(Number(arg) >= 0))
          fail("forge-fleet-series FACTOR: a number >= 0");
      } else if (SERVER_ACTIONS.includes(action as ServerAction)) {
        if (!target || !instances.some((i) => i.name === target)) fail(`unknown instance ${target}`);
      } else if (CONTROL_ACTIONS.includes(action as ControlAction)) {
        if (!target || !(target in HOST_FAILURE_STEPS)) fail(`unknown host-failure step ${target}`);
        if (!(Number(arg) > 0)) fail("step-fails STEP N: N invocations");
      } else fail(`unknown action ${action}`);
      events.push({ at: Number(t), action: action as HostAction, target: target!, arg: arg ?? null });
    } else if (kind === "run") {
      runUntil = Number(rest[0]);
    } else fail(`unknown statement ${kind}`);
  });
  if (!(runUntil > 0)) throw new Error("scenario has no `run SECONDS`");
  return { config, hosts, instances, events, runUntil };
}

// ---- the world -------------------------------------------------------------------------------------

interface WorldHost {
  spec: HostSpec;
  power: boolean;
  network: boolean;
  agent: boolean;
  libvirtd: boolean;
  feeder: boolean;
  /** Its heartbeats reach CloudWatch (false: the path is broken; the host and its agent run on). */
  heartbeatPath: boolean;
  /** How many times its interval each of its heartbeats adds to the fleet series (1: honest). */
  fleetSeriesFactor: number;
  skew: number;
  fenceHw: FenceHw;
  /** The device's last feed (seconds); null = not armed. */
  fedAt: number | null;
  /** The guard process's last feed (its file), while it runs. */
  guardFedAt: number | null;
  pendingFeeds: number[];
  rebootAt: number | null;
  /** When a fence that was asked to power the host off does it. */
  fenceOffAt: number | null;
  /** The last boot (tick), and when its agent's monitor reports the domains it finds shut off. */
  bootedAt: number | null;
  monitorReportAt: number | null;
  running: Set<string>;
  defined: Set<string>;
}

export interface SimResult {
  log: string[];
  violations: string[];
}

/** What the caller gives: real stores on fresh tables, and the way to set their clock to the scenario's. */
export interface Parts {
  stores: Stores;
  clock(now: () => Date): void;
}

const ARN = {
  hostEvacuation: "arn:sim:stateMachine:lazarus-host-evacuation",
  hostRecovery: "arn:sim:stateMachine:lazarus-host-recovery",
  instanceRecovery: "arn:sim:stateMachine:lazarus-instance-recovery",
  rebuild: "arn:sim:stateMachine:lazarus-rebuild",
};
const MACHINE_NAMES: Record<string, string> = {
  [ARN.hostEvacuation]: "host-evacuation",
  [ARN.hostRecovery]: "host-recovery",
  [ARN.instanceRecovery]: "instance-recovery",
};

const STEP_OF_PLACEHOLDER = new Map(
  HOST_FAILURE_FUNCTIONS.filter((f) => f.role === "step").map((f) => [
    `\${${f.placeholder}}`,
    f.handler as HostFailureStepName,
  ]),
);
const INSTANCE_STEP_OF_PLACEHOLDER = new Map(
  INSTANCE_FAILURE_FUNCTIONS.filter((f) => f.role === "step").map((f) => [
    `\${${f.placeholder}}`,
    f.handler as InstanceFailureStepName,
  ]),
);

/** A thrown step error as Step Functions reports a Lambda's: its name, and the error payload as the cause. */
function statesErrorOf(e: unknown): StatesError {
  if (e instanceof StatesError) return e;
  const err = e instanceof Error ? e : new Error(String(e));
  const name = isLazarusError(err) ? err.name : err.name || "Error";
  return new StatesError(name, JSON.stringify({ errorType: name, errorMessage: err.message }));
}

/** What a Lambda returns crosses JSON: dates become strings, undefined fields vanish. */
const asJson = (v: unknown): Json => (v === undefined ? null : (JSON.parse(JSON.stringify(v)) as Json));

export async function simulate(scenario: Scenario, parts: Parts): Promise<SimResult> {
  const cfg = scenario.config;
  const sched = new SimScheduler();
  const tick = () => Math.floor(sched.now / 1000);
  const now = () => new Date(T0 + sched.now);
  const log: string[] = [];
  const violations: string[] = [];
  const say = (host: string, text: string) => log.push(`${String(tick()).padStart(4)} ${host}: ${text}`);
  const { stores } = parts;
  parts.clock(now);

  const world = new Map<string, WorldHost>(
    scenario.hosts.map((spec) => {
      const mine = scenario.instances.filter((i) => i.host === spec.record.name);
      return [
        spec.record.name,
        {
          spec,
          power: true,
          network: true,
          agent: true,
          libvirtd: true,
          feeder: true,
          heartbeatPath: true,
          fleetSeriesFactor: 1,
          skew: spec.skew,
          fenceHw: spec.fenceHw,
          fedAt: spec.watchdog?.kind === "device" ? 0 : null,
          guardFedAt: spec.watchdog?.kind === "guard" ? 0 : null,
          pendingFeeds: [],
          rebootAt: null,
          fenceOffAt: null,
          bootedAt: null,
          monitorReportAt: null,
          running: new Set(mine.filter((i) => i.vmState === "active").map((i) => i.uuid)),
          defined: new Set(mine.map((i) => i.uuid)),
        },
      ];
    }),
  );
  const w = (host: string) => world.get(host)!;
  const byName = new Map(scenario.instances.map((i) => [i.name, i]));
  const nameOf = (uuid: string) => scenario.instances.find((i) => i.uuid === uuid)?.name ?? uuid;
  const reachable = (h: WorldHost) => h.power && h.network && h.agent;
  const watchdogTimeout = (spec: HostSpec) =>
    spec.watchdog?.kind === "device" ? (spec.watchdog.timeout ?? cfg.leaseSeconds) : 0;

  for (const spec of scenario.hosts) await stores.hosts.put(spec.record);
  for (const i of scenario.instances) await stores.instances.create(i);

  // -- the heartbeat metric (CloudWatch), by 1 s period, host clock --
  const metric = new Map<string, Map<number, HeartbeatSample>>();
  // The fleet series (FLEET_HEARTBEAT_METRIC): per second, the intervals of the heartbeats stamped then (a
  // forging host's `forge-fleet-series` factor times its own).
  const fleetSeries = new Map<number, number>();
  const publish = (host: string, atS: number, value: number) => {
    const added = cfg.heartbeatIntervalSeconds * w(host).fleetSeriesFactor;
    fleetSeries.set(atS, (fleetSeries.get(atS) ?? 0) + added);
    const series = metric.get(host) ?? new Map<number, HeartbeatSample>();
    const prev = series.get(atS);
    series.set(atS, {
      at: at(atS),
      count: (prev?.count ?? 0) + 1,
      min: Math.min(prev?.min ?? value, value),
      max: Math.max(prev?.max ?? value, value),
    });
    metric.set(host, series);
  };
  const samplesIn = (host: string, fromMs: number, toMs: number) =>
    [...(metric.get(host)?.values() ?? [])]
      .filter((s) => s.at.getTime() >= fromMs && s.at.getTime() < toMs)
      .sort((a, b) => a.at.getTime() - b.at.getTime());
  const heartbeats: HeartbeatReader = {
    async lastHeartbeat(host, lookbackSeconds) {
      const end = now().getTime();
      const s = samplesIn(host, end - lookbackSeconds * 1000, end + 1000);
      return s.length ? s.at(-1)!.at : null;
    },
    async samples(host, from, to) {
      return samplesIn(host, from.getTime(), to.getTime() + 1000);
    },
    async fleetBeatSeconds(fleet, from, to) {
      if (fleet !== SIM_FLEET) return 0;
      let sum = 0;
      for (const [atS, v] of fleetSeries) if (at(atS) >= from && at(atS) < to) sum += v;
      return sum;
    },
  };

  // -- the world's actions --
  const powerOff = (host: string, why: string) => {
    const h = w(host);
    if (!h.power) return;
    h.power = false;
    h.running.clear();
    h.fedAt = null;
    h.guardFedAt = null;
    h.pendingFeeds = [];
    say(host, `power off (${why})`);
  };
  const boot = (host: string) => {
    const h = w(host);
    h.power = true;
    h.agent = true;
    h.libvirtd = true;
    h.rebootAt = null;
    // A new boot: the agent's guest monitor reports what it finds shut off once it follows libvirt.
    h.bootedAt = tick();
    h.monitorReportAt = tick() + 1;
    // The agent arms the device at boot; nothing autostarts.
    if (h.spec.watchdog?.kind === "device") h.fedAt = tick();
    if (h.spec.watchdog?.kind === "guard") h.guardFedAt = tick();
    say(host, "boots (no domain autostarts)");
  };

  /** Every tick and at every start: one instance on two powered hosts is the violation. */
  const seen = new Set<string>();
  const checkOneCopy = () => {
    for (const i of scenario.instances) {
      const where = [...world.entries()].filter(([, h]) => h.power && h.running.has(i.uuid)).map(([n]) => n);
      const key = `${i.name}@${where.join(",")}`;
      if (where.length > 1 && !seen.has(key)) {
        seen.add(key);
        violations.push(`${tick()} ${i.name} runs on ${where.join(" and ")} at once`);
        say(where[0]!, `VIOLATION: ${i.name} runs on ${where.join(" and ")} at once`);
      }
    }
  };

  // -- the power fence (PowerFence) --
  const hostOfInstanceId = (id: string) =>
    scenario.hosts.find((h) => h.record.managedInstanceId === id)?.record.name ?? null;
  const powerFence: PowerFence = {
    async requestPowerOff(id) {
      const host = hostOfInstanceId(id);
      if (!host)
        throw Object.assign(new Error(`unknown instance ${id}`), { name: "InvalidInstanceID.NotFound" });
      const h = w(host);
      if (h.fenceHw === "fail" || (h.fenceHw === "down-with-host" && !h.power))
        throw Object.assign(new Error("the power controller refused"), { name: "IncorrectInstanceState" });
      if (h.fenceHw !== "hang" && h.power && h.fenceOffAt === null) h.fenceOffAt = tick() + cfg.fenceSeconds;
    },
    async requestPowerOn(id) {
      throw Object.assign(new Error(`the simulator powers nothing on (${id})`), {
        name: "UnsupportedOperation",
      });
    },
    async powerState(id) {
      const h = w(hostOfInstanceId(id)!);
      return !h.power ? "stopped" : h.fenceOffAt !== null ? "stopping" : "running";
    },
  };

  /** A probe nobody answered: timed out on a powered host cut from the network, else never delivered. */
  const probeSilence = (name: string, h: WorldHost): Error =>
    h.power && !h.network
      ? new HostCommandTimedOut(`probe of ${name} timed out`, { host: name })
      : new HostUnreachable(`${name} unreachable`, { host: name });

  // -- SSM (HostExecutor): the liveness probe, host-recovery's clean-up, instance recovery's probe and start --
  const executor: HostExecutor = {
    async probe(target: HostTarget, command: HostCommand, _opts?: RunOptions): Promise<RunResult> {
      const h = w(target.name);
      if (reachable(h)) {
        await sched.sleepUntil(sched.now + 1000);
        // A domain's state (instance recovery's probe, and after its relocation), or the liveness probe.
        const uuid = command.parameters.uuid;
        if (command.document === "probe-domain-state" && uuid) {
          const state = h.running.has(uuid) ? "running" : h.defined.has(uuid) ? "shut off" : "absent";
          return { exitCode: 0, stdout: `${state}\n`, stderr: "" };
        }
        return { exitCode: 0, stdout: "", stderr: "" };
      }
      await sched.sleepUntil(sched.now + cfg.probeSeconds * 1000);
      throw probeSilence(target.name, h);
    },
    async run(target: HostTarget, command: HostCommand): Promise<RunResult> {
      const h = w(target.name);
      await sched.sleepUntil(sched.now + 1000);
      if (!reachable(h)) throw new HostUnreachable(`${target.name} unreachable`, { host: target.name });
      if (command.document === "list-domains")
        return { exitCode: 0, stdout: [...h.defined].map((u) => `${u}\n`).join(""), stderr: "" };
      const uuids =
        command.document === "remove-domain"
          ? [command.parameters.uuid!]
          : (command.parameters.uuids?.split(" ") ?? []);
      if (
        (command.document === "remove-stale-domains" || command.document === "remove-domain") &&
        uuids.length > 0
      ) {
        for (const u of uuids) {
          h.running.delete(u);
          h.defined.delete(u);
        }
        return { exitCode: 0, stdout: "", stderr: "" };
      }
      // Instance recovery's restart in place (nova's start): its domain runs again, if still defined.
      if (command.document === "start-domain") {
        const uuid = command.parameters.uuid!;
        if (!h.defined.has(uuid))
          throw new HostCommandFailed(`domain ${uuid} is not defined on ${target.name}`, {
            host: target.name,
          });
        h.running.add(uuid);
        say(target.name, `${nameOf(uuid)} started in place`);
        checkOneCopy();
        return { exitCode: 0, stdout: "", stderr: "" };
      }
      throw new Error(`simulator: no host model for the document ${command.document}`);
    },
  };

  // -- SSM (ProbeSender): the liveness probe sent when an incident opens, read when the flow judges. A host
  // reachable when it was sent answered then; one that becomes reachable later answers too (its agent
  // picks the pending command up); otherwise silence until the deadline, as `probe` above.
  const answeredWhenSent = new Set<string>();
  let probesSent = 0;
  const probes: ProbeSender = {
    async send(target: HostTarget): Promise<SentCommand> {
      const commandId = `sim-probe-${++probesSent}`;
      if (reachable(w(target.name))) answeredWhenSent.add(commandId);
      return { commandId, sentAtMs: sched.now, deadlineMs: cfg.probeSeconds * 1000 };
    },
    async answer(target: HostTarget, _command: HostCommand, sent: SentCommand): Promise<RunResult> {
      const h = w(target.name);
      if (answeredWhenSent.has(sent.commandId) || reachable(h)) {
        await sched.sleepUntil(Math.max(sched.now, sent.sentAtMs + 1000));
        return { exitCode: 0, stdout: "", stderr: "" };
      }
      await sched.sleepUntil(Math.max(sched.now, sent.sentAtMs + sent.deadlineMs));
      if (reachable(h)) return { exitCode: 0, stdout: "", stderr: "" };
      throw probeSilence(target.name, h);
    },
  };

  // -- executions: the host-failure machines interpreted, rebuild children modelled --
  const definitions: Record<string, Definition> = {
    [ARN.hostEvacuation]: JSON.parse(readDefinition(stateMachineSpec("host-evacuation"))) as Definition,
    [ARN.hostRecovery]: JSON.parse(readDefinition(stateMachineSpec("host-recovery"))) as Definition,
    [ARN.instanceRecovery]: JSON.parse(readDefinition(stateMachineSpec("instance-recovery"))) as Definition,
  };
  const executionMachine = new Map<string, string>();
  const executionNames = new Set<string>();
  const executionHost = new Map<string, string>();
  const incidentLabels = new Map<string, string>();
  const label = (id: string) => {
    if (!incidentLabels.has(id)) incidentLabels.set(id, `#${incidentLabels.size + 1}`);
    return incidentLabels.get(id)!;
  };
  const running = new Set<Promise<unknown>>();
  const spawnTop = (fn: () => Promise<void>) => {
    const p = sched.spawn(fn).catch((e) => {
      violations.push(`${tick()} simulator: a task failed: ${(e as Error).stack ?? e}`);
    });
    running.add(p);
    void p.finally(() => running.delete(p));
  };

  const deps: HostFailureDeps = {
    stores,
    executor,
    notifier: { publish: async () => undefined },
    executions: { status: async () => ({ status: "NOT_FOUND", stoppedAt: null }) },
    now,
    sleep: (ms) => sched.sleepUntil(sched.now + ms),
    serviceDownSeconds: 60,
    shutdownTimeoutSeconds: 60,
    heartbeats,
    heartbeatFleet: SIM_FLEET,
    starter: {
      async start(machine, name, input) {
        if (executionNames.has(name)) return { started: false, executionArn: executionArnOf(machine, name) };
        executionNames.add(name);
        const given = input as { host?: string; report?: { host: string; instanceUuid: string } };
        const host = String(given.host ?? given.report?.host);
        executionHost.set(name, host);
        executionMachine.set(name, machine);
        const what = MACHINE_NAMES[machine] ?? machine;
        say(host, `start ${what}${given.report ? ` of ${nameOf(given.report.instanceUuid)}` : ""}`);
        spawnTop(() => runExecution(machine, name, asJson(input)));
        return { started: true, executionArn: executionArnOf(machine, name) };
      },
    },
    config: {
      heartbeatFreshSeconds: cfg.heartbeatFreshSeconds,
      graceSeconds: cfg.graceSeconds,
      policy: cfg.policy,
      maxConcurrency: cfg.maxConcurrency,
      massFailureSettleSeconds: cfg.massFailureSettleSeconds,
      latestAlarmSeconds: cfg.latestAlarmSeconds,
    },
    fencing: {
      massFailureShare: cfg.massFailureShare,
      massFailureWindowSeconds: cfg.massFailureWindowSeconds,
      leaseSeconds: cfg.leaseSeconds,
      leaseMarginSeconds: cfg.leaseMarginSeconds,
      fenceTimeoutSeconds: cfg.fenceTimeoutSeconds,
      fenceRetrySeconds: cfg.fenceRetrySeconds,
      maxProofRounds: cfg.maxProofRounds,
      heartbeatIntervalSeconds: cfg.heartbeatIntervalSeconds,
    },
    alerts: {
      async alert(a) {
        say(String(a.detail.host ?? a.hosts[0]), `ALERT ${a.kind.id}: ${a.hosts.join(", ")}`);
      },
    },
    // The fence (shared/flow/host-power.ts) through its EC2 path: the world's fence hardware; one
    // DescribeInstances a second of the fake clock.
    hostPower: {
      stores,
      executor,
      ec2: powerFence,
      now,
      sleep: (ms) => sched.sleepUntil(sched.now + ms),
      region: "us-east-1",
      serviceDownSeconds: 60,
      pollMs: 1000,
      maxDelegates: 3,
    },
    probeDeadlineMs: cfg.probeSeconds * 1000,
    probes,
    recoveryPollSeconds: 2,
    machines: ARN,
    // The simulated fleet's incidents are its alarms' (no peer watch): nothing sets an alarm's state.
    hostAlarms: {
      markDead: async () => {
        throw new Error("the simulator has no peer incidents");
      },
    },
  };
  // The instance-failure flow's: the same world and clock, its policy's defaults (a reset host's recovery
  // waits at most 600 s for the host's incident).
  const instanceDeps: InstanceFailureDeps = {
    ...deps,
    config: { windowSeconds: 3600, stormCrashes: 3, stormWindowSeconds: 120, hostWaitSeconds: 600 },
    machines: { instanceRecovery: ARN.instanceRecovery, hostEvacuation: ARN.hostEvacuation },
  };

  /** Injected failures still to come, by host-failure step (`step-fails`). */
  const stepFaults = new Map<string, number>();
  const interpreter = new AslInterpreter({
    scheduler: sched,
    runTask: async (resource, input, execution) => {
      if (resource === "arn:aws:states:::states:startExecution.sync:2")
        return rebuildChild(input as { Name: string; Input: Json }, executionHost.get(execution) ?? "?");
      const hostStep = STEP_OF_PLACEHOLDER.get(resource);
      const instanceStep = INSTANCE_STEP_OF_PLACEHOLDER.get(resource);
      const step = hostStep
        ? { ...HOST_FAILURE_STEPS[hostStep], deps }
        : instanceStep
          ? { ...INSTANCE_FAILURE_STEPS[instanceStep], deps: instanceDeps }
          : undefined;
      if (!step) throw new Error(`simulator: no step for ${resource}`);
      try {
        const failing = hostStep ? (stepFaults.get(hostStep) ?? 0) : 0;
        if (hostStep && failing > 0) {
          stepFaults.set(hostStep, failing - 1);
          say(executionHost.get(execution) ?? "?", `${hostStep}: InternalServerError (injected)`);
          throw Object.assign(new Error("We currently do not have sufficient capacity (injected)"), {
            name: "InternalServerError",
          });
        }
        const parsed = step.input.safeParse(input);
        if (!parsed.success)
          throw Object.assign(new Error(`invalid step input: ${parsed.error.message}`), {
            name: "InvalidInput",
          });
        return asJson(await step.run(step.deps as never, parsed.data as never));
      } catch (e) {
        throw statesErrorOf(e);
      }
    },
    exited: (execution, state, output) => describeState(executionHost.get(execution) ?? "?", state, output),
  });

  async function runExecution(machine: string, name: string, input: Json): Promise<void> {
    const host = executionHost.get(name)!;
    const what = MACHINE_NAMES[machine] ?? machine;
    try {
      await interpreter.run(definitions[machine]!, input, name);
      say(host, `${what} SUCCEEDED`);
      if (machine === ARN.hostEvacuation) await checkNothingStranded(host);
    } catch (e) {
      const err = statesErrorOf(e);
      say(host, `${what} FAILED ${err.error}`);
    }
  }

  /** A host-evacuation that SUCCEEDED may leave only what its policy leaves: else it stranded one. */
  async function checkNothingStranded(host: string): Promise<void> {
    const inc = (await stores.hosts.require(host)).incident;
    if (inc?.status !== "evacuated") return;
    for (const i of await stores.instances.listByHost(host)) {
      const r = await stores.instances.require(i.uuid);
      const wanted =
        (r.vmState === "active" || r.vmState === "stopped") && (cfg.policy === "all" || r.haEnabled);
      if (r.host === host && wanted) {
        violations.push(`${tick()} host-evacuation of ${host} SUCCEEDED with ${r.name} stranded on it`);
        say(host, `VIOLATION: SUCCEEDED with ${r.name} stranded on ${host}`);
      }
    }
  }

  // -- what the log says of each state --
  const short = (s: unknown) => String(s ?? "").replace(/ \(recorded [^)]*\)/, "");
  const lastFence = new Map<string, string>();
  const lastSettle = new Map<string, string>();
  function describeState(host: string, state: string, out: Json): void {
    const o = (out ?? {}) as Record<string, Json>;
    const get = <T>(k: string) => o[k] as unknown as T;
    switch (state) {
      case "AssessHeartbeat": {
        // Once per incident and verdict: whether it waits for other hosts' alarms, and why.
        const settle = get<{ verdict: string; reason: string } | undefined>("settle");
        const key = `${String(o.incidentId)} ${settle?.verdict}`;
        if (settle && lastSettle.get(host) !== key) say(host, `settle ${settle.verdict}: ${settle.reason}`);
        lastSettle.set(host, key);
        break;
      }
      case "OpenIncident": {
        const id = String(o.incidentId);
        if (o.outcome === "duplicate")
          say(host, `incident ${label(id)}: duplicate of ${label(String(o.duplicateOf))}`);
        else say(host, `incident ${label(id)} ${o.outcome} (${o.source})`);
        break;
      }
      case "CloseNotDead": {
        const why =
          get<{ reason: string } | undefined>("death")?.reason ??
          get<{ reason: string }>("heartbeat")?.reason;
        say(host, `not dead: ${why}`);
        break;
      }
      case "ProbeHost": {
        const d = get<{ verdict: string; reason: string } | undefined>("death");
        if (d?.verdict === "dead") say(host, `dead: ${d.reason}`);
        break;
      }
      case "WatchSilentHost": {
        // Absent when the step failed (its Catch's output).
        const watch = get<{ reason: string } | undefined>("watch");
        if (watch) say(host, `watched: ${watch.reason}`);
        break;
      }
      case "HoldIncident":
        say(host, `HELD: ${get<{ reason: string }>("massFailure").reason}`);
        break;
      case "DisableHost":
        say(host, "disabled, marked down (not forced down: no proof yet)");
        break;
      case "Fence": {
        const f = get<{ round: number; attempt: { outcome: string; at: string; detail: string } | null }>(
          "fence",
        );
        const p = get<{ proof: string | null; reason: string }>("proof");
        const attempt =
          f.attempt && f.attempt.outcome !== "unsupported"
            ? `fence ${f.attempt.outcome}: ${f.attempt.detail}`
            : null;
        // An attempt kept from an earlier round (off is not repeated) is not a new one.
        if (attempt && `${f.attempt?.at}${attempt}` !== lastFence.get(host)) say(host, attempt);
        lastFence.set(host, `${f.attempt?.at}${attempt}`);
        say(host, `round ${f.round}: ${p.proof ? `proof ${p.proof}` : `no proof (${short(p.reason)})`}`);
        break;
      }
      case "PlanEvacuation": {
        const plan = get<{
          tiers: { items: { name: string; proof: string }[] }[];
          skipped: { name: string; reason: string }[];
        }>("plan");
        const ready = plan.tiers.flatMap((t) => t.items.map((i) => `${i.name} (${i.proof})`));
        const waiting = get<{ name: string }[]>("awaitingProof").map((a) => a.name);
        const busy = get<{ name: string }[]>("busy").map((b) => b.name);
        const skipped = plan.skipped
          .filter((s) => s.reason !== "moved" && s.reason !== "busy")
          .map((s) => `${s.name}: ${s.reason}`);
        const parts = [
          ...(ready.length ? [`evacuate ${ready.join(", ")}`] : []),
          ...(waiting.length ? [`fencing required ${waiting.join(", ")}`] : []),
          ...(busy.length ? [`busy ${busy.join(", ")}`] : []),
          ...(skipped.length ? [`skipped ${skipped.join(", ")}`] : []),
        ];
        say(host, `plan: ${parts.join("; ") || "nothing on the host"}`);
        break;
      }
      case "AwaitProof": {
        const look = get<{ verdict: string; waitSeconds?: number; reason: string }>("proofLook");
        if (look.verdict === "wait") say(host, `look again in ${look.waitSeconds} s`);
        if (look.verdict === "give-up") say(host, `give up: ${short(look.reason)}`);
        break;
      }
      case "ReportEvacuation": {
        const r = get<{
          evacuated: { name: string; host: string; proof: string | null }[];
          failed: { name: string; error: string }[];
          notEvacuated: { name: string; reason: string }[];
        } | null>("report");
        if (!r) break; // it failed (its Catch went on to AbortIncident)
        const parts = [
          `${r.evacuated.length} evacuated`,
          ...(r.failed.length ? [`failed ${r.failed.map((f) => `${f.name} (${f.error})`).join(", ")}`] : []),
          ...(r.notEvacuated.length
            ? [`left on the host ${r.notEvacuated.map((n) => `${n.name} (${n.reason})`).join(", ")}`]
            : []),
        ];
        say(host, `report: ${parts.join("; ")}`);
        break;
      }
      case "AbortIncident":
        break;
      case "CleanStaleDomains": {
        const d = get<{ removed: string[]; kept: string[] }>("domains");
        const names = (u: string[]) => u.map(nameOf).sort().join(", ") || "none";
        say(host, `recovery: removed stale ${names(d.removed)}; kept ${names(d.kept)}`);
        break;
      }
      case "FinishRecovery":
        say(host, "recovery: incident closed, no longer forced down (still disabled)");
        break;
      case "CheckRecovery":
        if (o.action === "nothing") say(host, "recovery: nothing to clean");
        break;
      // instance-recovery (a reset host's report): what OpenRecovery decided, and the restart.
      case "OpenRecovery": {
        const who = nameOf(String(get<{ instanceUuid: string }>("report").instanceUuid));
        const message = String(o.message ?? "");
        if (o.outcome === "wait") say(host, `${who}: recovery waits: ${host}'s incident is open`);
        else say(host, `${who}: recovery ${String(o.outcome)}: ${message}`);
        break;
      }
      case "GiveUp":
        say(
          host,
          `${nameOf(String(get<{ instanceUuid: string }>("report").instanceUuid))}: recovery gave up`,
        );
        break;
    }
  }

  // -- a child rebuild execution (the rebuild machine, recreate): Accept, Schedule, the target, Finish --
  let children = 0;
  async function rebuildChild(params: { Name: string; Input: Json }, parentHost: string): Promise<Json> {
    const input = params.Input as Record<string, Json>;
    const ended = await runRebuild(String(params.Name), input, parentHost);
    if (ended.status === "SUCCEEDED") return { Status: "SUCCEEDED", Output: ended.output };
    throw new StatesError(
      "States.TaskFailed",
      JSON.stringify({ Status: "FAILED", Error: ended.error, Cause: ended.cause, Name: params.Name }),
    );
  }

  type Ended = { status: "SUCCEEDED"; output: Json } | { status: "FAILED"; error: string; cause: string };
  async function runRebuild(name: string, input: Record<string, Json>, logHost: string): Promise<Ended> {
    children++;
    const executionArn = `arn:sim:execution:lazarus-rebuild:${name}`;
    const uuid = String(input.instanceUuid);
    const who = nameOf(uuid);
    const failed = async (flow: Record<string, unknown>, key: string, e: unknown): Promise<Ended> => {
      const err = statesErrorOf(e);
      const ending = await handleFailure(deps, {
        ...flow,
        failure: { [key]: { Error: err.error, Cause: err.cause } },
      } as never);
      if (ending.outcome === "finished") return { status: "SUCCEEDED", output: null };
      say(logHost, `${who}: evacuation refused or failed: ${ending.error}`);
      return { status: "FAILED", error: ending.error, cause: ending.cause };
    };
    let flow: FlowState;
    try {
      flow = await accept(deps, { request: input, executionArn });
    } catch (e) {
      return failed(input, "accept", e);
    }
    const proof = (await stores.migrations.require(flow.migrationId)).proof?.kind ?? "?";
    try {
      flow = await schedule(deps, flow);
    } catch (e) {
      return failed(flow, "schedule", e);
    }
    const target = flow.destHost!;
    say(logHost, `evacuate ${who} -> ${target} (proof ${proof})`);
    await sched.sleepUntil(sched.now + Math.floor(cfg.evacuateSeconds / 2) * 1000);
    // The target's start (Spawn): refused when it cannot be reached, or when the disk is in a pool whose
    // hosts enforce the lock and another powered host still runs the instance.
    const t = w(target);
    if (!reachable(t)) return failed(flow, "spawn", new HostUnreachable(`${target} unreachable`));
    const source = scenario.hosts.find((h) => h.record.name === flow.sourceHost)!;
    const onShared =
      source.record.storage.sharedPoolId !== null &&
      source.record.storage.sharedPoolId === t.spec.record.storage.sharedPoolId &&
      byName.get(who)?.onSharedStorage !== false;
    const holders = [...world.entries()].filter(([n, h]) => n !== target && h.power && h.running.has(uuid));
    if (onShared && t.spec.locks && holders.length > 0) {
      const message = `Failed to get "write" lock: Is another process using the image (held on ${holders.map(([n]) => n).join(", ")})?`;
      return failed(flow, "spawn", Object.assign(new Error(message), { name: "DiskLocked" }));
    }
    t.defined.add(uuid);
    if (!endsStopped(flow)) t.running.add(uuid);
    checkOneCopy();
    await stores.instances.update(uuid, {
      expectTaskState: ["rebuilding"],
      expectTaskRequestId: flow.requestId,
      set: { taskState: "rebuild_block_device_mapping" },
    });
    await stores.instances.update(uuid, {
      expectTaskState: ["rebuild_block_device_mapping"],
      expectTaskRequestId: flow.requestId,
      set: { taskState: "rebuild_spawning" },
    });
    await sched.sleepUntil(sched.now + Math.ceil(cfg.evacuateSeconds / 2) * 1000);
    const out = await finish(deps, flow);
    say(logHost, `${who} ${endsStopped(flow) ? "stopped" : "running"} on ${target}`);
    return { status: "SUCCEEDED", output: asJson(out) };
  }

  // -- the operator --
  async function operatorEvacuate(instanceName: string, microversion: string): Promise<void> {
    const inst = await stores.instances.require(byName.get(instanceName)!.uuid);
    const ask = evacuateAsk({}, negotiate({ "openstack-api-version": `compute ${microversion}` }));
    try {
      // What the API runs before it starts anything (functions/api/routes/server-actions.ts).
      assertAdmissible(
        ask,
        await readAdmissionFacts(stores, ask, inst, { now: now(), serviceDownSeconds: 60 }),
      );
    } catch (e) {
      say(
        inst.host,
        `operator: evacuate ${instanceName} (${microversion}) refused: ${statesErrorOf(e).error}`,
      );
      return;
    }
    say(inst.host, `operator: evacuate ${instanceName} (${microversion}) accepted`);
    const requestId = deterministicUuid("sim-operator", instanceName, String(tick()));
    await runRebuild(
      `operator-${requestId}`,
      { requestId, instanceUuid: inst.uuid, recreate: true, targetState: ask.targetState },
      inst.host,
    );
  }

  // -- alarms (datapoints by their timestamps, as CloudWatch evaluates them) and the trigger --
  const alarms = new Map<string, { state: "OK" | "ALARM"; event: AlarmStateChangeEvent | null }>(
    scenario.hosts.map((h) => [h.record.name, { state: "OK", event: null }]),
  );
  const lastSampleAt = (host: string) => {
    const s = [...(metric.get(host)?.keys() ?? [])];
    return s.length ? Math.max(...s) : null;
  };
  function alarmEvent(host: string, to: "OK" | "ALARM"): AlarmStateChangeEvent {
    return AlarmStateChangeEvent.parse({
      source: "aws.cloudwatch",
      "detail-type": "CloudWatch Alarm State Change",
      resources: [],
      detail: {
        alarmName: `${HEARTBEAT_ALARM_PREFIX}${host}`,
        state: { value: to, timestamp: now().toISOString() },
        previousState: { value: to === "OK" ? "ALARM" : "OK", timestamp: at(0).toISOString() },
        configuration: {
          metrics: [
            {
              metricStat: {
                metric: { name: "Heartbeat", dimensions: { [HEARTBEAT_METRIC.dimension]: host } },
              },
            },
          ],
        },
      },
    });
  }
  /**
   * The host agent's guest monitor after a new boot: every domain defined and not running is reported
   * stopped with reason `host-reset` at the boot's time (host clock), through the trigger and EventBridge.
   */
  const reportShutOff = (host: string) => {
    const h = w(host);
    const shutOff = [...h.defined]
      .filter((u) => !h.running.has(u))
      .sort((a, b) => nameOf(a).localeCompare(nameOf(b)));
    if (shutOff.length === 0) return;
    say(host, `monitor: new boot, found shut off: ${shutOff.map(nameOf).join(", ")}`);
    for (const uuid of shutOff) {
      const event = DomainStoppedEvent.parse({
        source: DOMAIN_STOPPED_EVENT.source,
        "detail-type": DOMAIN_STOPPED_EVENT.detailType,
        detail: {
          host,
          instanceUuid: uuid,
          domain: `instance-${uuid}`,
          event: "Stopped",
          reason: HOST_RESET,
          stoppedAt: at((h.bootedAt ?? tick()) + h.skew).toISOString(),
        },
      });
      spawnTop(async () => {
        await INSTANCE_FAILURE_STEPS.onDomainStopped.run(instanceDeps, event);
      });
    }
  };
  const deliver = (event: AlarmStateChangeEvent, host: string) => {
    say(host, `alarm ${event.detail.state.value}`);
    spawnTop(async () => {
      await HOST_FAILURE_STEPS.onAlarmStateChange.run(deps, event);
    });
  };

  // -- the clock --
  for (let t = 0; t <= scenario.runUntil; t++) {
    sched.advanceTo(t * 1000);
    for (const e of scenario.events.filter((x) => x.at === t)) {
      if (e.action === "server-evacuate") {
        spawnTop(() => operatorEvacuate(e.target, e.arg ?? "2.29"));
        continue;
      }
      if (e.action === "step-fails") {
        stepFaults.set(e.target, Number(e.arg));
        continue;
      }
      const h = w(e.target);
      switch (e.action) {
        case "power-off":
          powerOff(e.target, "lost");
          break;
        case "power-on":
          if (!h.power) boot(e.target);
          break;
        case "network-down":
        case "network-up":
          h.network = e.action === "network-up";
          say(e.target, `network ${h.network ? "up" : "down"} (domains keep running)`);
          break;
        case "agent-down":
          h.agent = false;
          // Every process of the host's user but libvirt and qemu: the guard process too.
          h.guardFedAt = null;
          say(
            e.target,
            "agent killed, with every process of the host but libvirt and qemu (domains keep running)",
          );
          break;
        case "agent-up":
          h.agent = true;
          if (h.spec.watchdog?.kind === "guard") h.guardFedAt = t;
          say(e.target, "agent up");
          break;
        case "libvirtd-freeze":
        case "libvirtd-thaw":
          h.libvirtd = e.action === "libvirtd-thaw";
          say(e.target, `libvirtd ${h.libvirtd ? "thawed" : "frozen (SIGSTOP)"}`);
          break;
        case "feeder-fail":
        case "feeder-ok":
          h.feeder = e.action === "feeder-ok";
          say(e.target, h.feeder ? "watchdog feeds work again" : "watchdog feeds fail (heartbeats go on)");
          break;
        case "heartbeat-path-down":
        case "heartbeat-path-up":
          h.heartbeatPath = e.action === "heartbeat-path-up";
          say(
            e.target,
            h.heartbeatPath
              ? "heartbeats reach CloudWatch again"
              : "heartbeats no longer reach CloudWatch (the host and its agent run on)",
          );
          break;
        case "forge-fleet-series":
          h.fleetSeriesFactor = Number(e.arg);
          say(
            e.target,
            h.fleetSeriesFactor === 1
              ? "its heartbeats add their interval to the fleet series again"
              : `forges the fleet series: each heartbeat adds ${h.fleetSeriesFactor} x its interval`,
          );
          break;
        case "fence-hw":
          h.fenceHw = (e.arg ?? "ok") as FenceHw;
          say(e.target, `fence hardware ${h.fenceHw}`);
          break;
        case "skew":
          h.skew = Number(e.arg ?? 0);
          say(e.target, `clock skew ${h.skew} s`);
          break;
        case "redeliver-alarm": {
          const ev = alarms.get(e.target)?.event;
          for (let i = 0; ev && i < Number(e.arg ?? 1); i++) deliver(ev, e.target);
          break;
        }
        case "operator-evacuate": {
          const id = `operator-${e.target}-${t}`;
          say(e.target, `operator: evacuate the host, incident ${label(id)}`);
          const name = `evacuate-${e.target}-operator-${t}`;
          void deps.starter.start(ARN.hostEvacuation, name, { host: e.target, incidentId: id });
          break;
        }
        case "operator-force-down":
        case "operator-force-up": {
          const down = e.action === "operator-force-down";
          spawnTop(async () => {
            const host = await stores.hosts.require(e.target);
            const after = await stores.hosts.forceDown(
              e.target,
              down
                ? operatorProof(host, { by: "an operator", via: "os-services force-down", at: now() })
                : null,
            );
            say(
              e.target,
              `operator: forced ${down ? "down" : "up"} (proof ${after.deathProof?.kind ?? "none"})`,
            );
          });
          break;
        }
      }
    }
    // Boots, fences carried out, heartbeats and feeds, watchdogs.
    for (const [name, h] of world) {
      if (h.rebootAt === t) boot(name);
      if (h.monitorReportAt === t) {
        h.monitorReportAt = null;
        if (reachable(h)) reportShutOff(name);
      }
      if (h.fenceOffAt !== null && h.fenceOffAt <= t) {
        h.fenceOffAt = null;
        powerOff(name, "fenced");
      }
      const accepted =
        h.power && h.network && h.agent && h.heartbeatPath && t % cfg.heartbeatIntervalSeconds === 0;
      if (accepted) {
        // The heartbeat's value: the armed device's timeout (0: none armed; the guard is no device).
        publish(name, t + h.skew, h.fedAt !== null ? watchdogTimeout(h.spec) : 0);
        if (h.feeder && h.fedAt !== null) h.pendingFeeds.push(t + h.spec.feedDelay);
        if (h.spec.watchdog?.kind === "guard" && h.guardFedAt !== null) h.guardFedAt = t;
      }
      if (h.pendingFeeds.length && h.agent && h.feeder) {
        const due = h.pendingFeeds.filter((f) => f <= t);
        if (due.length) h.fedAt = Math.max(h.fedAt ?? 0, ...due);
      }
      h.pendingFeeds = h.pendingFeeds.filter((f) => f > t);
      if (h.power && h.fedAt !== null && t - h.fedAt >= watchdogTimeout(h.spec)) {
        say(name, `watchdog device: not fed for ${watchdogTimeout(h.spec)} s, resets the node`);
        powerOff(name, "watchdog reset");
        if (h.spec.reboot !== null) h.rebootAt = t + h.spec.reboot;
      }
      if (h.power && h.guardFedAt !== null && t - h.guardFedAt >= cfg.leaseSeconds && h.running.size) {
        if (h.libvirtd) {
          say(
            name,
            `guard process: not fed for ${cfg.leaseSeconds} s, destroys ${h.running.size} domains through libvirtd`,
          );
          h.running.clear();
        }
      }
    }
    for (const [name, a] of alarms) {
      const ts = lastSampleAt(name);
      const missing = ts === null || t - ts >= cfg.alarmAfterSeconds;
      if (missing !== (a.state === "ALARM")) {
        a.state = missing ? "ALARM" : "OK";
        a.event = alarmEvent(name, a.state);
        deliver(a.event, name);
      }
    }
    await sched.settle();
    checkOneCopy();
  }
  // Where every instance ended.
  for (const i of [...scenario.instances].sort((a, b) => a.name.localeCompare(b.name))) {
    const r = await stores.instances.require(i.uuid);
    const where = [...world.entries()].filter(([, h]) => h.power && h.running.has(i.uuid)).map(([n]) => n);
    log.push(
      `end ${i.name}: record on ${r.host} (${r.vmState}${r.fencingRequired ? ", fencing required" : ""}), running on ${where.join(", ") || "none"}`,
    );
  }
  // Lost without anyone knowing: ACTIVE on a host that is off, running nowhere, its host with no incident
  // or one closed as "not dead" (an open, held, evacuated or aborted one reported or paged what it left),
  // and no execution running: nothing will bring it back, nobody was told.
  if (running.size === 0) {
    for (const i of scenario.instances) {
      const r = await stores.instances.require(i.uuid);
      const h = world.get(r.host);
      const runs = [...world.values()].some((x) => x.power && x.running.has(i.uuid));
      const incident = (await stores.hosts.require(r.host)).incident;
      const unreported = !incident || incident.status === "not-dead" || incident.status === "closed";
      if (r.vmState === "active" && h && !h.power && !runs && unreported)
        violations.push(`end: ${i.name} lost: ACTIVE on ${r.host} (off), running nowhere, no open incident`);
    }
  }
  if (running.size > 0) log.push(`end: ${running.size} executions still running`);
  log.push(`end: ${children} child evacuations`);
  return { log, violations };
}
