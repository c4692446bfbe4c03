/**
 * The instance-failure policy (Masakari's instance monitor + Proxmox's max_restart/max_relocate): every
 * decision of the host-side monitor and of the instance-recovery flow, as pure functions of what was
 * observed (libvirt lifecycle events, records, earlier recoveries) and a clock. The monitor and the
 * Lambda steps only gather observations, call these, and carry out the result.
 *
 * Decisions, in flow order:
 *  1. `parseLifecycleLine` / `reportableStop`  a `virsh event` line -> a stop worth reporting (libvirt's reason)
 *  2. `recoveryId`           one crash -> one id (the execution's name, the recovery record's key): duplicates
 *                            of one event start nothing new
 *  3. `classifyStop`         the instance and host records at the time -> recover, wait (a reset host's
 *                            incident decides first), or ignore (asked for, not HA, moved, busy, host proven dead)
 *  4. `stormVerdict`         many crashes on one host within a window -> hand over to the host-failure policy
 *  5. `decideRecovery`       restart in place (maxRestart in the window), then relocate (maxRelocate), then error
 *
 * A host that was reset (its watchdog, a power cycle, a crash) and booted again reports every domain it finds
 * shut off as stopped with reason `host-reset` (host-agent/monitor.ts): such a stop is the host's, not the
 * guest's. It is never a storm, never counts against the guest's restart budget, and is restarted in place
 * only when nothing else may decide about the host: no proof of its death recorded (an evacuation could then
 * be admitted for the same instance) and no open incident (its evacuation decides first: the recovery waits).
 * Restarting records the boot on the host (`Host.lastReset`), and heartbeats from before it never count as a
 * lease again (shared/domain/fencing.ts `hostProof`): the node reset, but guests run on it again.
 */
import { z } from "zod";
import { deterministicUuid } from "./ids.js";
import { type Host, type Instance, OPEN_INCIDENT_STATUSES, type RecoveryAttempt } from "./schemas.js";
import { IsoTime, ResourceName, Uuid } from "./values.js";

// ---- configuration ---------------------------------------------------------------------------------

export interface InstanceFailureConfig {
  /** Restarts and relocations older than this are forgotten (Proxmox counts per failure streak). */
  windowSeconds: number;
  /** Crash reports from one host within `stormWindowSeconds` at which the host, not its guests, is suspect. */
  stormCrashes: number;
  stormWindowSeconds: number;
  /**
   * How long a reset host's recovery waits for the host's open incident to end before it gives the instance
   * up to it (the host-failure flow, or the operator, decides).
   */
  hostWaitSeconds: number;
}

export const DEFAULT_INSTANCE_FAILURE_CONFIG: InstanceFailureConfig = {
  windowSeconds: 3600,
  stormCrashes: 3,
  stormWindowSeconds: 120,
  hostWaitSeconds: 1800,
};

/** The per-instance policy fields (`Instance.instanceHa`), resolved: `ha` null follows `haEnabled`. */
export interface InstanceHaPolicy {
  ha: boolean;
  maxRestart: number;
  maxRelocate: number;
}

export function instanceHaPolicy(instance: Pick<Instance, "haEnabled" | "instanceHa">): InstanceHaPolicy {
  const p = instance.instanceHa;
  return { ha: p.ha ?? instance.haEnabled, maxRestart: p.maxRestart, maxRelocate: p.maxRelocate };
}

// ---- 1. libvirt lifecycle events -------------------------------------------------------------------

/** The domain name Lazarus gives an instance's domain (shared/hosts/domain-xml.ts). */
const INSTANCE_DOMAIN = /^instance-([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i;

export interface LifecycleEvent {
  domain: string;
  /** The instance uuid when the domain is one of Lazarus's (`instance-<uuid>`), else null. */
  instanceUuid: string | null;
  /** libvirt's event, e.g. Stopped, Started, Shutdown, Crashed. */
  event: string;
  /** libvirt's detail (the reason), e.g. Failed, Crashed, Shutdown, Destroyed. */
  detail: string;
  /** The event's time from `virsh event --timestamp` (ISO), null when the line has none. */
  at: string | null;
}

const LINE =
  /^(?:(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}(?:\.\d+)?)([+-]\d{4}): )?event 'lifecycle' for domain '([^']+)': (\S+)(?: (.+))?$/;

/** One line of `virsh event --loop --event lifecycle [--timestamp]`; null for anything else. */
export function parseLifecycleLine(line: string): LifecycleEvent | null {
  const m = LINE.exec(line.trim());
  if (!m) return null;
  const [, day, time, zone, domain, event, detail] = m;
  let at: string | null = null;
  if (day && time && zone) {
    const iso = `${day}T${time}${zone.slice(0, 3)}:${zone.slice(3)}`;
    const d = new Date(iso);
    at = Number.isNaN(d.getTime()) ? null : d.toISOString();
  }
  const uuid = INSTANCE_DOMAIN.exec(domain!)?.[1]?.toLowerCase() ?? null;
  return { domain: domain!, instanceUuid: uuid, event: event!, detail: (detail ?? "").trim(), at };
}

/**
 * libvirt's reasons for a stop. Failed = the qemu process died (killed, OOM, segfault); Crashed = the guest
 * crashed (panic with on_crash=destroy); Shutdown = the guest powered off (from inside, or an ACPI request:
 * whether someone asked for it is the record's to say). Destroyed (`virsh destroy`), Saved, Migrated and
 * Snapshot are explicit requests to libvirt: never a failure.
 */
export const FAILURE_STOP_DETAILS = ["Failed", "Crashed", "Shutdown"] as const;

/** A domain stopped for one of the failure reasons (whatever its name). */
export function isFailureStop(e: LifecycleEvent): boolean {
  return e.event === "Stopped" && (FAILURE_STOP_DETAILS as readonly string[]).includes(e.detail);
}

/**
 * A failure stop whose instance uuid the line itself gives (`instance-<uuid>`). A domain with another name
 * (an adopted one keeps its libvirt name until Lazarus recreates it) needs its uuid from libvirt first.
 */
export function reportableStop(e: LifecycleEvent): boolean {
  return e.instanceUuid !== null && isFailureStop(e);
}

// ---- 2. the event the host sends, and its identity -------------------------------------------------

/** EventBridge source and detail-type of a host's report (the trigger's rule matches on them). */
export const DOMAIN_STOPPED_EVENT = {
  source: "lazarus.host",
  detailType: "Lazarus Domain Stopped",
} as const;

/**
 * The reason of a stop the host agent reports after a new boot: the domain was found shut off, the host having
 * reset (watchdog, power cycle, crash) since the agent last ran. Not one of libvirt's.
 */
export const HOST_RESET = "host-reset";

/** What a report may say stopped the domain: libvirt's failure reasons, or the host's reset. */
export const STOP_REASONS = [...FAILURE_STOP_DETAILS, HOST_RESET] as const;
export type StopReason = (typeof STOP_REASONS)[number];

export const DomainStoppedDetail = z.object({
  host: ResourceName,
  instanceUuid: Uuid,
  domain: z.string().min(1).max(200),
  /** libvirt's event and reason, as `virsh event` printed them (`host-reset`: found shut off after a boot). */
  event: z.literal("Stopped"),
  reason: z.enum(STOP_REASONS),
  /** When libvirt saw the stop (the host's clock); for `host-reset`, when the host booted. */
  stoppedAt: IsoTime,
});
export type DomainStoppedDetail = z.infer<typeof DomainStoppedDetail>;

/** The EventBridge envelope of a host's report, as a rule delivers it (fields Lazarus reads). */
export const DomainStoppedEvent = z.object({
  id: z.string().optional(),
  source: z.literal(DOMAIN_STOPPED_EVENT.source),
  "detail-type": z.literal(DOMAIN_STOPPED_EVENT.detailType),
  time: z.string().optional(),
  detail: DomainStoppedDetail,
});
export type DomainStoppedEvent = z.infer<typeof DomainStoppedEvent>;

/**
 * One id per crash: every delivery of one report (EventBridge delivers at least once, the host's SDK
 * retries a send) names the same recovery, so it starts once.
 */
export function recoveryId(d: Pick<DomainStoppedDetail, "host" | "instanceUuid" | "stoppedAt">): string {
  return deterministicUuid("instance-recovery", d.instanceUuid, d.host, new Date(d.stoppedAt).toISOString());
}

/** The child rebuild request of a recovery's relocation (one per recovery). */
export function relocationRequestId(recovery: string): string {
  return deterministicUuid("instance-recovery-relocation", recovery);
}

// ---- 3. is it a failure? ---------------------------------------------------------------------------

export const IGNORE_REASONS = [
  "not-found",
  "not-ha",
  "moved",
  "not-active",
  "busy",
  "not-lazarus-domain",
  /** The host has a proof of its death recorded: its evacuation (or the operator) decides, never a restart. */
  "host-proven-dead",
  /** A reset host's incident stayed open past `hostWaitSeconds`: left to the host-failure flow. */
  "host-incident",
] as const;
export type IgnoreReason = (typeof IGNORE_REASONS)[number];

export type StopVerdict =
  | { verdict: "recover"; reason: string }
  | { verdict: "wait"; reason: string }
  | { verdict: "ignore"; why: IgnoreReason; reason: string };

/** The host record as the classification reads it. */
export type StopHost = Pick<Host, "name" | "deathProof" | "incident">;

/**
 * The instance record, re-read by key when the report arrives, decides whether anyone asked for the stop:
 * Lazarus sets a task (powering_off, rebuilding...) before it stops or destroys a domain, and leaves the
 * record STOPPED after an operator's stop; a flow that moved the instance leaves the record on another host.
 * Only an ACTIVE instance with no task, still on the reporting host, and HA, is recovered; and never on a host
 * whose death is proven (a recorded proof admits evacuations of its instances: a restart there could make
 * the second copy). A reset host's stop waits while the host has an open incident (`wait`): the host-failure
 * flow decides first, the instance's recovery after it.
 */
export function classifyStop(
  instance: Instance | null,
  report: DomainStoppedDetail,
  host: StopHost | null,
): StopVerdict {
  if (!instance) return { verdict: "ignore", why: "not-found", reason: "no instance record for this domain" };
  if (instance.host !== report.host) {
    return {
      verdict: "ignore",
      why: "moved",
      reason: `the record names host ${instance.host}, not ${report.host}: a stale or foreign copy stopped`,
    };
  }
  if (instance.taskState !== null) {
    return {
      verdict: "ignore",
      why: "busy",
      reason: `task ${instance.taskState} in progress: the stop was asked for`,
    };
  }
  if (instance.vmState !== "active") {
    return {
      verdict: "ignore",
      why: "not-active",
      reason: `vm_state is ${instance.vmState}: the stop was asked for (or the instance is not running)`,
    };
  }
  if (!instanceHaPolicy(instance).ha) {
    return { verdict: "ignore", why: "not-ha", reason: "instance HA is off for this instance" };
  }
  if (host?.deathProof) {
    return {
      verdict: "ignore",
      why: "host-proven-dead",
      reason: `${report.host} is proven dead (${host.deathProof.kind}, ${host.deathProof.at}): its evacuation or the operator decides, no restart there`,
    };
  }
  const incident = host?.incident;
  if (report.reason === HOST_RESET && incident && OPEN_INCIDENT_STATUSES.includes(incident.status)) {
    return {
      verdict: "wait",
      reason: `${report.host} was reset and its incident ${incident.id} is ${incident.status}: the host-failure flow decides first`,
    };
  }
  return {
    verdict: "recover",
    reason:
      report.reason === HOST_RESET
        ? `${report.host} was reset (booted ${report.stoppedAt}) and the domain is shut off while its record says ACTIVE with no task`
        : `domain stopped (${report.reason}) while its record says ACTIVE with no task`,
  };
}

/** A reset host's recovery has waited for the host's incident longer than `hostWaitSeconds`. */
export function hostWaitOver(
  detectedAt: string,
  now: Date,
  config: Pick<InstanceFailureConfig, "hostWaitSeconds">,
): boolean {
  return now.getTime() - Date.parse(detectedAt) >= config.hostWaitSeconds * 1000;
}

// ---- 4. storm guard --------------------------------------------------------------------------------

/** A host's crash reports within the storm window (this one included) at or above the threshold: a storm. */
export function stormVerdict(
  crashTimes: readonly string[],
  now: Date,
  config: Pick<InstanceFailureConfig, "stormCrashes" | "stormWindowSeconds">,
): { storm: boolean; recent: number } {
  const since = now.getTime() - config.stormWindowSeconds * 1000;
  const recent = crashTimes.filter((t) => new Date(t).getTime() >= since).length;
  return { storm: recent >= config.stormCrashes, recent };
}

/** The host-evacuation incident a storm hands over (one per host and storm window). */
export function stormIncidentId(host: string, now: Date, stormWindowSeconds: number): string {
  const bucket = Math.floor(now.getTime() / (stormWindowSeconds * 1000));
  return `instfail-storm-${deterministicUuid(host, String(bucket)).slice(0, 18)}`;
}

// ---- 5. restart, relocate, or give up --------------------------------------------------------------

export type RecoveryDecision =
  | { action: "restart"; reason: string }
  | { action: "relocate"; reason: string }
  | { action: "error"; reason: string };

/**
 * What to do for an instance that is confirmed down on `host`, given every attempt of its recoveries
 * (earlier ones and this one's) and the clock.
 *  - A host's reset (`hostReset`) is not the guest's failure: it is restarted in place whatever its budget,
 *    unless that restart failed here in this recovery (then as below). `attempts` should leave out the
 *    attempts of earlier host-reset recoveries (they spend no budget either).
 *  - Restarts count on the current host since the last relocation and within the window (Proxmox resets
 *    the restart count on a new node); a restart that failed here in this recovery is not tried again.
 *  - Relocations count within the window; one is possible only where the root disk is on shared storage
 *    (relocating a local disk from a live host would recreate it from the image: the data would be lost).
 *  - Otherwise: ERROR, with what was tried.
 */
export function decideRecovery(input: {
  policy: InstanceHaPolicy;
  host: string;
  attempts: readonly RecoveryAttempt[];
  /** Attempts of this recovery (a failed restart here means the host cannot start it). */
  current: readonly RecoveryAttempt[];
  sharedStorage: boolean;
  now: Date;
  windowSeconds: number;
  /** The stop was the host's reset (reason `host-reset`), not the guest's. */
  hostReset?: boolean;
}): RecoveryDecision {
  const { policy, host, now } = input;
  const since = now.getTime() - input.windowSeconds * 1000;
  const inWindow = [...input.attempts, ...input.current].filter((a) => new Date(a.at).getTime() >= since);
  const lastRelocation = Math.max(
    -Infinity,
    ...inWindow
      .filter((a) => a.action === "relocate" && a.outcome === "succeeded")
      .map((a) => Date.parse(a.at)),
  );
  const restartsHere = inWindow.filter(
    (a) => a.action === "restart" && a.host === host && Date.parse(a.at) > lastRelocation,
  ).length;
  const relocations = inWindow.filter((a) => a.action === "relocate").length;
  const failedHere = input.current.some(
    (a) => a.action === "restart" && a.host === host && a.outcome === "failed",
  );
  const tried = `${restartsHere}/${policy.maxRestart} restarts on ${host}, ${relocations}/${policy.maxRelocate} relocations within ${input.windowSeconds} s`;
  if (!failedHere && input.hostReset) {
    return { action: "restart", reason: `restart in place after the host's reset (not counted: ${tried})` };
  }
  if (!failedHere && restartsHere < policy.maxRestart) {
    return { action: "restart", reason: `restart in place (${tried})` };
  }
  const why = failedHere ? `the restart on ${host} failed` : `the restart budget on ${host} is spent`;
  if (relocations < policy.maxRelocate) {
    if (!input.sharedStorage) {
      return {
        action: "error",
        reason: `${why}; not relocated: the root disk is on ${host}'s local storage (${tried})`,
      };
    }
    return { action: "relocate", reason: `${why}: relocate (${tried})` };
  }
  return { action: "error", reason: `${why} and the relocation budget is spent (${tried})` };
}

/** The fault message of a recovery that gave up: what was tried, in order. */
export function givenUpMessage(reason: string, attempts: readonly RecoveryAttempt[]): string {
  const list = attempts.map((a) => `${a.action} on ${a.host} ${a.outcome}${a.error ? ` (${a.error})` : ""}`);
  return `Instance recovery gave up: ${reason}. Tried: ${list.length ? list.join("; ") : "nothing"}.`;
}
