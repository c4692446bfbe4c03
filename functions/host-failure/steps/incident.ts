/**
 * The incident's life on the host record: opened once (duplicates end here), closed as "not dead" when the
 * host proves alive, "aborted" when the flow itself fails before it finished.
 */

import type { z } from "zod";
import { ALERTS } from "#shared/definitions/paging.js";
import type { HostIncident, IncidentSource } from "#shared/domain/schemas.js";
import type { AbortedFlow } from "#shared/flow/flow-state.js";
import type { HostFailureDeps } from "#shared/lambda/host-failure-runtime.js";
import { alertBestEffort } from "#shared/notifications/host-alerts.js";
import type { HostEvacuationState, OpenIncidentInput } from "../contract.js";

export async function openIncident(
  deps: HostFailureDeps,
  input: z.output<typeof OpenIncidentInput>,
): Promise<HostEvacuationState> {
  const { request, executionName } = input;
  const at = deps.now().toISOString();
  const incident: HostIncident = {
    id: request.incidentId ?? executionName.slice(0, 80),
    status: "confirming",
    source: incidentSource(request.incidentId),
    reason: request.reason ?? null,
    executionName,
    openedAt: at,
    updatedAt: at,
    summary: null,
  };
  const { decision, host } = await deps.stores.hostIncidents.open(request.host, incident);
  const current = host.incident ?? incident;
  const base = {
    host: request.host,
    incidentId: incident.id,
    executionName,
    source: incident.source,
    reason: incident.reason,
    ...(request.silentSince && incident.source === "peer" ? { silentSince: request.silentSince } : {}),
    openedAt: decision.kind === "resume" ? current.openedAt : incident.openedAt,
  };
  if (decision.kind === "duplicate") return { ...base, outcome: "duplicate", duplicateOf: decision.of };
  return { ...base, outcome: decision.kind === "open" ? "opened" : "resumed" };
}

/** The triggers name their incidents `alarm-...` and `peer-...` (shared/domain/host-failure.ts); the API does not. */
function incidentSource(incidentId: string | undefined): IncidentSource {
  if (incidentId?.startsWith("alarm-")) return "alarm";
  if (incidentId?.startsWith("peer-")) return "peer";
  return "operator";
}

/** The host is alive after all: the incident ends, the host's status is up again; nothing was changed. */
export async function closeNotDead(
  deps: HostFailureDeps,
  state: HostEvacuationState,
): Promise<HostEvacuationState> {
  const why =
    state.watch?.verdict === "give-up"
      ? state.watch.reason
      : (state.death?.reason ?? state.heartbeat?.reason ?? "alive");
  // Up again only when its heartbeat is back: a host given up on while still silent stays down (the
  // scheduler places nothing on it).
  const heartbeatBack = state.heartbeat?.verdict === "alive";
  await deps.stores.hostIncidents.update(state.host, state.incidentId, "not-dead", {
    summary: { verdict: "not-dead", reason: why },
    ...(heartbeatBack ? { service: { status: "up" as const } } : {}),
  });
  return { ...state, outcome: "not-dead" };
}

/**
 * A step of the flow failed for good: the incident is marked aborted (a later alarm or operator request may
 * open a new one) and the original error is returned, for the machine's Fail state to end the execution
 * with (returned, not raised: raised, a transient one, InternalServerError say, would be retried as this
 * step's own and page again). A host already disabled stays disabled.
 */
export async function abortIncident(deps: HostFailureDeps, state: HostEvacuationState): Promise<AbortedFlow> {
  const [step, failure] = Object.entries(state.failure ?? {}).at(-1) ?? ["unknown", { Error: "Unknown" }];
  await deps.stores.hostIncidents.update(state.host, state.incidentId, "aborted", {
    summary: { verdict: "aborted", step, error: failure.Error, cause: failure.Cause ?? null },
  });
  // The original error is raised again whatever the page's fate.
  await alertBestEffort(deps.alerts, {
    kind: ALERTS.evacuationFailed,
    hosts: [state.host],
    summary: `Host evacuation of ${state.host} failed at ${step}: ${failure.Error}`,
    detail: {
      host: state.host,
      incidentId: state.incidentId,
      step,
      error: failure.Error,
      cause: failure.Cause ?? null,
    },
  });
  return {
    error: failure.Error,
    cause: `host evacuation of ${state.host} aborted at ${step}: ${failure.Cause ?? failure.Error}`,
  };
}
