/**
 * The host-failure policy: every decision of the host-evacuation and host-recovery flows, as pure
 * functions of what was observed (alarm events, heartbeat times, probe results, records) and a clock.
 * The Lambda steps only gather the observations, call these, and carry out the result; the fencing
 * simulator (issue 16) plays scenarios against the same functions.
 *
 * Decisions, in flow order:
 *  1. `alarmAction`     an alarm state change -> evacuate (new incident) / recover / ignore
 *     `peerSilentAction` a host's report that a peer fell silent -> evacuate (new incident) / ignore
 *  2. `incidentDecision` open an incident, resume our own, or drop a duplicate
 *  3. `assessHeartbeat` alive (a blip) / wait out the grace period / probe the host
 *  4. `judgeProbe`      an SSM probe that fails or times out is the proof of death; an answer is not
 *  5. `planEvacuation`  which instances (policy all / ha-only; ERROR, busy, deleted skipped), in which order
 *                       (HA priority tiers, highest first), with deterministic request ids
 *  6. `confirmEvacuation` / `summarizeEvacuation` per-instance result and the report
 *  7. `classifyDomains` / `claimsToRelease` / `migrationsToComplete`  the returning host's clean-up
 */
import { z } from "zod";
import { deterministicUuid } from "./ids.js";
import { DOMAIN_STOPPED_EVENT } from "./instance-failure.js";
import {
  type Claim,
  type Host,
  type HostIncident,
  type HostIncidentStatus,
  type Instance,
  type Migration,
  OPEN_INCIDENT_STATUSES,
  type ProofKind,
} from "./schemas.js";
import { canMigrationTransition, type VmState } from "./states.js";
import { IsoTime, ResourceName } from "./values.js";

// ---- configuration ---------------------------------------------------------------------------------

export const EVACUATION_POLICIES = ["all", "ha-only"] as const;
export type EvacuationPolicy = (typeof EVACUATION_POLICIES)[number];

export interface HostFailureConfig {
  /** A heartbeat younger than this means the host is alive (2-3 heartbeat intervals). */
  heartbeatFreshSeconds: number;
  /** Death is probed only once the last heartbeat is at least this old: a shorter blip evacuates nothing. */
  graceSeconds: number;
  /** "all" instances of a dead host, or only those with `haEnabled` (Masakari's two policies). */
  policy: EvacuationPolicy;
  /**
   * How many child evacuations run at once (the Map's MaxConcurrency). 16: a host's usual load restarts in
   * one wave, spread over the targets by the scheduler (the bench's figures are at 16); Masakari's
   * `host_failure_recovery_threads` is 3 and Proxmox HA's `max_workers` 4, each bounding what one
   * controller does itself, where here each child is its own execution.
   */
  maxConcurrency: number;
  /**
   * How long after its alarm an automatic evacuation waits before it judges (probe, then the mass-failure
   * guard): hosts that died at the same moment alarm up to one alarm period apart (their last heartbeats
   * may straddle a period's boundary), so the guard must not count before the last of them has alarmed.
   * One heartbeat alarm period plus ALARM_SKEW_MARGIN_SECONDS (evaluation and delivery).
   */
  massFailureSettleSeconds: number;
  /**
   * The latest a dead host's heartbeat alarm fires after its last heartbeat: its silent periods plus one
   * (the period the last beat fell in) and ALARM_SKEW_MARGIN_SECONDS. An incident a peer's report opened
   * (seconds after the death) settles until then: a host that died with this one and has no live peer to
   * report it is counted by the guard only once its alarm fired.
   */
  latestAlarmSeconds: number;
}

/** Evaluation and EventBridge delivery beyond the alarm period, in the settle above. */
export const ALARM_SKEW_MARGIN_SECONDS = 5;

export const DEFAULT_HOST_FAILURE_CONFIG: HostFailureConfig = {
  heartbeatFreshSeconds: 15,
  graceSeconds: 30,
  policy: "all",
  maxConcurrency: 16,
  massFailureSettleSeconds: 10 + ALARM_SKEW_MARGIN_SECONDS,
  latestAlarmSeconds: 4 * 10 + ALARM_SKEW_MARGIN_SECONDS,
};

// ---- 1. alarm events -------------------------------------------------------------------------------

const AlarmState = z.object({
  value: z.enum(["OK", "ALARM", "INSUFFICIENT_DATA"]),
  reason: z.string().optional(),
  timestamp: z.string(),
});

/** The EventBridge event CloudWatch sends when an alarm changes state (fields Lazarus reads). */
export const AlarmStateChangeEvent = z.object({
  id: z.string().optional(),
  source: z.literal("aws.cloudwatch"),
  "detail-type": z.literal("CloudWatch Alarm State Change"),
  resources: z.array(z.string()).default([]),
  time: z.string().optional(),
  detail: z.object({
    alarmName: z.string(),
    state: AlarmState,
    previousState: AlarmState,
    configuration: z
      .object({
        metrics: z
          .array(
            z.object({
              metricStat: z
                .object({
                  metric: z.object({
                    namespace: z.string().optional(),
                    name: z.string().optional(),
                    dimensions: z.record(z.string(), z.string()).default({}),
                  }),
                })
                .optional(),
            }),
          )
          .default([]),
      })
      .optional(),
  }),
});
export type AlarmStateChangeEvent = z.infer<typeof AlarmStateChangeEvent>;

export type AlarmAction =
  | { kind: "evacuate"; host: string; incidentId: string; executionName: string; reason: string }
  | { kind: "recover"; host: string; executionName: string; reason: string }
  | { kind: "ignore"; reason: string };

/** The host named by the alarm's metric dimension, else by the alarm name after `alarmPrefix`. */
export function hostOfAlarm(
  event: AlarmStateChangeEvent,
  names: { dimension: string; alarmPrefix: string },
): string | null {
  // Only a valid host name counts: anything else names no host (never a key sent to the tables).
  const named = (h: string | undefined) => (h && ResourceName.safeParse(h).success ? h : null);
  for (const m of event.detail.configuration?.metrics ?? []) {
    const host = m.metricStat?.metric.dimensions[names.dimension];
    if (host) return named(host);
  }
  const { alarmName } = event.detail;
  return alarmName.startsWith(names.alarmPrefix) ? named(alarmName.slice(names.alarmPrefix.length)) : null;
}

/**
 * What an alarm state change asks for. The incident id is derived from the alarm and the time of its
 * transition, so every delivery of one transition (EventBridge delivers at least once) names the same
 * incident and the same execution; a later transition to ALARM is a new incident.
 */
export function alarmAction(event: AlarmStateChangeEvent, host: string | null): AlarmAction {
  const { state, previousState, alarmName } = event.detail;
  if (!host) return { kind: "ignore", reason: `alarm ${alarmName} names no host` };
  const transition = `${alarmName}@${state.timestamp}`;
  if (state.value === "ALARM") {
    const incidentId = `alarm-${deterministicUuid("host-incident", transition).slice(0, 18)}`;
    return {
      kind: "evacuate",
      host,
      incidentId,
      executionName: executionName("evacuate", host, incidentId),
      reason: `${alarmName} ${previousState.value} -> ALARM at ${state.timestamp}: ${state.reason ?? "heartbeat missing"}`,
    };
  }
  if (state.value === "OK" && previousState.value === "ALARM") {
    return {
      kind: "recover",
      host,
      executionName: executionName("recover", host, deterministicUuid("host-recovery", transition)),
      reason: `${alarmName} ALARM -> OK at ${state.timestamp}`,
    };
  }
  return { kind: "ignore", reason: `${alarmName} ${previousState.value} -> ${state.value}: nothing to do` };
}

/** Step Functions execution names: at most 80 characters, unique per host and incident. */
export function executionName(kind: "evacuate" | "recover", host: string, id: string): string {
  const suffix = deterministicUuid(kind, host, id).slice(0, 13);
  const prefix = `${kind}-${host}`.slice(0, 80 - suffix.length - 1);
  return `${prefix}-${suffix}`;
}

// ---- 1b. peers' reports ----------------------------------------------------------------------------

/**
 * A host's report that a peer it watches on the hosts' own network fell silent (host-agent/peers.ts): the
 * EventBridge source and detail-type the agent puts on the default bus and the trigger's rule matches.
 */
export const PEER_SILENT_EVENT = {
  source: DOMAIN_STOPPED_EVENT.source,
  detailType: "Lazarus Host Peer Silent",
} as const;

/** The report's detail. Times are the observer's clock. */
export const PeerSilentDetail = z.strictObject({
  /** The silent peer. */
  host: ResourceName,
  /** The host that stopped hearing it. */
  observer: ResourceName,
  /** When the observer last heard the peer's beat. */
  lastHeardAt: IsoTime,
  silentSeconds: z.number().nonnegative(),
  /** How many of the observer's other peers it hears (an observer that hears none reports nothing). */
  hearing: z.number().int().nonnegative(),
});
export type PeerSilentDetail = z.infer<typeof PeerSilentDetail>;

export const PeerSilentEvent = z.object({
  id: z.string().optional(),
  source: z.literal(PEER_SILENT_EVENT.source),
  "detail-type": z.literal(PEER_SILENT_EVENT.detailType),
  time: z.string().optional(),
  detail: PeerSilentDetail,
});
export type PeerSilentEvent = z.infer<typeof PeerSilentEvent>;

export type PeerSilentAction =
  | {
      kind: "evacuate";
      host: string;
      incidentId: string;
      executionName: string;
      reason: string;
      silentSince: string;
    }
  | { kind: "ignore"; reason: string };

/**
 * What a peer's report asks for: the host-failure flow for the silent host, which proves its death as for
 * an alarm (the heartbeat, the probe, the guard, the fence). A report is no proof: at most it gets a live
 * host probed. The incident id is derived from the report (observer and last hearing): a repeated delivery
 * names the same execution; several observers' reports of one silence open one incident (the others are
 * duplicates at OpenIncident).
 */
export function peerSilentAction(event: PeerSilentEvent): PeerSilentAction {
  const { host, observer, lastHeardAt, silentSeconds } = event.detail;
  if (host === observer) return { kind: "ignore", reason: `${observer} reported itself silent` };
  const incidentId = `peer-${deterministicUuid("host-incident-peer", host, observer, lastHeardAt).slice(0, 18)}`;
  return {
    kind: "evacuate",
    host,
    incidentId,
    executionName: executionName("evacuate", host, incidentId),
    reason: `${observer} has not heard ${host} on the hosts' network for ${silentSeconds.toFixed(1)} s (last at ${lastHeardAt})`,
    silentSince: lastHeardAt,
  };
}

// ---- 2. deduplication ------------------------------------------------------------------------------

export type IncidentDecision =
  | { kind: "open" }
  | { kind: "resume" }
  | { kind: "duplicate"; of: string; status: HostIncidentStatus };

/** Open a new incident, resume our own (a retried step), or drop the request as a duplicate of the open one. */
export function incidentDecision(current: HostIncident | null, incidentId: string): IncidentDecision {
  if (!current) return { kind: "open" };
  if (current.id === incidentId) return { kind: "resume" };
  if (OPEN_INCIDENT_STATUSES.includes(current.status))
    return { kind: "duplicate", of: current.id, status: current.status };
  return { kind: "open" };
}

// ---- 3-4. confirming death -------------------------------------------------------------------------

export type HeartbeatAssessment =
  | { verdict: "alive"; ageSeconds: number; reason: string }
  | { verdict: "wait"; ageSeconds: number | null; waitSeconds: number; reason: string }
  | { verdict: "probe"; ageSeconds: number | null; reason: string };

/**
 * The heartbeat part of the proof of death. `lastHeartbeatAt` null = none seen in the metric's window.
 * `watchingSince` (when the incident opened) bounds the wait when there is no heartbeat at all.
 */
export function assessHeartbeat(
  obs: {
    lastHeartbeatAt: Date | null;
    watchingSince: Date;
    now: Date;
    /**
     * An automatic evacuation judges no sooner than this (its alarm + `massFailureSettleSeconds`): the
     * other hosts of a mass failure have alarmed by then. Absent: no such wait (an operator's request).
     */
    settleUntil?: Date | null;
    /**
     * When the host's peers last heard it (an incident a peer's report opened): a heartbeat no newer than
     * that, give or take the hosts' clock skew, is no sign of life, however young (the report comes
     * seconds after the death, sooner than a heartbeat ages past `heartbeatFreshSeconds`).
     */
    silentSince?: Date | null;
  },
  cfg: Pick<HostFailureConfig, "heartbeatFreshSeconds" | "graceSeconds">,
): HeartbeatAssessment {
  const verdict = beforePeersLostIt(graceVerdict(obs, cfg), obs, cfg);
  if (verdict.verdict === "alive" || !obs.settleUntil) return verdict;
  const settleLeft = Math.ceil((obs.settleUntil.getTime() - obs.now.getTime()) / 1000);
  if (settleLeft <= 0) return verdict;
  if (verdict.verdict === "wait")
    return { ...verdict, waitSeconds: Math.max(verdict.waitSeconds, settleLeft) };
  return {
    verdict: "wait",
    ageSeconds: verdict.ageSeconds,
    waitSeconds: settleLeft,
    reason: `${verdict.reason}; waiting ${settleLeft} s more so that hosts that died with it have alarmed (the mass-failure guard counts them)`,
  };
}

/** The hosts' clocks may differ by this much (chrony, Amazon Time Sync: far less). */
export const HOST_CLOCK_SKEW_SECONDS = 1;

/** A young heartbeat from before the peers lost the host: waited out to the grace period, not "alive". */
function beforePeersLostIt(
  verdict: HeartbeatAssessment,
  obs: { lastHeartbeatAt: Date | null; silentSince?: Date | null | undefined },
  cfg: Pick<HostFailureConfig, "graceSeconds">,
): HeartbeatAssessment {
  const { lastHeartbeatAt: last, silentSince } = obs;
  if (verdict.verdict !== "alive" || !last || !silentSince) return verdict;
  if (last.getTime() > silentSince.getTime() + HOST_CLOCK_SKEW_SECONDS * 1000) return verdict;
  return {
    verdict: "wait",
    ageSeconds: verdict.ageSeconds,
    waitSeconds: Math.max(1, Math.ceil(cfg.graceSeconds - verdict.ageSeconds)),
    reason: `heartbeat ${verdict.ageSeconds.toFixed(1)} s old, no newer than when its peers last heard it (${silentSince.toISOString()}): grace period ${cfg.graceSeconds} s not over`,
  };
}

function graceVerdict(
  obs: { lastHeartbeatAt: Date | null; watchingSince: Date; now: Date },
  cfg: Pick<HostFailureConfig, "heartbeatFreshSeconds" | "graceSeconds">,
): HeartbeatAssessment {
  const { now } = obs;
  if (obs.lastHeartbeatAt) {
    const age = Math.max(0, (now.getTime() - obs.lastHeartbeatAt.getTime()) / 1000);
    if (age < cfg.heartbeatFreshSeconds) {
      return {
        verdict: "alive",
        ageSeconds: age,
        reason: `heartbeat ${age.toFixed(1)} s old: the host is alive`,
      };
    }
    if (age < cfg.graceSeconds) {
      return {
        verdict: "wait",
        ageSeconds: age,
        waitSeconds: Math.max(1, Math.ceil(cfg.graceSeconds - age)),
        reason: `heartbeat ${age.toFixed(1)} s old, grace period ${cfg.graceSeconds} s not over`,
      };
    }
    return {
      verdict: "probe",
      ageSeconds: age,
      reason: `heartbeat ${age.toFixed(1)} s old, past the grace period of ${cfg.graceSeconds} s`,
    };
  }
  const watched = (now.getTime() - obs.watchingSince.getTime()) / 1000;
  if (watched < cfg.graceSeconds) {
    return {
      verdict: "wait",
      ageSeconds: null,
      waitSeconds: Math.max(1, Math.ceil(cfg.graceSeconds - watched)),
      reason: `no heartbeat seen; watching for the grace period of ${cfg.graceSeconds} s`,
    };
  }
  return {
    verdict: "probe",
    ageSeconds: null,
    reason: `no heartbeat for the whole grace period of ${cfg.graceSeconds} s`,
  };
}

/** What a direct probe through SSM Run Command returned. */
export type ProbeResult = "answered" | "unreachable" | "timed-out";

export type DeathVerdict = { verdict: "dead" | "alive"; reason: string };

/**
 * The probe part: a host that ran the probe is alive whatever its heartbeat says (its publisher, or the
 * metric path, is what failed: alert, do not evacuate). Undeliverable or timed out is the proof, together
 * with the stale heartbeat. SSM's PingStatus is never consulted: the real agent reports it every 5 minutes.
 */
export function judgeProbe(probe: ProbeResult, heartbeat: Pick<HeartbeatAssessment, "reason">): DeathVerdict {
  if (probe === "answered") {
    return {
      verdict: "alive",
      reason: `the host answered an SSM probe (${heartbeat.reason}): not evacuated`,
    };
  }
  return {
    verdict: "dead",
    reason: `${heartbeat.reason}, and an SSM probe ${probe === "unreachable" ? "could not be delivered" : "timed out"}`,
  };
}

/**
 * A host whose heartbeats stopped while it answers SSM (its publisher, its CloudWatch path or its
 * credentials failed) is not dead, but it is not known alive either: the alarm stays in ALARM (no new
 * transition would start an incident), and a host whose watchdog is armed resets itself once its lease
 * runs out (it is fed only after an accepted heartbeat). So the incident keeps watching it, probing every
 * SILENT_HOST_WATCH_SECONDS, until its heartbeat returns (not dead), it stops answering (dead: evacuated),
 * or SILENT_HOST_WATCH_MAX_SECONDS have passed (given up to the operator, who was alerted at the start).
 * Six hours of rounds stay well inside Step Functions' 25,000 history events (about 23 a round).
 */
export const SILENT_HOST_WATCH_SECONDS = 60;
export const SILENT_HOST_WATCH_MAX_SECONDS = 6 * 3600;

export type SilentHostWatch = {
  /** When the watch began (the first answer to a probe while the heartbeat was stale). */
  since: string;
  rounds: number;
  verdict: "wait" | "give-up";
  waitSeconds: number;
  reason: string;
};

/** The next round of watching a silent host that answers (`previous`: the watch so far, if any). */
export function watchSilentHost(
  previous: Pick<SilentHostWatch, "since" | "rounds"> | undefined,
  now: Date,
): SilentHostWatch {
  const since = previous?.since ?? now.toISOString();
  const rounds = (previous?.rounds ?? 0) + 1;
  const watched = Math.max(0, (now.getTime() - Date.parse(since)) / 1000);
  if (watched >= SILENT_HOST_WATCH_MAX_SECONDS) {
    return {
      since,
      rounds,
      verdict: "give-up",
      waitSeconds: 0,
      reason: `silent but answering SSM for ${Math.round(watched)} s (${rounds} rounds): watch ended, left to the operator`,
    };
  }
  return {
    since,
    rounds,
    verdict: "wait",
    waitSeconds: SILENT_HOST_WATCH_SECONDS,
    reason: `silent but answering SSM (round ${rounds}): probed again in ${SILENT_HOST_WATCH_SECONDS} s`,
  };
}

// ---- 5. which instances, in which order ------------------------------------------------------------

export interface EvacuationItem {
  instanceUuid: string;
  name: string;
  /** The child rebuild execution's request id (and name): one per incident and instance. */
  requestId: string;
  haPriority: number;
  /** vm_state before the evacuation: the confirmation expects the same power state on the target. */
  vmState: VmState;
}

/**
 * Why a plan left an instance out: `error` (ERROR before the incident: nova's
 * ignore_instances_in_error_state), `not-ha` (policy ha-only), `deleted`, `moved` (no longer on the host):
 * on purpose; `busy` (another flow holds it: looked at again next round) and `state` (a vm_state evacuate
 * does not take: paused, suspended, building): not evacuated, which makes the evacuation incomplete.
 */
export const SKIP_REASONS = ["error", "not-ha", "busy", "state", "deleted", "moved"] as const;
/** Skips that are the policy's choice: the instances stay on the dead host and that is not a failure. */
export const POLICY_SKIP_REASONS: readonly SkippedInstance["reason"][] = ["error", "not-ha", "deleted"];
export interface SkippedInstance {
  instanceUuid: string;
  name: string;
  reason: (typeof SKIP_REASONS)[number];
  message: string;
}

export interface EvacuationPlan {
  /** Priority tiers, highest priority first; a tier's evacuations all end before the next tier starts. */
  tiers: { haPriority: number; items: EvacuationItem[] }[];
  skipped: SkippedInstance[];
  total: number;
}

export function evacuationRequestId(incidentId: string, instanceUuid: string): string {
  return deterministicUuid("host-evacuation", incidentId, instanceUuid);
}

/**
 * `instances` must be the records as re-read by key (consistent), not the index's copies.
 * ERROR instances are skipped and reported (nova's `ignore_instances_in_error_state`); so are instances
 * another flow holds (task_state set), instances no longer on the host, and, with "ha-only", non-HA ones.
 */
export function planEvacuation(
  host: string,
  incidentId: string,
  instances: readonly Instance[],
  policy: EvacuationPolicy,
): EvacuationPlan {
  const skipped: SkippedInstance[] = [];
  const chosen: EvacuationItem[] = [];
  const skip = (i: Instance, reason: SkippedInstance["reason"], message: string) =>
    skipped.push({ instanceUuid: i.uuid, name: i.name, reason, message });
  for (const i of [...instances].sort((a, b) => a.name.localeCompare(b.name))) {
    if (i.host !== host) skip(i, "moved", `now on host ${i.host}`);
    else if (i.vmState === "deleted") skip(i, "deleted", "deleted");
    else if (i.vmState === "error") skip(i, "error", "in vm_state ERROR: not evacuated automatically");
    else if (i.taskState !== null) skip(i, "busy", `in task_state ${i.taskState} of another request`);
    else if (policy === "ha-only" && !i.haEnabled) skip(i, "not-ha", "HA not enabled (policy ha-only)");
    else if (i.vmState !== "active" && i.vmState !== "stopped")
      skip(i, "state", `in vm_state ${i.vmState}: only ACTIVE and STOPPED instances are evacuated`);
    else
      chosen.push({
        instanceUuid: i.uuid,
        name: i.name,
        requestId: evacuationRequestId(incidentId, i.uuid),
        haPriority: i.haPriority,
        vmState: i.vmState,
      });
  }
  const priorities = [...new Set(chosen.map((c) => c.haPriority))].sort((a, b) => b - a);
  return {
    tiers: priorities.map((p) => ({ haPriority: p, items: chosen.filter((c) => c.haPriority === p) })),
    skipped,
    total: instances.length,
  };
}

// ---- 6. confirmation and report --------------------------------------------------------------------

export interface EvacuationResult {
  instanceUuid: string;
  name: string;
  outcome: "evacuated" | "failed";
  /** Where the instance is now (its record). */
  host: string;
  vmState: VmState;
  error: string | null;
  message: string | null;
  /** The proof of the host's death the evacuation relied on (shared/domain/fencing.ts). */
  proof?: ProofKind;
}

/**
 * An evacuation counts only when the record, re-read after the child execution, says so: on another
 * host, no task, and ACTIVE (STOPPED if it was stopped). The child's own failure is the reason otherwise.
 */
export function confirmEvacuation(
  sourceHost: string,
  item: EvacuationItem,
  now: Instance,
  child: { error: string; message: string } | null,
): EvacuationResult {
  const base = { instanceUuid: item.instanceUuid, name: item.name, host: now.host, vmState: now.vmState };
  const expected = item.vmState === "stopped" ? "stopped" : "active";
  if (now.host !== sourceHost && now.taskState === null && now.vmState === expected) {
    return { ...base, outcome: "evacuated", error: null, message: null };
  }
  if (child) return { ...base, outcome: "failed", error: child.error, message: child.message };
  return {
    ...base,
    outcome: "failed",
    error: "EvacuationNotConfirmed",
    message: `the evacuation ended but the instance is on ${now.host}, vm_state ${now.vmState}, task_state ${String(now.taskState)} (expected ${expected} on another host)`,
  };
}

/** Why an instance whose record still names the dead host was not evacuated. */
export const NOT_EVACUATED_REASONS = [
  /** Its evacuation failed (the child's error). */
  "failed",
  /** No proof of the host's death for it (or the disk lock refused it): its copy may run there. */
  "fencing-required",
  /** Another flow still held it when the evacuation ended. */
  "busy",
  /** A vm_state evacuation does not take (paused, suspended, building). */
  "state",
  /** Left by the policy: not HA under ha-only, or in ERROR before the incident. Not a failure. */
  "policy",
  /** On the host, yet no round planned it (it arrived after the last plan). */
  "not-planned",
] as const;
export type NotEvacuatedReason = (typeof NOT_EVACUATED_REASONS)[number];

export interface EvacuationReport {
  host: string;
  incidentId: string;
  /** Each with the proof of the host's death it relied on (power, lease, operator, lock). */
  evacuated: { instanceUuid: string; name: string; host: string; vmState: VmState; proof: string | null }[];
  failed: { instanceUuid: string; name: string; error: string; message: string }[];
  /** Left out by the last plan on purpose (policy, deleted). */
  skipped: SkippedInstance[];
  /** Not started elsewhere for want of proof of the host's death (they stay on it, "fencing required"). */
  fencingRequired: { instanceUuid: string; name: string; reason: string }[];
  /**
   * Every instance whose record still names the host when the evacuation ends, with why: nothing is left
   * there unreported. Only `policy` ones may remain in a complete evacuation.
   */
  notEvacuated: { instanceUuid: string; name: string; reason: NotEvacuatedReason; detail: string }[];
  /** The host's proof at the last look (power / lease / operator), or why there was none. */
  hostProof: string | null;
  complete: boolean;
}

/**
 * The report of all rounds: an instance tried in more than one round (refused by a disk lock, then
 * evacuated once the host was fenced) counts by its last result. `waiting` are those still without proof
 * and those another flow held in the last round; `stillOnHost` the records (re-read) that still name the
 * host: each is reported not evacuated, with its reason.
 */
export function summarizeEvacuation(
  host: string,
  incidentId: string,
  plan: Pick<EvacuationPlan, "skipped">,
  results: readonly EvacuationResult[],
  waiting: {
    awaitingProof: readonly { instanceUuid: string; name: string; reason: string }[];
    proof: string | null;
  } = { awaitingProof: [], proof: null },
  stillOnHost: readonly Instance[] = [],
): EvacuationReport {
  const last = new Map(results.map((r) => [r.instanceUuid, r]));
  const pending = new Map(waiting.awaitingProof.map((w) => [w.instanceUuid, w]));
  const evacuated = [...last.values()]
    .filter((r) => r.outcome === "evacuated")
    .map((r) => ({
      instanceUuid: r.instanceUuid,
      name: r.name,
      host: r.host,
      vmState: r.vmState,
      proof: r.proof ?? null,
    }));
  // Refused by a disk lock (the child ended FencingRequired): as much "fencing required" as the rest.
  const refused = [...last.values()].filter((r) => r.outcome === "failed" && r.error === "FencingRequired");
  const failed = [...last.values()]
    .filter((r) => r.outcome === "failed" && r.error !== "FencingRequired" && !pending.has(r.instanceUuid))
    .map((r) => ({
      instanceUuid: r.instanceUuid,
      name: r.name,
      error: r.error ?? "Unknown",
      message: r.message ?? "",
    }));
  const fencingRequired = [
    ...waiting.awaitingProof.map((w) => ({ ...w })),
    ...refused
      .filter((r) => !pending.has(r.instanceUuid))
      .map((r) => ({
        instanceUuid: r.instanceUuid,
        name: r.name,
        reason: r.message ?? "refused by the disk lock",
      })),
  ];
  const skips = new Map(plan.skipped.map((s) => [s.instanceUuid, s]));
  const failedBy = new Map(failed.map((f) => [f.instanceUuid, f]));
  const requiringFence = new Map(fencingRequired.map((f) => [f.instanceUuid, f]));
  const notEvacuated: EvacuationReport["notEvacuated"] = [];
  for (const i of [...stillOnHost].sort((a, b) => a.name.localeCompare(b.name))) {
    if (i.host !== host || i.vmState === "deleted") continue;
    const left = (reason: NotEvacuatedReason, detail: string) =>
      notEvacuated.push({ instanceUuid: i.uuid, name: i.name, reason, detail });
    const skip = skips.get(i.uuid);
    const f = failedBy.get(i.uuid);
    const fence = requiringFence.get(i.uuid);
    if (f) left("failed", `${f.error}: ${f.message}`);
    else if (fence) left("fencing-required", fence.reason);
    else if (i.taskState !== null)
      left("busy", `held by another flow (task_state ${i.taskState}, request ${String(i.taskRequestId)})`);
    else if (skip && POLICY_SKIP_REASONS.includes(skip.reason)) left("policy", skip.message);
    else if (skip?.reason === "state") left("state", skip.message);
    else if (skip?.reason === "busy") left("busy", skip.message);
    else left("not-planned", `on ${host} (vm_state ${i.vmState}), and no round of the evacuation planned it`);
  }
  return {
    host,
    incidentId,
    evacuated,
    failed,
    skipped: plan.skipped.filter((s) => POLICY_SKIP_REASONS.includes(s.reason)),
    fencingRequired,
    notEvacuated,
    hostProof: waiting.proof,
    complete:
      failed.length === 0 && fencingRequired.length === 0 && notEvacuated.every((n) => n.reason === "policy"),
  };
}

// ---- 7. the returning host -------------------------------------------------------------------------

export interface DomainVerdicts {
  /** Defined here, but the record names another host and no flow holds it: destroy and undefine. */
  stale: { instanceUuid: string; liveOn: string; removeLocalDisk: boolean }[];
  /** The record still names this host (skipped, failed): reported, not touched. */
  kept: { instanceUuid: string; name: string; vmState: VmState }[];
  /** A flow holds the instance (task_state set): not touched now. */
  busy: { instanceUuid: string; taskState: string }[];
  /** No record at all: not Lazarus's to judge; reported. */
  unknown: string[];
}

/**
 * nova's `_destroy_evacuated_instances`, done better: a domain whose instance now lives on another host is
 * stale whatever its migration's status (nova skips `failed`/`error` migrations: bug 1713783). Its disk is
 * removed only when it is on this host's local storage; a shared disk is the evacuated copy's disk.
 */
export function classifyDomains(
  host: Pick<Host, "name" | "storage">,
  domainUuids: readonly string[],
  records: ReadonlyMap<string, Instance | null>,
): DomainVerdicts {
  const out: DomainVerdicts = { stale: [], kept: [], busy: [], unknown: [] };
  for (const uuid of domainUuids) {
    const rec = records.get(uuid) ?? null;
    if (!rec) out.unknown.push(uuid);
    else if (rec.taskState !== null) out.busy.push({ instanceUuid: uuid, taskState: rec.taskState });
    else if (rec.host === host.name)
      out.kept.push({ instanceUuid: uuid, name: rec.name, vmState: rec.vmState });
    else
      out.stale.push({
        instanceUuid: uuid,
        liveOn: rec.host,
        removeLocalDisk: host.storage.sharedPoolId === null,
      });
  }
  return out;
}

/**
 * Claims on the returning host that no longer hold anything: the instance lives elsewhere (or is gone) and
 * no flow is using the claim (a flow's claim is owned by its request id, which is the instance's task owner).
 */
export function claimsToRelease(
  host: Pick<Host, "name" | "claims">,
  records: ReadonlyMap<string, Instance | null>,
): Claim[] {
  return Object.values(host.claims).filter((c) => {
    const rec = records.get(c.instanceUuid) ?? null;
    if (!rec) return true;
    if (rec.host === host.name) return false;
    return !(rec.taskState !== null && rec.taskRequestId === c.owner);
  });
}

/**
 * Migrations away from this host whose stale copy is gone: every ended one (done, failed, error) of an
 * instance that now lives elsewhere. Those of instances still here stay as they are (history).
 */
export function migrationsToComplete(
  hostName: string,
  migrations: readonly Migration[],
  records: ReadonlyMap<string, Instance | null>,
): Migration[] {
  return migrations.filter((m) => {
    if (m.sourceHost !== hostName || m.type !== "evacuation") return false;
    // Ended, and not yet completed (done, failed, error: the statuses that may still become completed).
    if (!canMigrationTransition(m.status, "completed")) return false;
    const rec = records.get(m.instanceUuid) ?? null;
    return rec === null || (rec.host !== hostName && rec.taskState === null);
  });
}

/**
 * What the host-recovery flow does for an incident in this status. An evacuation that aborted may have
 * moved some instances before it failed (a chaos run: two DynamoDB errors in a row ended one after it had
 * rebuilt an instance elsewhere), so its returned host is cleaned as an evacuated one is: only domains whose
 * record names another host, and that no flow holds, go.
 */
export function recoveryAction(incident: HostIncident | null): "wait" | "clean" | "nothing" {
  if (!incident) return "nothing";
  if (incident.status === "confirming" || incident.status === "evacuating") return "wait";
  if (incident.status === "evacuated" || incident.status === "aborted") return "clean";
  return "nothing";
}
