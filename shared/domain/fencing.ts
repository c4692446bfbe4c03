/**
 * Proof of death and the mass-failure guard: the decisions between "the host looks dead" and "its instances
 * may be started elsewhere", pure functions of observations and a clock (as the rest of the host-failure
 * policy, shared/domain/host-failure.ts). The host-evacuation steps and the policy simulator
 * (test/unit/ha-simulator) call these same functions.
 *
 *  1. `suspectHosts` / `massFailureVerdict`  more than a share of the fleet dead within one window is far
 *     more likely the network, SSM or CloudWatch than the hosts: hold everything, alert the operator.
 *  2. `judgeFence` / `hostProof`  a `power` fence confirmed off, or the host's `lease` expired (its watchdog
 *     powered its domains off), is proof for every instance of the host.
 *  3. `instanceProof`  without host proof, a disk on shared storage under a host-side lock (`lock`) is
 *     proof enough to *try* (the target's start is refused while the old copy holds the disk); an instance
 *     on local storage never is: it waits, "fencing required", until host proof arrives.
 */
import type { Host, HostFencing, HostIncident, PowerAnswer, PowerFence } from "./schemas.js";

// ---- configuration ---------------------------------------------------------------------------------

export interface FencingConfig {
  /** Share of the fleet that may look dead within `massFailureWindowSeconds` before nothing is automatic. */
  massFailureShare: number;
  massFailureWindowSeconds: number;
  /**
   * The watchdog's lease: a host's watchdog powers its domains off when the agent has not fed it for this
   * long (it feeds it only after a heartbeat was accepted). 0 = the fleet runs no watchdog: no lease proof.
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
}

export const DEFAULT_FENCING_CONFIG: FencingConfig = {
  massFailureShare: 1 / 3,
  massFailureWindowSeconds: 120,
  leaseSeconds: 60,
  leaseMarginSeconds: 15,
  fenceTimeoutSeconds: 60,
  fenceRetrySeconds: 30,
  maxProofRounds: 10,
};

// ---- 1. mass failure -------------------------------------------------------------------------------

/** Incident statuses that count a host as failed for the guard (not-dead, aborted, closed hosts came back). */
const SUSPECT_STATUSES: readonly HostIncident["status"][] = ["confirming", "held", "evacuating", "evacuated"];

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
    const open = inc !== null && SUSPECT_STATUSES.includes(inc.status);
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

/**
 * oVirt's fencing-storm protection. More than `massFailureShare` of the fleet suspect (strictly more: one
 * host of three may still fail alone) holds every automatic fence and evacuation; the operator is alerted
 * with the list and may still evacuate by hand. A request from the operator is never held.
 */
export function massFailureVerdict(
  suspects: readonly SuspectHost[],
  fleetSize: number,
  source: "alarm" | "operator",
  cfg: Pick<FencingConfig, "massFailureShare" | "massFailureWindowSeconds">,
): MassFailureVerdict {
  const names = suspects.map((s) => s.host);
  const share = fleetSize > 0 ? names.length / fleetSize : 1;
  const what = `${names.length} of ${fleetSize} hosts look dead within ${cfg.massFailureWindowSeconds} s (${names.join(", ")})`;
  if (source === "operator")
    return { verdict: "proceed", suspects: names, reason: `${what}; requested by an operator` };
  if (share > cfg.massFailureShare + 1e-9) {
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

export const PROOF_KINDS = ["power", "lease", "lock"] as const;
export type ProofKind = (typeof PROOF_KINDS)[number];

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

export interface HostProofObservation {
  /** The last power fence attempt, if any. */
  fence: FenceAttempt | null;
  /** The host runs the watchdog (host record). */
  watchdog: boolean;
  /** The last heartbeat's timestamp (host clock); null = none seen. */
  lastHeartbeatAt: Date | null;
  /** When the incident opened (control-plane clock): the watchdog was last fed before the alarm fired. */
  watchingSince: Date;
  now: Date;
}

export type HostProof =
  | { proof: "power" | "lease"; at: string; reason: string }
  | { proof: null; reason: string; leaseExpiresAt: string | null };

/** When a watchdog last fed no later than `base` has surely powered the host's domains off. */
export function leaseExpiry(
  lastHeartbeatAt: Date | null,
  watchingSince: Date,
  cfg: Pick<FencingConfig, "leaseSeconds" | "leaseMarginSeconds">,
): Date {
  // The agent feeds the watchdog after a heartbeat is accepted, so the last feed follows the last heartbeat
  // by at most the margin. With no heartbeat in view, the last feed preceded the alarm (and the incident).
  const base = lastHeartbeatAt ?? watchingSince;
  return new Date(base.getTime() + (cfg.leaseSeconds + cfg.leaseMarginSeconds) * 1000);
}

/** Proof that no domain of the host runs any more: a confirmed power fence, else an expired lease. */
export function hostProof(
  obs: HostProofObservation,
  cfg: Pick<FencingConfig, "leaseSeconds" | "leaseMarginSeconds">,
): HostProof {
  if (obs.fence?.outcome === "off")
    return { proof: "power", at: obs.fence.at, reason: `power fence: ${obs.fence.detail}` };
  const fenceNote = obs.fence ? `; power fence ${obs.fence.outcome}: ${obs.fence.detail}` : "";
  if (obs.watchdog && cfg.leaseSeconds > 0) {
    const expiry = leaseExpiry(obs.lastHeartbeatAt, obs.watchingSince, cfg);
    if (obs.now.getTime() >= expiry.getTime())
      return {
        proof: "lease",
        at: expiry.toISOString(),
        reason: `lease expired at ${expiry.toISOString()} (lease ${cfg.leaseSeconds} s + margin ${cfg.leaseMarginSeconds} s): the host's watchdog has powered its domains off${fenceNote}`,
      };
    return {
      proof: null,
      leaseExpiresAt: expiry.toISOString(),
      reason: `lease expires at ${expiry.toISOString()}${fenceNote}`,
    };
  }
  return { proof: null, leaseExpiresAt: null, reason: `no watchdog on the host${fenceNote}` };
}

// ---- 3. proof per instance -------------------------------------------------------------------------

export type InstanceProof = { proof: ProofKind; reason: string } | { proof: null; reason: string };

/**
 * The proof an instance's evacuation relies on. `lock` only for a disk on shared storage whose hosts
 * enforce the image lock (the target refuses to open a disk another host still holds); a local-storage
 * instance is recreated from its image elsewhere, so nothing would stop a second copy: it needs host proof.
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
 * A start the target refused because another host still holds the disk (qemu's image lock, or virtlockd):
 * the old copy runs. Not an error of the instance: it is "fencing required" until the host is proven dead.
 */
export function isDiskLockRefusal(message: string): boolean {
  return /Failed to get "(write|shared)" lock|Is another process using the image|resource busy: Lockspace|Failed to acquire lock/i.test(
    message,
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
 * Splits a host's planned evacuations by `instanceProof`: a disk in the host's shared pool counts as shared
 * (the folder is the pool's), under host-side locks when the host says its pool enforces them.
 */
export function gateByProof<I>(
  items: readonly I[],
  proof: HostProof,
  source: { storage: { sharedPoolId: string | null }; fencing: Pick<HostFencing, "diskLocks"> },
): ProofGate<I> {
  const gate: ProofGate<I> = { ready: [], waiting: [] };
  const disk = { shared: source.storage.sharedPoolId !== null, hostLocks: source.fencing.diskLocks };
  for (const item of items) {
    const p = instanceProof(proof, disk);
    if (p.proof) gate.ready.push({ item, proof: p.proof });
    else gate.waiting.push({ item, reason: p.reason });
  }
  return gate;
}

export type ProofLook =
  | { verdict: "wait"; waitSeconds: number; reason: string }
  | { verdict: "give-up"; reason: string };

/**
 * After a round of evacuations with instances still "fencing required": look again (fence again, or see
 * the lease expire) after `fenceRetrySeconds`, sooner when the lease expires first; give up after
 * `maxProofRounds` rounds, or when the host's heartbeat is back (its instances run there: nothing to do).
 */
export function nextProofLook(
  obs: { round: number; proof: HostProof; heartbeatAlive: boolean; now: Date },
  cfg: Pick<FencingConfig, "fenceRetrySeconds" | "maxProofRounds">,
): ProofLook {
  if (obs.heartbeatAlive)
    return {
      verdict: "give-up",
      reason: "the host's heartbeat is back before proof of its death: its instances stay on it",
    };
  if (obs.round >= cfg.maxProofRounds)
    return {
      verdict: "give-up",
      reason: `no proof of death after ${obs.round} rounds (${obs.proof.reason})`,
    };
  const leaseAt = obs.proof.proof ? null : obs.proof.leaseExpiresAt;
  const untilLease = leaseAt
    ? Math.ceil((Date.parse(leaseAt) - obs.now.getTime()) / 1000)
    : Number.POSITIVE_INFINITY;
  const waitSeconds = Math.min(cfg.fenceRetrySeconds, Math.max(1, untilLease));
  return { verdict: "wait", waitSeconds, reason: `waiting ${waitSeconds} s for proof (${obs.proof.reason})` };
}
