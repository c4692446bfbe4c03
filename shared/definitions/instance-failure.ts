/**
 * The host's instance-failure report as data: the EventBridge source and detail-type the host-side monitor
 * publishes and the trigger's rule matches. One definition, read by the monitor, the rule (functions.ts),
 * the CDK stack and the local cloud.
 */
import { DOMAIN_STOPPED_EVENT } from "../domain/instance-failure.js";

export { DOMAIN_STOPPED_EVENT };

/**
 * The monitor's own health, as the host's heartbeat agent sees it (host-agent/heartbeat.ts): `running` while
 * the monitor follows libvirt's events (its state file, fresh within three of its intervals), `stopped`
 * once it did and no longer does, `absent` when it never ran on this host. Carried by every heartbeat line
 * as the property `InstanceMonitor` (log bytes only: no metric, no alarm), and reported on each change
 * between running and stopped as an EventBridge event: a dead monitor costs nothing while all is well,
 * and is not a dead host (no host-failure flow starts on it; the operator is told).
 */
export const INSTANCE_MONITOR_HEALTH = ["running", "stopped", "absent"] as const;
export type InstanceMonitorHealth = (typeof INSTANCE_MONITOR_HEALTH)[number];

/** The heartbeat line's property naming the monitor's health. */
export const INSTANCE_MONITOR_PROPERTY = "InstanceMonitor";

/** The events of a monitor that stopped, or runs again: source and detail-type (an operator's rule matches). */
export const INSTANCE_MONITOR_EVENT = {
  source: DOMAIN_STOPPED_EVENT.source,
  detailType: { stopped: "Lazarus Instance Monitor Stopped", running: "Lazarus Instance Monitor Running" },
} as const;
