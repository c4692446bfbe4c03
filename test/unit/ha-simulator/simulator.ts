/**
 * A deterministic simulator of host failure (Proxmox's pve-ha-manager simulator, for Lazarus): a fake
 * clock in 1 s ticks, a small model of the world (hosts' power, network, agent, watchdog, clock skew,
 * fence hardware; which domain runs where) and of the control plane (heartbeat alarm, trigger, the
 * host-evacuation and host-recovery flows as generators in the order of their ASL states). Every decision
 * is made by the policy code the real Lambdas call (shared/domain/host-failure.ts, fencing.ts,
 * evacuation-plan.ts, scheduling.ts); the simulator only carries the results out and writes a log.
 *
 * It also checks the one rule an HA system must never break, independently of the expected log: no
 * instance is started on a host while a copy of it still runs on another (a "VIOLATION" line).
 */
import { HEARTBEAT_ALARM_PREFIX, HEARTBEAT_METRIC } from "#shared/definitions/heartbeat.js";
import { placeOne, withClaim } from "#shared/domain/evacuation-plan.js";
import {
  type FenceAttempt,
  type FencingConfig,
  gateByProof,
  hostProof,
  isDiskLockRefusal,
  judgeFence,
  massFailureVerdict,
  nextProofLook,
  suspectHosts,
} from "#shared/domain/fencing.js";
import {
  AlarmStateChangeEvent,
  alarmAction,
  assessHeartbeat,
  classifyDomains,
  type EvacuationItem,
  type HostFailureConfig,
  hostOfAlarm,
  incidentDecision,
  judgeProbe,
  type ProbeResult,
  planEvacuation,
  recoveryAction,
} from "#shared/domain/host-failure.js";
import { deterministicUuid } from "#shared/domain/ids.js";
import { Host, type HostIncident, Instance } from "#shared/domain/schemas.js";

// ---- scenario --------------------------------------------------------------------------------------

export interface SimConfig extends HostFailureConfig, FencingConfig {
  heartbeatSeconds: number;
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
  heartbeatSeconds: 5,
  alarmAfterSeconds: 20,
  heartbeatFreshSeconds: 15,
  graceSeconds: 30,
  policy: "all",
  maxConcurrency: 2,
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

type HostAction =
  | "power-off"
  | "power-on"
  | "network-down"
  | "network-up"
  | "agent-down"
  | "agent-up"
  | "fence-hw"
  | "skew"
  | "redeliver-alarm"
  | "operator-evacuate";
const ACTIONS: readonly HostAction[] = [
  "power-off",
  "power-on",
  "network-down",
  "network-up",
  "agent-down",
  "agent-up",
  "fence-hw",
  "skew",
  "redeliver-alarm",
  "operator-evacuate",
];

interface ScenarioEvent {
  at: number;
  action: HostAction;
  host: string;
  arg: string | null;
  line: number;
}

export interface Scenario {
  config: SimConfig;
  hosts: Host[];
  instances: Instance[];
  events: ScenarioEvent[];
  /** Fence hardware per host at start. */
  fenceHw: Record<string, FenceHw>;
  skew: Record<string, number>;
  runUntil: number;
}

type FenceHw = "ok" | "fail" | "hang" | "down-with-host";
const FENCE_HW: readonly FenceHw[] = ["ok", "fail", "hang", "down-with-host"];

const T0 = Date.UTC(2026, 0, 1);
const at = (t: number) => new Date(T0 + t * 1000);
const CONFIG_KEYS: Record<string, keyof SimConfig> = {
  heartbeat: "heartbeatSeconds",
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

/**
 * The scenario language, one statement per line (`#` starts a comment):
 *   config grace=30 lease=60 concurrency=2 policy=ha-only ...
 *   host NAME [pool=P|local] [power=local|ec2|none] [watchdog] [locks] [vcpus=N] [mem=MiB] [disk=GiB]
 *        [disabled] [fence-hw=ok|fail|hang|down-with-host] [skew=SECONDS]
 *   instance NAME on HOST [prio=N] [vcpus=N] [mem=MiB] [disk=GiB] [stopped] [error] [not-ha]
 *        [anti-affinity=GROUP]
 *   at SECONDS ACTION HOST [ARG]     power-off power-on network-down network-up agent-down agent-up
 *                                    fence-hw STATE, skew SECONDS, redeliver-alarm COUNT, operator-evacuate
 *   run SECONDS
 */
export function parseScenario(text: string): Scenario {
  const config: SimConfig = { ...SIM_DEFAULTS };
  const hosts: Host[] = [];
  const instances: Instance[] = [];
  const events: ScenarioEvent[] = [];
  const fenceHw: Record<string, FenceHw> = {};
  const skew: Record<string, number> = {};
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
      fenceHw[name!] = hw;
      skew[name!] = Number(values.get("skew") ?? 0);
      hosts.push(
        Host.parse({
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
          lastHeartbeatAt: at(0).toISOString(),
          storage: {
            instancesPath: "/var/lib/lazarus/instances",
            sharedPoolId: pool === "local" ? null : pool,
            imageCachePath: "/var/lib/lazarus/images",
            volumesPath: "/var/lib/lazarus/volumes",
          },
          incident: null,
          fencing: { power, watchdog: flags.has("watchdog"), diskLocks: flags.has("locks") },
          version: 0,
        }),
      );
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
        onSharedStorage: null,
        launchedAt: at(0).toISOString(),
        createdAt: at(0).toISOString(),
        updatedAt: at(0).toISOString(),
        version: 0,
        fault: null,
      });
      instances.push(inst);
      const hi = hosts.findIndex((h) => h.name === hostName);
      if (hi < 0) fail(`unknown host ${hostName}`);
      hosts[hi] = withClaim(hosts[hi]!, inst, `boot-${name}`, at(0));
    } else if (kind === "at") {
      const [t, action, host, arg] = rest;
      if (!ACTIONS.includes(action as HostAction)) fail(`unknown action ${action}`);
      if (!host || !hosts.some((h) => h.name === host)) fail(`unknown host ${host}`);
      events.push({ at: Number(t), action: action as HostAction, host: host!, arg: arg ?? null, line });
    } else if (kind === "run") {
      runUntil = Number(rest[0]);
    } else fail(`unknown statement ${kind}`);
  });
  if (!(runUntil > 0)) throw new Error("scenario has no `run SECONDS`");
  return { config, hosts, instances, events, fenceHw, skew, runUntil };
}

// ---- the world -------------------------------------------------------------------------------------

interface WorldHost {
  power: boolean;
  network: boolean;
  agent: boolean;
  skew: number;
  fenceHw: FenceHw;
  /** Host clock (seconds since T0) of the last heartbeat the control plane received. */
  lastHbTs: number | null;
  /** When the agent last fed the watchdog (real seconds); null = not armed. */
  fedAt: number | null;
  running: Set<string>;
  defined: Set<string>;
}

type Wake = { until: number } | { everyTick: true };
type Flow = Generator<Wake, void, void>;

export interface SimResult {
  log: string[];
  violations: string[];
}

export function simulate(scenario: Scenario): SimResult {
  const cfg = scenario.config;
  const log: string[] = [];
  const violations: string[] = [];
  let t = 0;
  const say = (host: string, text: string) => log.push(`${String(t).padStart(4)} ${host}: ${text}`);

  const records = new Map(scenario.hosts.map((h) => [h.name, structuredClone(h)]));
  const instances = new Map(scenario.instances.map((i) => [i.uuid, structuredClone(i)]));
  const byName = (uuid: string) => instances.get(uuid)?.name ?? uuid;
  const world = new Map<string, WorldHost>(
    scenario.hosts.map((h) => {
      const mine = scenario.instances.filter((i) => i.host === h.name);
      return [
        h.name,
        {
          power: true,
          network: true,
          agent: true,
          skew: scenario.skew[h.name] ?? 0,
          fenceHw: scenario.fenceHw[h.name] ?? "ok",
          lastHbTs: 0,
          fedAt: 0,
          running: new Set(mine.filter((i) => i.vmState === "active").map((i) => i.uuid)),
          defined: new Set(mine.map((i) => i.uuid)),
        },
      ];
    }),
  );
  const w = (host: string) => world.get(host)!;
  const rec = (host: string) => records.get(host)!;
  const alarms = new Map<string, { state: "OK" | "ALARM"; event: AlarmStateChangeEvent | null }>(
    scenario.hosts.map((h) => [h.name, { state: "OK", event: null }]),
  );
  const executions = new Set<string>();
  const flows: { flow: Flow; wake: Wake }[] = [];
  const incidentLabels = new Map<string, string>();
  const label = (id: string) => {
    if (!incidentLabels.has(id)) incidentLabels.set(id, `#${incidentLabels.size + 1}`);
    return incidentLabels.get(id)!;
  };
  /** Pending fence answers: host -> when and what the hardware answers. */
  const fenceAnswers = new Map<string, { at: number; outcome: "off" | "failed"; detail: string } | null>();

  // -- world actions --
  const powerOff = (host: string, why: string) => {
    const h = w(host);
    if (!h.power) return;
    h.power = false;
    h.running.clear();
    h.fedAt = null;
    say(host, `power off (${why})`);
  };
  const runningCopies = (uuid: string, except: string) =>
    [...world.entries()].filter(([n, h]) => n !== except && h.power && h.running.has(uuid)).map(([n]) => n);

  function startFence(host: string): void {
    const h = w(host);
    const hw = h.fenceHw;
    if (hw === "ok")
      fenceAnswers.set(host, { at: t + cfg.fenceSeconds, outcome: "off", detail: "powered off" });
    else if (hw === "fail")
      fenceAnswers.set(host, { at: t + cfg.fenceSeconds, outcome: "failed", detail: "fence device refused" });
    else if (hw === "down-with-host" && !h.power)
      fenceAnswers.set(host, { at: t + 1, outcome: "failed", detail: "fence device unreachable (no power)" });
    else if (hw === "down-with-host")
      fenceAnswers.set(host, { at: t + cfg.fenceSeconds, outcome: "off", detail: "powered off" });
    else fenceAnswers.set(host, null);
  }

  // -- the control plane: trigger --
  function alarmEvent(host: string, to: "OK" | "ALARM"): AlarmStateChangeEvent {
    return AlarmStateChangeEvent.parse({
      source: "aws.cloudwatch",
      "detail-type": "CloudWatch Alarm State Change",
      resources: [],
      detail: {
        alarmName: `${HEARTBEAT_ALARM_PREFIX}${host}`,
        state: { value: to, timestamp: at(t).toISOString() },
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

  function trigger(event: AlarmStateChangeEvent): void {
    const host = hostOfAlarm(event, {
      dimension: HEARTBEAT_METRIC.dimension,
      alarmPrefix: HEARTBEAT_ALARM_PREFIX,
    });
    const action = alarmAction(event, host);
    if (action.kind === "ignore") return;
    rec(action.host).status = action.kind === "evacuate" ? "down" : "up";
    if (executions.has(action.executionName)) {
      say(action.host, `alarm ${event.detail.state.value} redelivered: execution exists, nothing started`);
      return;
    }
    executions.add(action.executionName);
    if (action.kind === "evacuate") {
      say(action.host, `alarm ALARM: start host-evacuation, incident ${label(action.incidentId)}`);
      flows.push({ flow: evacuation(action.host, action.incidentId, "alarm"), wake: { until: t } });
    } else {
      say(action.host, "alarm OK: start host-recovery");
      flows.push({ flow: recovery(action.host), wake: { until: t } });
    }
  }

  // -- the control plane: host-evacuation --
  function probeResult(host: string): ProbeResult {
    const h = w(host);
    if (h.power && h.network && h.agent) return "answered";
    return h.power && !h.network ? "timed-out" : "unreachable";
  }
  const lastHeartbeat = (host: string) => {
    const ts = w(host).lastHbTs;
    return ts === null ? null : at(ts);
  };

  function* evacuation(host: string, incidentId: string, source: "alarm" | "operator"): Flow {
    const r = rec(host);
    const decision = incidentDecision(r.incident, incidentId);
    if (decision.kind === "duplicate") {
      say(host, `incident ${label(incidentId)}: duplicate of ${label(decision.of)} (${decision.status})`);
      return;
    }
    if (decision.kind === "open") {
      const incident: HostIncident = {
        id: incidentId,
        status: "confirming",
        source,
        reason: null,
        executionName: null,
        openedAt: at(t).toISOString(),
        updatedAt: at(t).toISOString(),
        summary: null,
      };
      r.incident = incident;
      say(host, `incident ${label(incidentId)} opened (${source})`);
    }
    const inc = r.incident!;
    const setStatus = (s: HostIncident["status"]) => {
      inc.status = s;
      inc.updatedAt = at(t).toISOString();
    };
    const watchingSince = new Date(inc.openedAt);
    let heartbeat: ReturnType<typeof assessHeartbeat>;
    for (;;) {
      heartbeat = assessHeartbeat({ lastHeartbeatAt: lastHeartbeat(host), watchingSince, now: at(t) }, cfg);
      if (heartbeat.verdict === "alive") {
        setStatus("not-dead");
        r.status = "up";
        say(host, `not dead: ${heartbeat.reason}`);
        return;
      }
      if (heartbeat.verdict === "probe") break;
      yield { until: t + heartbeat.waitSeconds };
    }
    const probe = probeResult(host);
    yield { until: t + (probe === "answered" ? 1 : cfg.probeSeconds) };
    const death = judgeProbe(probeResult(host), heartbeat);
    if (death.verdict === "alive") {
      setStatus("not-dead");
      r.status = "up";
      say(host, `not dead: the host answered the probe`);
      return;
    }
    say(host, `dead: probe ${probeResult(host)}`);

    const guard = massFailureVerdict(
      suspectHosts([...records.values()], at(t), cfg),
      records.size,
      source,
      cfg,
    );
    if (guard.verdict === "hold") {
      setStatus("held");
      say(host, `HELD, alert to the operator: hosts ${guard.hosts.join(", ")} look dead at once`);
      return;
    }

    r.enabled = false;
    r.forcedDown = true;
    r.status = "down";
    setStatus("evacuating");
    say(host, "disabled and forced down");

    let fence: FenceAttempt | null = null;
    const results: string[] = [];
    for (let round = 1; ; round++) {
      if (r.fencing.power !== "none" && fence?.outcome !== "off") {
        say(host, `fence: power off (${r.fencing.power})`);
        const started = t;
        startFence(host);
        for (;;) {
          const answer = fenceAnswers.get(host) ?? null;
          if (answer && answer.at <= t && answer.outcome === "off") powerOff(host, "fenced");
          const judged = judgeFence(
            at(started),
            answer && answer.at <= t
              ? { outcome: answer.outcome, at: at(answer.at), detail: answer.detail }
              : null,
            at(t),
            cfg,
          );
          if (judged) {
            fence = judged;
            break;
          }
          yield { everyTick: true };
        }
        say(host, `fence ${fence.outcome}: ${fence.detail}`);
      }
      const proof = hostProof(
        {
          fence,
          watchdog: r.fencing.watchdog,
          lastHeartbeatAt: lastHeartbeat(host),
          watchingSince,
          now: at(t),
        },
        cfg,
      );
      const onHost = [...instances.values()].filter((i) => i.host === host);
      const plan = planEvacuation(host, incidentId, onHost, cfg.policy);
      if (round === 1) for (const s of plan.skipped) say(host, `skip ${s.name}: ${s.reason}`);
      const waiting: string[] = [];
      const ready: { item: EvacuationItem; proof: string }[][] = [];
      for (const tier of plan.tiers) {
        const gate = gateByProof(tier.items, proof, r);
        waiting.push(...gate.waiting.map((g) => g.item.name));
        if (gate.ready.length) ready.push(gate.ready);
      }
      // The tiers in order, at most maxConcurrency children at once in each.
      for (const tier of ready) {
        const queue = [...tier];
        const active: { item: EvacuationItem; proof: string; target: string; endsAt: number }[] = [];
        while (queue.length || active.length) {
          while (queue.length && active.length < cfg.maxConcurrency) {
            const { item, proof: p } = queue.shift()!;
            const inst = instances.get(item.instanceUuid)!;
            const placed = placeOne([...records.values()], host, inst, at(t));
            if ("reason" in placed) {
              say(host, `evacuate ${item.name}: failed, ${placed.reason}`);
              results.push(`${item.name} failed`);
              continue;
            }
            const target = placed.target.name;
            const holders = runningCopies(item.instanceUuid, target);
            if (p === "lock" && holders.length) {
              const message = `Failed to get "write" lock: Is another process using the image (held by ${holders.join(", ")})?`;
              if (isDiskLockRefusal(message)) {
                say(host, `evacuate ${item.name} -> ${target}: refused by the disk lock, fencing required`);
                waiting.push(item.name);
                continue;
              }
            }
            for (const other of holders)
              violations.push(`${t} ${item.name} started on ${target} while running on ${other}`);
            records.set(target, withClaim(rec(target), inst, item.requestId, at(t)));
            if (item.vmState === "active") w(target).running.add(item.instanceUuid);
            w(target).defined.add(item.instanceUuid);
            say(host, `evacuate ${item.name} -> ${target} (proof ${p}, priority ${item.haPriority})`);
            active.push({ item, proof: p, target, endsAt: t + cfg.evacuateSeconds });
          }
          if (!active.length) break;
          const next = Math.min(...active.map((a) => a.endsAt));
          yield { until: next };
          for (const a of active.filter((x) => x.endsAt <= t)) {
            const inst = instances.get(a.item.instanceUuid)!;
            inst.host = a.target;
            inst.node = a.target;
            say(host, `${a.item.name} ${a.item.vmState === "active" ? "running" : "stopped"} on ${a.target}`);
            results.push(`${a.item.name} evacuated`);
          }
          active.splice(0, active.length, ...active.filter((x) => x.endsAt > t));
        }
      }
      if (!waiting.length) {
        setStatus("evacuated");
        say(
          host,
          `report: ${results.filter((x) => x.endsWith("evacuated")).length} evacuated, ${results.filter((x) => x.endsWith("failed")).length} failed, ${plan.skipped.filter((s) => s.reason !== "moved").length} skipped`,
        );
        return;
      }
      say(host, `fencing required: ${waiting.join(", ")} (${proof.reason})`);
      const back = assessHeartbeat({ lastHeartbeatAt: lastHeartbeat(host), watchingSince, now: at(t) }, cfg);
      const look = nextProofLook({ round, proof, heartbeatAlive: back.verdict === "alive", now: at(t) }, cfg);
      if (look.verdict === "give-up") {
        setStatus("evacuated");
        say(
          host,
          back.verdict === "alive"
            ? `report: the host is back before proof; ${waiting.join(", ")} stay on it`
            : `report: gave up waiting for proof; still fencing required: ${waiting.join(", ")}`,
        );
        return;
      }
      yield { until: t + look.waitSeconds };
    }
  }

  // -- the control plane: host-recovery --
  function* recovery(host: string): Flow {
    for (;;) {
      const r = rec(host);
      const action = recoveryAction(r.incident);
      if (action === "wait") {
        yield { until: t + 2 };
        continue;
      }
      if (action === "nothing") {
        say(host, `recovery: nothing to clean (incident ${r.incident ? r.incident.status : "none"})`);
        return;
      }
      const uuids = [...w(host).defined];
      const verdicts = classifyDomains(r, uuids, new Map(uuids.map((u) => [u, instances.get(u) ?? null])));
      for (const s of verdicts.stale) {
        w(host).running.delete(s.instanceUuid);
        w(host).defined.delete(s.instanceUuid);
      }
      const names = (xs: { instanceUuid: string }[]) =>
        xs
          .map((x) => byName(x.instanceUuid))
          .sort()
          .join(", ") || "none";
      say(host, `recovery: removed stale ${names(verdicts.stale)}; kept ${names(verdicts.kept)}`);
      r.forcedDown = false;
      r.incident!.status = "closed";
      return;
    }
  }

  // -- the clock --
  for (t = 0; t <= scenario.runUntil; t++) {
    for (const e of scenario.events.filter((x) => x.at === t)) {
      const h = w(e.host);
      switch (e.action) {
        case "power-off":
          powerOff(e.host, "lost");
          break;
        case "power-on":
          if (!h.power) say(e.host, "power on (no domain autostarts)");
          h.power = true;
          break;
        case "network-down":
        case "network-up":
          h.network = e.action === "network-up";
          say(e.host, `network ${h.network ? "up" : "down"} (domains keep running)`);
          break;
        case "agent-down":
        case "agent-up":
          h.agent = e.action === "agent-up";
          say(e.host, `agent ${h.agent ? "up" : "down"} (domains keep running)`);
          break;
        case "fence-hw":
          h.fenceHw = (e.arg ?? "ok") as FenceHw;
          say(e.host, `fence hardware ${h.fenceHw}`);
          break;
        case "skew":
          h.skew = Number(e.arg ?? 0);
          say(e.host, `clock skew ${h.skew} s`);
          break;
        case "redeliver-alarm": {
          const ev = alarms.get(e.host)?.event;
          for (let i = 0; ev && i < Number(e.arg ?? 1); i++) trigger(ev);
          break;
        }
        case "operator-evacuate": {
          const id = `operator-${e.host}-${t}`;
          say(e.host, `operator: evacuate, incident ${label(id)}`);
          flows.push({ flow: evacuation(e.host, id, "operator"), wake: { until: t } });
          break;
        }
      }
    }
    // Heartbeats and the watchdog.
    for (const [name, h] of world) {
      if (h.power && h.network && h.agent && t % cfg.heartbeatSeconds === 0) {
        h.lastHbTs = t + h.skew;
        h.fedAt = t;
        rec(name).lastHeartbeatAt = at(t + h.skew).toISOString();
      }
      if (
        rec(name).fencing.watchdog &&
        h.power &&
        h.fedAt !== null &&
        t - h.fedAt >= cfg.leaseSeconds &&
        h.running.size
      ) {
        say(name, `watchdog: not fed for ${cfg.leaseSeconds} s, ${h.running.size} domains powered off`);
        h.running.clear();
      }
    }
    // The heartbeat alarms (datapoints by their timestamps, as CloudWatch evaluates them).
    for (const [name, a] of alarms) {
      const ts = w(name).lastHbTs;
      const missing = ts === null || t - ts >= cfg.alarmAfterSeconds;
      if (missing && a.state === "OK") {
        a.state = "ALARM";
        a.event = alarmEvent(name, "ALARM");
        trigger(a.event);
      } else if (!missing && a.state === "ALARM") {
        a.state = "OK";
        a.event = alarmEvent(name, "OK");
        trigger(a.event);
      }
    }
    // Flows, in the order they were started; a flow started in this tick runs in this tick.
    for (let i = 0; i < flows.length; i++) {
      const f = flows[i]!;
      while ("everyTick" in f.wake || f.wake.until <= t) {
        const next = f.flow.next();
        if (next.done) {
          flows.splice(i--, 1);
          break;
        }
        f.wake = next.value;
        if ("everyTick" in f.wake) break;
      }
    }
  }
  // Where every instance ended.
  for (const i of [...instances.values()].sort((a, b) => a.name.localeCompare(b.name))) {
    const where = [...world.entries()].filter(([, h]) => h.power && h.running.has(i.uuid)).map(([n]) => n);
    log.push(`end ${i.name}: record on ${i.host}, running on ${where.join(", ") || "none"}`);
    if (where.length > 1) violations.push(`end: ${i.name} runs on ${where.join(", ")}`);
  }
  return { log, violations };
}
