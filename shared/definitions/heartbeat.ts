/**
 * The host heartbeat as CloudWatch sees it: one high-resolution custom metric per host, and one alarm per
 * host on it. The host-side publisher, the local monitor and the CDK stack all read these constants, so
 * the metric a host publishes is the metric its alarm watches.
 */

export const HEARTBEAT_METRIC = {
  namespace: "Lazarus",
  metricName: "Heartbeat",
  /** The one dimension: the host's name, as in the hosts table (`name`). */
  hostDimension: "Host",
  /** `StorageResolution: 1` (high resolution): alarm periods below 60 s need it. */
  storageResolution: 1,
} as const;

/**
 * The alarm's period. A host publishes more often than this (at least twice per period), so one lost
 * `PutMetricData` call does not empty a period.
 */
export const HEARTBEAT_PERIOD_SECONDS = 10;

/** `<prefix>-heartbeat-<host>`: the name of a host's heartbeat alarm. */
export function heartbeatAlarmName(prefix: string, host: string): string {
  return `${heartbeatAlarmNamePrefix(prefix)}${host}`;
}

/** The common prefix of every heartbeat alarm's name (EventBridge rules match alarm events on it). */
export function heartbeatAlarmNamePrefix(prefix: string): string {
  return `${prefix}-heartbeat-`;
}

/** The host a heartbeat alarm watches, from the alarm's name; undefined for any other alarm. */
export function hostOfHeartbeatAlarm(prefix: string, alarmName: string): string | undefined {
  const start = heartbeatAlarmNamePrefix(prefix);
  return alarmName.startsWith(start) && alarmName.length > start.length
    ? alarmName.slice(start.length)
    : undefined;
}
