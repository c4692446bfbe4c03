/**
 * Planned maintenance of a host (issue 32), pure: when a host may be drained or undrained, which of its
 * instances a drain moves in which order and how (live where possible, cold otherwise), the state the
 * host is left in, and whether a host's heartbeat alarm starts an evacuation.
 *
 *   enabled host ──drain──► draining ──every instance moved──► maintenance ──undrain──► enabled
 *                              │  (disabled; a real failure        (its heartbeat alarm starts
 *                              │   still evacuates what is left)    no evacuation: it may be
 *                              └─some left──► incomplete            powered off for its repair)
 *                                             (drain again, or undrain)
 */
import { deterministicUuid } from "./ids.js";
import type { Host, HostIncidentStatus, HostMaintenance } from "./schemas.js";

/** Incidents during which a host is (or may be) dead: it is evacuated, not drained. */
const FAILED_HOST_INCIDENTS: readonly HostIncidentStatus[] = [
  "confirming",
  "evacuating",
  "evacuated",
  "held",
];

export type DrainDecision =
  | { kind: "begin" }
  /** This very drain already began (a retried step). */
  | { kind: "resume" }
  | { kind: "refuse"; reason: string };

/** Whether the drain `executionName` may take `host` into maintenance. */
export function drainDecision(host: Host, executionName: string): DrainDecision {
  const m = host.maintenance;
  if (m?.state === "draining" && m.executionName === executionName) return { kind: "resume" };
  if (host.incident && FAILED_HOST_INCIDENTS.includes(host.incident.status)) {
    return {
      kind: "refuse",
      reason: `host ${host.name} is in host-failure incident ${host.incident.id} (${host.incident.status}): its instances are evacuated, not drained`,
    };
  }
  if (m?.state === "draining") {
    return {
      kind: "refuse",
      reason: `host ${host.name} is already being drained (execution ${m.executionName})`,
    };
  }
  return { kind: "begin" };
}

/** The maintenance a drain begins with: draining, the instances an earlier drain moved kept for a return. */
export function beginDrain(
  host: Host,
  d: { executionName: string; reason: string | null; at: string },
): HostMaintenance {
  return {
    state: "draining",
    reason: d.reason,
    since: host.maintenance?.since ?? d.at,
    executionName: d.executionName,
    moved: host.maintenance?.moved ?? [],
  };
}

/** Why `host` cannot be undrained now (null: it can): only a drained (or incompletely drained) host. */
export function undrainRefusal(host: Host): string | null {
  if (!host.maintenance) return `host ${host.name} is not in maintenance`;
  if (host.maintenance.state === "draining") {
    return `host ${host.name} is still being drained (execution ${host.maintenance.executionName}): wait for it to end`;
  }
  return null;
}

/** The state a drain leaves its host in: maintenance once nothing is left on it, else incomplete. */
export function drainedState(instancesLeft: number): HostMaintenance["state"] {
  return instancesLeft === 0 ? "maintenance" : "incomplete";
}

/**
 * Whether a host's heartbeat alarm starts no evacuation: it is in maintenance, emptied by a drain, and may
 * be powered off for its repair. A host still draining (or incompletely drained) is evacuated as any other
 * when it fails: what is left on it must come back.
 */
export function inMaintenance(host: Pick<Host, "maintenance">): boolean {
  return host.maintenance?.state === "maintenance";
}

/** The request id (and migrate execution name) of one instance's move in a drain or a return. */
export function drainRequestId(executionName: string, instanceUuid: string): string {
  return deterministicUuid("host-drain", executionName, instanceUuid);
}

/** The reason a disabled host shows while it is in maintenance. */
export function maintenanceReason(reason: string | null): string {
  return `maintenance${reason ? `: ${reason}` : ""}`;
}
