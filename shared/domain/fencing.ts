/**
 * Proof of death and the mass-failure guard: the decisions between "the host looks dead" and "its instances
 * may be started elsewhere", pure functions of observations and a clock (as the rest of the host-failure
 * policy, shared/domain/host-failure.ts). The host-evacuation steps and the policy simulator
 * (test/unit/ha-simulator) call these same functions.
 *
 *  1. `suspectHosts` / `massFailureVerdict`  more than a share of the fleet dead within one window is far
 *     more likely the network, SSM or CloudWatch than the hosts: hold everything, alert the operator.
 *  2. `judgeFence` / `leaseEvidence` / `hostProof`  proof recorded on the host (`Host.deathProof`: an
 *     operator's force-down, or an earlier round's), a `power` fence confirmed off, or the host's `lease`
 *     expired while its own heartbeats said its watchdog was armed, is proof for every instance of the host.
 *  3. `instanceProof`  without host proof, a disk on shared storage under a host-side lock (`lock`) is
 *     proof enough to *try* (the target's start is refused while the old copy holds the disk); an instance
 *     on local storage never is: it waits, "fencing required", until host proof arrives. The same rule
 *     admits an operator's evacuation (shared/flow/admission.ts): one rule for every copy started.
 */
import {
  type DeathProof,
  type Host,
  type HostFencing,
  type HostIncident,
  type HostProofKind,
  type IncidentSource,
  OPEN_INCIDENT_STATUSES,
  type PowerAnswer,
  type PowerFence,
  type ProofKind,
} from "./schemas.js";

// ---- configuration ---------------------------------------------------------------------------------

/**
 * Seconds between a host's heartbeats unless its configuration says otherwise (`heartbeat.intervalSeconds`
 * in shared/definitions/host-config.ts), and the control plane's default for the longest interval of any
 * host (`FencingConfig.heartbeatIntervalSeconds`, LAZARUS_HEARTBEAT_INTERVAL_SECONDS).
 */
export const HEARTBEAT_INTERVAL_SECONDS = 5;

export interface FencingConfig {
  /** Share of the fleet that may look dead within `massFailureWindowSeconds` before nothing is automatic. */
  massFailureShare: number;
  massFailureWindowSeconds: number;
  /**
   * The lease: a host whose heartbeats said its watchdog device was armed with a timeout no longer than this
   * has reset itself within this long after its last feed (its agent feeds it only after a heartbeat was
   * accepted). A host reporting a longer timeout, or none, never counts as self-fenced.
   */
  leaseSeconds: number;
  /**
   * Added to the lease before the control plane counts the host as self-fenced: the time between the
   * heartbeat's timestamp and the watchdog's feed (delivery and answer), plus the bound on clock skew
   * between host and control plane (hosts run chrony / Amazon Time Sync; the heartbeat's timestamp is the
   * host's clock).
   */
  leaseMarginSeconds: number;
  /** A power fence with no answer after this long has timed out (no proof). */
  fenceTimeoutSeconds: number;
  /** How long the flow waits before trying a failed or timed-out fence again. */
  fenceRetrySeconds: number;
  /** Looks for proof (fence attempts) before the evacuation ends with instances still "fencing required". */
  maxProofRounds: number;
  /**
   * The longest heartbeat interval of any host (LAZARUS_HEARTBEAT_INTERVAL_SECONDS): a live host adds at most
   * the window plus this to the fleet series (`settleVerdict`).
   */
  heartbeatIntervalSeconds: number;
}

export const DEFAULT_FENCING_CONFIG: FencingConfig = {
  massFailureShare: 1 / 3,
  massFailureWindowSeconds: 120,
  leaseSeconds: 60,
  leaseMarginSeconds: 15,
  fenceTimeoutSeconds: 60,
  fenceRetrySeconds: 30,
  maxProofRounds: 10,
  heartbeatIntervalSeconds: HEARTBEAT_INTERVAL_SECONDS,
};

// ---- 1. mass failure -------------------------------------------------------------------------------

/** Incident statuses that count a host as failed for the guard (not-dead, aborted, closed hosts came back). */
export const OPEN_SUSPECT_INCIDENT_STATUSES: readonly HostIncident["status"][] = [
  "confirming",
  "held",
  "evacuating",
  "evacuated",
];

export interface SuspectHost {
  host: string;
  since: string;
}

/**
 * Hosts that look dead within the window ending `now`: an open incident opened inside the window, or a
 * heartbeat alarm (status down) with no incident yet. Enabled and disabled hosts alike (a disabled host
 * that stops beating is as much a sign of a network failure).
 */
export function suspectHosts(
  hosts: readonly Pick<Host, "name" | "status" | "incident">[],
  now: Date,
  cfg: Pick<FencingConfig, "massFailureWindowSeconds">,
): SuspectHost[] {
  const from = now.getTime() - cfg.massFailureWindowSeconds * 1000;
  const out: SuspectHost[] = [];
  for (const h of hosts) {
    const inc = h.incident;
    const open = inc !== null && OPEN_SUSPECT_INCIDENT_STATUSES.includes(inc.status);
    // A confirming or held host whose heartbeat came back (status up) is not suspect any more.
    const proven = open && (inc.status === "evacuating" || inc.status === "evacuated");
    if (open && Date.parse(inc.openedAt) >= from && (proven || h.status === "down"))
      out.push({ host: h.name, since: inc.openedAt });
    else if (!open && h.status === "down") out.push({ host: h.name, since: now.toISOString() });
  }
  return out.sort((a, b) => a.host.localeCompare(b.host));
}

export type MassFailureVerdict =
  | { verdict: "proceed"; suspects: string[]; reason: string }
  | { verdict: "hold"; hosts: string[]; reason: string };

/** The fewest suspects that hold (more than the share of the fleet): one more than the share allows. */
export function suspectsThatHold(fleetSize: number, cfg: Pick<FencingConfig, "massFailureShare">): number {
  return Math.floor(fleetSize * cfg.massFailureShare + 1e-9) + 1;
}

/**
 * The fleet series' window (`fleetSeriesWindow`). Its margins: the hosts' clocks (a heartbeat's timestamp is
 * its host's; chrony or Amazon Time Sync keep them far closer than this), and the data still arriving when
 * the series is read (AWS publishes no figure for EMF's extraction; the local CloudWatch Logs extracts in the
 * call). A beat that arrives after the window's end reads as silence: it can only keep the wait. Its length:
 * a live host adds between the window less one interval and the window plus one (its beats' phase), so the
 * lower bound of the hosts beating is within (k-1)/(k+1) of the truth over k intervals: six give 5/7, enough
 * to tell one silent host of four (three beating) and to stay below a third of any larger fleet.
 */
export const FLEET_SERIES_SKEW_SECONDS = 1;
export const FLEET_SERIES_LAG_SECONDS = 2;
export const FLEET_SERIES_WINDOW_INTERVALS = 6;

/**
 * The window in which the fleet series must show every host that did not go silent with this one: the last
 * FLEET_SERIES_WINDOW_INTERVALS intervals before `now` less the lag, and none of it before `lastBeatAt` +
 * one interval + the skew (a host that died at the same moment as this one did so after this one's last beat
 * and before its next, so its own last beat came before that). A host that went silent inside the window
 * adds part of it and may count as beating: the series sees hosts that died together with this one, up to
 * the window's start (later ones alarm and are counted by the guard when their own evacuation judges).
 * Whole seconds (the series' periods); null when shorter than one interval.
 */
export function fleetSeriesWindow(
  lastBeatAt: Date,
  now: Date,
  cfg: Pick<FencingConfig, "heartbeatIntervalSeconds">,
): { from: Date; to: Date; seconds: number } | null {
  const interval = cfg.heartbeatIntervalSeconds;
  const to = Math.floor(now.getTime() / 1000 - FLEET_SERIES_LAG_SECONDS);
  const from = Math.max(
    earliestWindowStart(lastBeatAt, interval),
    to - Math.ceil(FLEET_SERIES_WINDOW_INTERVALS * interval),
  );
  const seconds = to - from;
  return seconds >= interval ? { from: new Date(from * 1000), to: new Date(to * 1000), seconds } : null;
}

/**
 * When `fleetSeriesWindow` first gives a window for a host last heard at `lastBeatAt`: its start plus one
 * interval and the lag. An incident opened before then (by a peer's report, seconds after the death)
 * assesses again at that moment instead of waiting out the whole settle.
 */
export function fleetSeriesReadableAt(
  lastBeatAt: Date,
  cfg: Pick<FencingConfig, "heartbeatIntervalSeconds">,
): Date {
  const interval = cfg.heartbeatIntervalSeconds;
  const from = earliestWindowStart(lastBeatAt, interval);
  return new Date((Math.ceil(from + interval) + FLEET_SERIES_LAG_SECONDS + 1) * 1000);
}

/** No window starts before `lastBeatAt` + one interval + the skew (whole seconds): `fleetSeriesWindow`. */
function earliestWindowStart(lastBeatAt: Date, intervalSeconds: number): number {
  return Math.ceil(lastBeatAt.getTime() / 1000 + intervalSeconds + FLEET_SERIES_SKEW_SECONDS);
}

export type SettleVerdict = {
  verdict: "wait" | "skip";
  reason: string;
  /**
   * A wait the fleet series may lift soon: it cannot be read yet, or its window is still shorter than its
   * full length (a short window bounds the hosts beating loosely). Assess again then.
   */
  againAt?: string;
};

/**
 * From the fleet series' Sum over a window: at least `beating` hosts beat through it (each adds at most the
 * window plus the longest interval), so at most `silent` did not, this one among them (at least 1).
 */
export function hostsSilentAtMost(
  obs: { fleetSize: number; beatSeconds: number; windowSeconds: number },
  cfg: Pick<FencingConfig, "heartbeatIntervalSeconds">,
): { beating: number; silent: number } {
  const beating = Math.min(
    obs.fleetSize,
    Math.ceil(obs.beatSeconds / (obs.windowSeconds + cfg.heartbeatIntervalSeconds) - 1e-9),
  );
  return { beating, silent: Math.max(1, obs.fleetSize - beating) };
}

/**
 * Whether an alarm's evacuation must wait for the alarms of hosts that may have died with it (the
 * mass-failure settle) before the guard counts. The fleet series says how many hosts still beat: each live
 * host adds at most the window plus its interval, so the Sum divided by that is a lower bound of the hosts
 * beating, and the fleet size less it an upper bound of the hosts silent in the window, this one among them.
 * If even every silent host counted as a suspect, beside the suspects the guard counts already (a host in
 * both counted twice), would not make more than the share, waiting for their alarms cannot change the
 * verdict: skip the wait. Anything that reads low (data late, the series missing) only keeps the wait.
 * Hosts beating faster than their interval says (EMF's rare duplicate data points, a misconfigured
 * interval) read high and could skip a wait that mattered: the guard then counts a co-dying host too few,
 * an evacuation not held (availability, not safety: every restart still needs its proof of death).
 */
export function settleVerdict(
  obs: {
    fleetSize: number;
    /**
     * Suspects the guard counts now, this host included, read as far as they can matter; null when not read
     * (the silent hosts alone could hold).
     */
    suspects: number | null;
    /** The fleet series' Sum over the window. */
    beatSeconds: number;
    windowSeconds: number;
  },
  cfg: Pick<FencingConfig, "massFailureShare" | "heartbeatIntervalSeconds">,
): SettleVerdict {
  const { beating, silent } = hostsSilentAtMost(obs, cfg);
  const couldCount = Math.max(1, obs.suspects ?? 1) + silent - 1;
  const holds = suspectsThatHold(obs.fleetSize, cfg);
  const seen = `the fleet's heartbeats over ${obs.windowSeconds} s: at least ${beating} of ${obs.fleetSize} hosts beating, at most ${silent} silent (this one included), ${obs.suspects === null ? "the guard's suspects not read" : `${obs.suspects} counted by the guard`}`;
  return couldCount < holds
    ? {
        verdict: "skip",
        reason: `${seen}; even all of them, ${couldCount} would not hold (${holds} hold): no alarm to wait for`,
      }
    : {
        verdict: "wait",
        reason: `${seen}; ${couldCount} could hold (${holds} hold): waiting for their alarms`,
      };
}

/**
 * oVirt's fencing-storm protection. More than `massFailureShare` of the fleet suspect (strictly more: one
 * host of three may still fail alone) holds every automatic fence and evacuation; the operator is alerted
 * with the list and may still evacuate by hand. A request from the operator is never held.
 */
export function massFailureVerdict(
  suspects: readonly SuspectHost[],
  fleetSize: number,
  source: IncidentSource,
  cfg: Pick<FencingConfig, "massFailureShare" | "massFailureWindowSeconds">,
): MassFailureVerdict {
  const names = suspects.map((s) => s.host);
  const what = `${names.length} of ${fleetSize} hosts look dead within ${cfg.massFailureWindowSeconds} s (${names.join(", ")})`;
  if (source === "operator")
    return { verdict: "proceed", suspects: names, reason: `${what}; requested by an operator` };
  // An empty fleet count holds, as the share of nothing always did (taken as all of it).
  if (fleetSize <= 0 || names.length >= suspectsThatHold(fleetSize, cfg)) {
    return {
      verdict: "hold",
      hosts: names,
      reason: `${what}: more than ${formatShare(cfg.massFailureShare)} of the fleet, more likely a network, SSM or CloudWatch failure than dead hosts; nothing is fenced or evacuated automatically`,
    };
  }
  return {
    verdict: "proceed",
    suspects: names,
    reason: `${what}: at most ${formatShare(cfg.massFailureShare)}`,
  };
}

function formatShare(share: number): string {
  const third = Math.abs(share - 1 / 3) < 1e-6;
  return third ? "a third" : `${Math.round(share * 100)}%`;
}

// ---- 2. proof for the host -------------------------------------------------------------------------

/**
 * What a power fence (ec2:StopInstances with force, a BMC through a delegate's fence agent) answered.
 * `unavailable`: the host has a BMC fence but no delegate could run it (none fit, or every one failed to).
 */
export type FenceOutcome = "off" | "failed" | "timed-out" | "unsupported" | "unavailable";

export interface FenceAttempt {
  outcome: FenceOutcome;
  at: string;
  detail: string;
  /** Which fence ran (the host's `fencing.power`). */
  method?: PowerFence;
  /** The delegate host whose fence agent answered (BMC fences). */
  delegate?: string | null;
  /** Every answer on the way, with its time (agent calls, delegates that could not run it, EC2 calls). */
  answers?: PowerAnswer[];
}

/** A fence that did not answer within its timeout is `timed-out`, whatever it answers later. */
export function judgeFence(
  started: Date,
  answer: { outcome: "off" | "failed"; at: Date; detail: string } | null,
  now: Date,
  cfg: Pick<FencingConfig, "fenceTimeoutSeconds">,
): FenceAttempt | null {
  const deadline = started.getTime() + cfg.fenceTimeoutSeconds * 1000;
  if (answer && answer.at.getTime() <= deadline)
    return { outcome: answer.outcome, at: answer.at.toISOString(), detail: answer.detail };
  if (now.getTime() >= deadline)
    return {
      outcome: "timed-out",
      at: new Date(deadline).toISOString(),
      detail: `no answer within ${cfg.fenceTimeoutSeconds} s${answer ? ` (answered ${answer.outcome} too late)` : ""}`,
    };
  return null;
}

/**
 * One period (1 s) of the host's heartbeat metric (shared/definitions/heartbeat.ts): how many heartbeats,
 * and the smallest and largest value among them. A heartbeat's value is the timeout, in whole seconds, of
 * the watchdog device the host has armed (0 = none armed); `at` is the period's start, on the host's clock.
 */
export interface HeartbeatSample {
  at: Date;
  count: number;
  min: number;
  max: number;
}

/** What the control plane reads for the lease: from this long before the incident opened until now. */
export function heartbeatLookbackStart(
  watchingSince: Date,
  cfg: Pick<FencingConfig, "leaseSeconds" | "leaseMarginSeconds">,
): Date {
  const seconds = Math.max(600, 4 * (cfg.leaseSeconds + cfg.leaseMarginSeconds));
  return new Date(watchingSince.getTime() - seconds * 1000);
}

export type LeaseEvidence =
  | {
      armed: true;
      /** The last heartbeat before the silence (host clock). */
      lastHeartbeatAt: Date;
      /** lastHeartbeatAt + lease + margin: the watchdog has reset the node by then. */
      expiresAt: Date;
      /** The largest watchdog timeout the window's heartbeats reported (<= the lease). */
      timeoutSeconds: number;
    }
  | { armed: false; lastHeartbeatAt: Date | null; reason: string };

/**
 * THE LEASE RULE. Which silence: the one the incident is about, starting at the newest heartbeat at or
 * before the incident opened (the oldest in view if the host's clock is so far ahead that none is), and
 * moved on past every heartbeat that arrived no later than lease + margin after the one before it (that
 * heartbeat was followed by a feed: the lease starts again from it). A heartbeat that arrives later than
 * that, after a full silence of lease + margin, does not move it: the node has reset by then (a host
 * coming back after a reset starts nothing by itself).
 *
 * Evidence: every heartbeat in the lease before the silence (the window [last - lease, last]) reported an
 * armed watchdog (value >= 1) whose timeout is no longer than the lease. One heartbeat saying 0 (nothing
 * armed) or a longer timeout in that window, or no heartbeat in view at all, and there is no lease proof.
 *
 * Expiry: last + lease + margin. The agent feeds the device only after CloudWatch accepted a heartbeat, so
 * the last feed follows the last heartbeat by at most the margin (which also bounds the skew between the
 * host's clock, the heartbeat's timestamp, and the control plane's); unfed, the device resets the node
 * within its timeout <= lease.
 */
export function leaseEvidence(
  samples: readonly HeartbeatSample[],
  watchingSince: Date,
  cfg: Pick<FencingConfig, "leaseSeconds" | "leaseMarginSeconds">,
): LeaseEvidence {
  const beats = samples.filter((s) => s.count > 0).sort((a, b) => a.at.getTime() - b.at.getTime());
  if (beats.length === 0)
    return {
      armed: false,
      lastHeartbeatAt: null,
      reason: "no heartbeat of the host in view: nothing says its watchdog was armed",
    };
  const spanMs = (cfg.leaseSeconds + cfg.leaseMarginSeconds) * 1000;
  let i = Math.max(
    0,
    beats.findLastIndex((b) => b.at.getTime() <= watchingSince.getTime()),
  );
  while (i + 1 < beats.length && beats[i + 1]!.at.getTime() - beats[i]!.at.getTime() <= spanMs) i++;
  const last = beats[i]!;
  const window = beats.filter(
    (b) =>
      b.at.getTime() >= last.at.getTime() - cfg.leaseSeconds * 1000 && b.at.getTime() <= last.at.getTime(),
  );
  const min = Math.min(...window.map((b) => b.min));
  const max = Math.max(...window.map((b) => b.max));
  const when = `the heartbeats of the ${cfg.leaseSeconds} s up to the last one (${last.at.toISOString()})`;
  if (min < 1)
    return { armed: false, lastHeartbeatAt: last.at, reason: `${when} include one with no watchdog armed` };
  if (max > cfg.leaseSeconds)
    return {
      armed: false,
      lastHeartbeatAt: last.at,
      reason: `${when} report a watchdog timeout of ${max} s, longer than the lease of ${cfg.leaseSeconds} s`,
    };
  return {
    armed: true,
    lastHeartbeatAt: last.at,
    expiresAt: new Date(last.at.getTime() + spanMs),
    timeoutSeconds: max,
  };
}

export interface HostProofObservation {
  /** The proof already on the host record (an operator's force-down, or an earlier round's). */
  recorded: DeathProof | null;
  /** The last power fence attempt, if any. */
  fence: FenceAttempt | null;
  /** The host's heartbeat samples since `heartbeatLookbackStart`, any order. */
  heartbeats: readonly HeartbeatSample[];
  /** When the incident opened (control-plane clock). */
  watchingSince: Date;
  now: Date;
  /**
   * The host's last reset that instance recovery acted on (`Host.lastReset.at`, host clock): guests were
   * restarted in place after it, so heartbeats from before it say nothing of what runs now.
   */
  lastResetAt?: Date | null;
}

export type HostProof =
  | { proof: HostProofKind; at: string; reason: string }
  | { proof: null; reason: string; leaseExpiresAt: string | null };

/** A proof recorded on the host (Host.deathProof) as the host's proof. */
export function recordedProof(p: DeathProof): HostProof & { proof: HostProofKind } {
  return {
    proof: p.kind,
    at: p.at,
    reason: `${p.kind} (recorded ${p.at}${p.incidentId ? `, incident ${p.incidentId}` : ""}): ${p.detail}`,
  };
}

/**
 * Proof that no domain of the host runs any more: one recorded on the host, else a confirmed power
 * fence, else an expired lease with evidence (`leaseEvidence`) from the heartbeats since the host's last
 * reset that guests were restarted after (`lastResetAt`: the lease's "a reset host starts nothing" no longer
 * holds for a silence before it), else none.
 */
export function hostProof(
  obs: HostProofObservation,
  cfg: Pick<FencingConfig, "leaseSeconds" | "leaseMarginSeconds">,
): HostProof {
  if (obs.recorded) return recordedProof(obs.recorded);
  if (obs.fence?.outcome === "off")
    return { proof: "power", at: obs.fence.at, reason: `power fence: ${obs.fence.detail}` };
  const fenceNote = obs.fence ? `; power fence ${obs.fence.outcome}: ${obs.fence.detail}` : "";
  const resetAt = obs.lastResetAt?.getTime() ?? null;
  const heartbeats =
    resetAt === null ? obs.heartbeats : obs.heartbeats.filter((s) => s.at.getTime() >= resetAt);
  const lease = leaseEvidence(heartbeats, obs.watchingSince, cfg);
  if (!lease.armed)
    return { proof: null, leaseExpiresAt: null, reason: `no lease: ${lease.reason}${fenceNote}` };
  const expiry = lease.expiresAt.toISOString();
  if (obs.now.getTime() >= lease.expiresAt.getTime())
    return {
      proof: "lease",
      at: expiry,
      reason: `lease expired at ${expiry}: the host's heartbeats until ${lease.lastHeartbeatAt.toISOString()} said its watchdog was armed (timeout <= ${lease.timeoutSeconds} s); unfed since, it has reset the node (lease ${cfg.leaseSeconds} s + margin ${cfg.leaseMarginSeconds} s)${fenceNote}`,
    };
  return {
    proof: null,
    leaseExpiresAt: expiry,
    reason: `lease expires at ${expiry} (watchdog armed, timeout <= ${lease.timeoutSeconds} s)${fenceNote}`,
  };
}

/**
 * An operator's statement that the host is off (nova's forced_down), as the host's proof of death: who
 * said it (the API caller, or "an operator" where the API knows none) and through what.
 */
export function operatorProof(
  host: Pick<Host, "name" | "incident">,
  said: { by: string | null; via: string; at: Date },
): DeathProof {
  const inc = host.incident;
  const open = inc && OPEN_INCIDENT_STATUSES.includes(inc.status) ? inc.id : null;
  return {
    kind: "operator",
    at: said.at.toISOString(),
    incidentId: open,
    detail: `${host.name} forced down by ${said.by ?? "an operator"} (${said.via}): the operator's word that it is off`,
  };
}

/** The proof on a host's record as the admission of an evacuation sees it (no fence, no heartbeat read). */
export function hostProofOfRecord(host: Pick<Host, "name" | "deathProof" | "incident">): HostProof {
  if (host.deathProof) return recordedProof(host.deathProof);
  const inc = host.incident;
  const open = inc && OPEN_INCIDENT_STATUSES.includes(inc.status);
  return {
    proof: null,
    leaseExpiresAt: null,
    reason: open
      ? `${host.name} is not proven dead: its incident ${inc.id} (${inc.status}) has no proof of death yet`
      : `${host.name} is not proven dead: no proof of its death is recorded`,
  };
}

// ---- 3. proof per instance -------------------------------------------------------------------------

export type InstanceProof = { proof: ProofKind; reason: string } | { proof: null; reason: string };

/**
 * Where an instance's disk is, as far as a second copy is concerned: in the host's shared pool (unless the
 * instance says it is not on shared storage), under host-side locks when the host says its pool enforces
 * them.
 */
export function diskOf(
  source: { storage: { sharedPoolId: string | null }; fencing: Pick<HostFencing, "diskLocks"> },
  onSharedStorage: boolean | null = null,
): { shared: boolean; hostLocks: boolean } {
  return {
    shared: source.storage.sharedPoolId !== null && onSharedStorage !== false,
    hostLocks: source.fencing.diskLocks,
  };
}

/**
 * THE ONE RULE for starting a copy elsewhere (host-evacuation's gate and every evacuation's admission). `lock`
 * only for a disk on shared storage whose hosts enforce the image lock (the target refuses to open a disk
 * another host still holds); a local-storage instance is recreated from its image elsewhere, so nothing
 * would stop a second copy: it needs host proof.
 */
export function instanceProof(host: HostProof, disk: { shared: boolean; hostLocks: boolean }): InstanceProof {
  if (host.proof) return { proof: host.proof, reason: host.reason };
  if (disk.shared && disk.hostLocks)
    return {
      proof: "lock",
      reason: `shared disk under the host-side image lock: the target refuses it while the old copy holds it (${host.reason})`,
    };
  return {
    proof: null,
    reason: `fencing required: ${disk.shared ? "shared disk without a host-side lock" : "local disk"}, and no proof of the host's death yet (${host.reason})`,
  };
}

/**
 * The words of a start refused because another process holds the disk's lock (qemu's image lock, or
 * virtlockd), matched without case: an extended regular expression, the same for JavaScript and for the
 * host's `grep -iE` (define-domain reads qemu's log with it), with no quote the shell would read.
 */
export const DISK_LOCK_REFUSAL_PATTERN =
  'Failed to get "(write|shared)" lock|Is another process using the image|resource busy: Lockspace|Failed to acquire lock';

/**
 * A start the target refused because another host still holds the disk (qemu's image lock, or virtlockd):
 * the old copy runs. Not an error of the instance: it is "fencing required" until the host is proven dead.
 */
export function isDiskLockRefusal(message: string): boolean {
  return new RegExp(DISK_LOCK_REFUSAL_PATTERN, "i").test(message);
}

/**
 * What would prove `host` dead, for a refusal an operator reads: its fence, or the operator's own word.
 */
export function howToProveDead(host: string): string {
  return (
    `Power ${host} off through its fence (host evacuation does: POST /os-hosts/${host}/evacuate, ` +
    `\`lazarus host-evacuate ${host}\`), or, once you know it is off, force it down: ` +
    `\`openstack compute service set --down ${host} nova-compute\` (compute API 2.11 or later) or ` +
    `\`lazarus host force-down ${host}\`.`
  );
}

// ---- 4. the evacuation waits for proof -------------------------------------------------------------

export interface ProofGate<I> {
  /** May be evacuated now, with the proof each relies on. */
  ready: { item: I; proof: ProofKind }[];
  /** "fencing required": no proof yet (local disk, or a shared disk without host-side locks). */
  waiting: { item: I; reason: string }[];
}

/**
 * Splits a host's planned evacuations by `instanceProof` over `diskOf` (the host's pool and locks, and each
 * instance's own word on shared storage when `sharedOf` gives it).
 */
export function gateByProof<I>(
  items: readonly I[],
  proof: HostProof,
  source: { storage: { sharedPoolId: string | null }; fencing: Pick<HostFencing, "diskLocks"> },
  sharedOf: (item: I) => boolean | null = () => null,
): ProofGate<I> {
  const gate: ProofGate<I> = { ready: [], waiting: [] };
  for (const item of items) {
    const p = instanceProof(proof, diskOf(source, sharedOf(item)));
    if (p.proof) gate.ready.push({ item, proof: p.proof });
    else gate.waiting.push({ item, reason: p.reason });
  }
  return gate;
}

export type ProofLook =
  | { verdict: "wait"; waitSeconds: number; reason: string }
  | { verdict: "give-up"; reason: string };

/**
 * After a round of evacuations with instances still waiting, for proof ("fencing required") or for another
 * flow that held them when the round was planned (`busy`): look again (fence again, see the lease expire,
 * find them free) after `fenceRetrySeconds`, sooner when the lease expires first. Give up after
 * `maxProofRounds` rounds, or when the host's heartbeat is back before any proof (its instances run there:
 * nothing may be moved). A heartbeat back after the proof changes nothing: the node was reset or powered
 * off, and starts nothing by itself.
 */
export function nextProofLook(
  obs: {
    round: number;
    proof: HostProof;
    heartbeatAlive: boolean;
    now: Date;
    /** Instances still "fencing required" (no proof, or refused by the disk lock). */
    waitingForProof: number;
    /** Instances another flow held (task_state set) when this round was planned. */
    busy: number;
  },
  cfg: Pick<FencingConfig, "fenceRetrySeconds" | "maxProofRounds">,
): ProofLook {
  if (obs.heartbeatAlive && !obs.proof.proof)
    return {
      verdict: "give-up",
      reason: "the host's heartbeat is back before proof of its death: its instances stay on it",
    };
  const what = [
    ...(obs.waitingForProof > 0 ? [`${obs.waitingForProof} waiting for proof (${obs.proof.reason})`] : []),
    ...(obs.busy > 0 ? [`${obs.busy} held by another flow`] : []),
  ].join("; ");
  if (obs.round >= cfg.maxProofRounds)
    return { verdict: "give-up", reason: `still after ${obs.round} rounds: ${what}` };
  const leaseAt = obs.proof.proof ? null : obs.proof.leaseExpiresAt;
  const untilLease = leaseAt
    ? Math.ceil((Date.parse(leaseAt) - obs.now.getTime()) / 1000)
    : Number.POSITIVE_INFINITY;
  const waitSeconds = Math.min(cfg.fenceRetrySeconds, Math.max(1, untilLease));
  return { verdict: "wait", waitSeconds, reason: `looking again in ${waitSeconds} s: ${what}` };
}
