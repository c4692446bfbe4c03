/**
 * The host's instance-failure report as data: the EventBridge source and detail-type the host-side monitor
 * publishes and the trigger's rule matches. One definition, read by the monitor, the rule (functions.ts),
 * the CDK stack and the local cloud.
 */
import { emfLine } from "../metrics/emf.js";
import { HEARTBEAT_METRIC, type HeartbeatAlarmOptions, heartbeatAlarm } from "./heartbeat.js";

export { DOMAIN_STOPPED_EVENT } from "../domain/instance-failure.js";

/** The monitor's own liveness: a heartbeat with a Component dimension beside the host's (its own stream). */
export const INSTANCE_MONITOR_COMPONENT = "instance-monitor";
/** The dimension naming a host component in its own heartbeat stream. */
export const COMPONENT_DIMENSION = "Component";

/** One liveness beat of a host's instance monitor: the heartbeat metric with the Component dimension. */
export function instanceMonitorDatum(host: string, at: Date) {
  return {
    MetricName: HEARTBEAT_METRIC.metricName,
    Dimensions: [
      { Name: HEARTBEAT_METRIC.dimension, Value: host },
      { Name: COMPONENT_DIMENSION, Value: INSTANCE_MONITOR_COMPONENT },
    ],
    Timestamp: at,
    Value: 1,
    Unit: "Count" as const,
    StorageResolution: HEARTBEAT_METRIC.storageResolution,
  };
}

/** The monitor's liveness as the embedded-metric-format log line its host sends with `PutLogEvents`. */
export function instanceMonitorLogLine(host: string, at: Date): string {
  return emfLine(HEARTBEAT_METRIC.namespace, instanceMonitorDatum(host, at));
}

/**
 * `<prefix>-instance-monitor-<host>`: the monitor's own alarm. Its name is outside the heartbeat alarms'
 * prefix on purpose: a dead monitor is not a dead host, and no host-failure flow starts on it; it tells the
 * operator that the host's guests are no longer watched.
 */
export function instanceMonitorAlarmName(host: string, prefix = "lazarus"): string {
  return `${prefix}-instance-monitor-${host}`;
}

/** `PutMetricAlarm` input of the monitor's alarm: its liveness stream silent for the same window as the host's. */
export function instanceMonitorAlarm(host: string, opts: HeartbeatAlarmOptions = {}, prefix = "lazarus") {
  const base = heartbeatAlarm(host, opts, prefix);
  return {
    ...base,
    AlarmName: instanceMonitorAlarmName(host, prefix),
    AlarmDescription: `Lazarus: the instance monitor of host ${host} stopped (its guests are not watched)`,
    Dimensions: instanceMonitorDatum(host, new Date(0)).Dimensions,
  };
}
