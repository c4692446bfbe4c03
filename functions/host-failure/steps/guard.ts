/**
 * The mass-failure guard (oVirt's fencing-storm protection), between the proof that the host looks dead
 * and anything that acts on it: when more than a share of the fleet looks dead within one window, the
 * network, SSM or CloudWatch is the likelier cause. Nothing is disabled, fenced or evacuated; the incident
 * is `held` and the operator is alerted with every host's name. An operator's own request is never held
 * (`massFailureVerdict`), and a held incident does not block one.
 *
 * It reads what it counts, never the hosts table: the fleet's host count (one item) and the hosts that look
 * dead within the window (a sparse index holding only those), at most one more than the share allows (past
 * that the verdict is hold whatever the rest say). The index is eventually consistent in AWS; every suspect
 * it counts was written when its alarm fired, at least the grace period before this step runs for an alarm
 * (docs/SCALE.md).
 */
import { ALERTS } from "#shared/definitions/paging.js";
import { InvalidInput } from "#shared/domain/errors.js";
import {
  massFailureVerdict,
  type SuspectHost,
  suspectHosts,
  suspectsThatHold,
} from "#shared/domain/fencing.js";
import type { HostFailureDeps } from "#shared/lambda/host-failure-runtime.js";
import type { HostEvacuationState } from "../contract.js";

export async function checkMassFailure(
  deps: HostFailureDeps,
  state: HostEvacuationState,
): Promise<HostEvacuationState> {
  const fleetSize = await deps.stores.hosts.fleet.hostCount();
  // One more suspect than the share allows decides the verdict: read no further than that.
  const suspects = await readSuspects(deps, suspectsThatHold(fleetSize, deps.fencing));
  const verdict = massFailureVerdict(suspects, fleetSize, state.source, deps.fencing);
  return {
    ...state,
    massFailure:
      verdict.verdict === "hold"
        ? { verdict: "hold", hosts: verdict.hosts, reason: verdict.reason }
        : { verdict: "proceed", hosts: verdict.suspects, reason: verdict.reason },
  };
}

/**
 * The hosts that look dead within the window (`suspectHosts`), from the sparse index that holds only them,
 * read until `enough` are found (or all are), sorted by name.
 */
export async function readSuspects(deps: HostFailureDeps, enough: number): Promise<SuspectHost[]> {
  const now = deps.now();
  const from = new Date(now.getTime() - deps.fencing.massFailureWindowSeconds * 1000).toISOString();
  const suspects: SuspectHost[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await deps.stores.hosts.suspectsPage(from, { limit: 100, ...(start ? { start } : {}) });
    suspects.push(...suspectHosts(page.hosts, now, deps.fencing));
    start = page.next;
  } while (start && suspects.length < enough);
  return suspects.sort((a, b) => a.host.localeCompare(b.host));
}

/** Incident -> held (the host stays enabled, not forced down), then the alert naming every suspect host. */
export async function holdIncident(
  deps: HostFailureDeps,
  state: HostEvacuationState,
): Promise<HostEvacuationState> {
  const m = state.massFailure;
  if (m?.verdict !== "hold")
    throw new InvalidInput("holdIncident needs a mass-failure verdict of hold", { host: state.host });
  await deps.stores.hostIncidents.update(state.host, state.incidentId, "held", {
    summary: { verdict: "held", hosts: m.hosts, reason: m.reason, proof: state.death?.reason ?? null },
  });
  // Idempotent enough: a retried step alerts again with the same incident id, which a consumer can drop.
  await deps.alerts.alert({
    kind: ALERTS.massFailureHeld,
    hosts: m.hosts,
    summary: `Mass host failure held: ${m.hosts.join(", ")} look dead at once; ${state.host} was not evacuated (${m.reason})`,
    detail: { incidentId: state.incidentId, host: state.host, reason: m.reason },
  });
  return { ...state, outcome: "held" };
}
