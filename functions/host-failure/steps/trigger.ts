/**
 * The host-failure flows' triggers.
 *
 * `onAlarmStateChange`, the EventBridge target for "CloudWatch Alarm State Change" of the heartbeat alarms: ALARM starts the
 * host-evacuation flow for a new incident, ALARM -> OK starts the host-recovery flow. Execution names come
 * from the alarm transition, so a repeated delivery of one event starts nothing new. The host's `status`
 * follows the alarm at once (a hint the scheduler uses: no instance is placed on a host whose heartbeat is
 * missing); whether the host is dead is decided by the flow, not here. A host in maintenance (drained,
 * issue 32) starts no evacuation: it holds nothing and may be powered off for its repair.
 */
import { HEARTBEAT_ALARM_PREFIX, HEARTBEAT_METRIC } from "#shared/definitions/heartbeat.js";
import {
  type AlarmAction,
  type AlarmStateChangeEvent,
  alarmAction,
  hostOfAlarm,
  incidentDecision,
  type PeerSilentEvent,
  peerSilentAction,
} from "#shared/domain/host-failure.js";
import { inMaintenance } from "#shared/domain/maintenance.js";
import type { HostFailureDeps } from "#shared/lambda/host-failure-runtime.js";

export interface TriggerResult {
  action: AlarmAction["kind"];
  host: string | null;
  executionName: string | null;
  started: boolean;
  reason: string;
}

const ignored = (host: string | null, reason: string): TriggerResult => ({
  action: "ignore",
  host,
  executionName: null,
  started: false,
  reason,
});

/** The host a heartbeat alarm's event names (its metric's dimension, else its name), or null. */
export function alarmHost(event: AlarmStateChangeEvent): string | null {
  return hostOfAlarm(event, { dimension: HEARTBEAT_METRIC.dimension, alarmPrefix: HEARTBEAT_ALARM_PREFIX });
}

export async function onAlarmStateChange(
  deps: HostFailureDeps,
  event: AlarmStateChangeEvent,
): Promise<TriggerResult> {
  const host = alarmHost(event);
  const action = alarmAction(event, host);
  const record = action.kind === "ignore" ? null : await deps.stores.hosts.get(action.host);
  if (action.kind === "ignore" || !record)
    return ignored(host, action.kind === "ignore" ? action.reason : `host ${action.host} is not registered`);
  const evacuate = action.kind === "evacuate";
  await deps.stores.hosts.setService(action.host, { status: evacuate ? "down" : "up" });
  // Drained for planned maintenance (issue 32): nothing is on it, it may be powered off for its repair.
  if (evacuate && inMaintenance(record))
    return ignored(
      action.host,
      `host ${action.host} is in maintenance: its heartbeat alarm starts no evacuation`,
    );
  const { started } = await deps.starter.start(
    evacuate ? deps.machines.hostEvacuation : deps.machines.hostRecovery,
    action.executionName,
    evacuate
      ? { host: action.host, incidentId: action.incidentId, reason: action.reason }
      : { host: action.host, reason: action.reason },
  );
  return {
    action: action.kind,
    host: action.host,
    executionName: action.executionName,
    started,
    reason: action.reason,
  };
}

/**
 * `onPeerSilent`, the EventBridge target for a host's "Lazarus Host Peer Silent" report (host-agent/peers.ts):
 * starts the host-evacuation flow for the silent host, seconds after its death instead of after its alarm.
 * The report proves nothing: the flow judges as for an alarm (the heartbeat, no newer than the peers' last
 * hearing, the probe, the guard, the fence), so a mistaken or lying peer can only get a live host probed.
 * The host's `status` goes down as at an alarm (no placement on a host its peers cannot hear); the
 * incident's end sets it up again when the heartbeat shows the host alive.
 */
export async function onPeerSilent(deps: HostFailureDeps, event: PeerSilentEvent): Promise<TriggerResult> {
  const action = peerSilentAction(event);
  const record = action.kind === "ignore" ? null : await deps.stores.hosts.get(action.host);
  if (action.kind === "ignore" || !record)
    return ignored(
      event.detail.host,
      action.kind === "ignore" ? action.reason : `host ${action.host} is not registered`,
    );
  if (inMaintenance(record))
    return ignored(
      action.host,
      `host ${action.host} is in maintenance: a peer's report starts no evacuation`,
    );
  // Its evacuation runs already (an alarm's, another peer's): nothing to start, status left as it is. The
  // same decision OpenIncident makes; taken here too, a duplicate costs no execution and no status write.
  const decision = incidentDecision(record.incident, action.incidentId);
  if (decision.kind === "duplicate")
    return ignored(
      action.host,
      `host ${action.host} has an open incident (${decision.of}): nothing to start`,
    );
  await deps.stores.hosts.setService(action.host, { status: "down" });
  const { started } = await deps.starter.start(deps.machines.hostEvacuation, action.executionName, {
    host: action.host,
    incidentId: action.incidentId,
    reason: action.reason,
    silentSince: action.silentSince,
  });
  return {
    action: "evacuate",
    host: action.host,
    executionName: action.executionName,
    started,
    reason: action.reason,
  };
}
