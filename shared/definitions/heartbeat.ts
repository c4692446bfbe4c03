/**
 * The host heartbeat as data: the metric each host publishes, and the one CloudWatch alarm per host that
 * turns its silence into ALARM. The host-side publisher, the local cloud's alarms (`heartbeatAlarm`), the
 * trigger handler and the CDK stack all read these, so the metric a host publishes is the metric its alarm
 * watches. Nothing here imports an AWS client: the objects have the shape of `PutMetricData` /
 * `PutMetricAlarm` inputs.
 *
 * Cost per host-month at us-east-1 list prices (docs/ARCHITECTURE.md, "Host failure"; bench/RESULTS.md): one
 * high-resolution custom metric ($0.30) + one high-resolution alarm ($0.30) + the heartbeat lines' ingestion.
 * Nothing else of a host is a metric or an alarm (the instance monitor's health rides in the line); the
 * fleet series (`FLEET_HEARTBEAT_METRIC`) is one metric per deployment, whatever its size.
 */

import { emfLine } from "../metrics/emf.js";
import { DEFAULT_PREFIX } from "../store/tables.js";

// Defined with the guard's configuration, which the domain keeps; the stack and the hosts read it here.
export { HEARTBEAT_INTERVAL_SECONDS } from "../domain/fencing.js";

export const HEARTBEAT_METRIC = {
  namespace: "Lazarus",
  metricName: "Heartbeat",
  /** The dimension naming the compute host (its name, as in the hosts table). */
  dimension: "Host",
  /** `StorageResolution: 1` (high resolution): alarm periods below 60 s need it. */
  storageResolution: 1,
} as const;

/** The log group of the embedded-metric-format heartbeats, per deployment prefix (the stack creates it). */
export function heartbeatLogGroupName(prefix = "lazarus"): string {
  return `/${prefix}/host-heartbeats`;
}

/** The log stream of a host's heartbeats in that group: `<host>/heartbeat`. */
export function hostLogStreamName(host: string, part: "heartbeat"): string {
  return `${host}/${part}`;
}

/**
 * The alarm's period. A host publishes more often than this (at least twice per period), so one lost
 * `PutMetricData` call does not empty a period.
 */
export const HEARTBEAT_PERIOD_SECONDS = 10;

/** The common prefix of a deployment's heartbeat alarm names (`<prefix>-heartbeat-`); rules match on it. */
export function heartbeatAlarmNamePrefix(prefix = DEFAULT_PREFIX): string {
  return `${prefix}-heartbeat-`;
}

/** Alarm names of the default deployment prefix: `lazarus-heartbeat-<host>`. */
export const HEARTBEAT_ALARM_PREFIX = heartbeatAlarmNamePrefix();

/**
 * The EventBridge pattern of a deployment's heartbeat alarm entering `state`: "ALARM" (a host stopped
 * beating), or "OK" only after an ALARM (it beats again; INSUFFICIENT_DATA -> OK is a new alarm on a
 * healthy host, not a recovery). CloudWatch sends every alarm state change to the default bus by itself.
 */
export function heartbeatAlarmPattern(prefix: string, state: "ALARM" | "OK") {
  return {
    source: ["aws.cloudwatch"],
    "detail-type": ["CloudWatch Alarm State Change"],
    detail: {
      alarmName: [{ prefix: heartbeatAlarmNamePrefix(prefix) }],
      state: { value: [state] },
      ...(state === "OK" ? { previousState: { value: ["ALARM"] } } : {}),
    },
  };
}

/** `<prefix>-heartbeat-<host>`: the name of a host's heartbeat alarm. */
export function heartbeatAlarmName(host: string, prefix = DEFAULT_PREFIX): string {
  return `${heartbeatAlarmNamePrefix(prefix)}${host}`;
}

/** The host a heartbeat alarm watches, from the alarm's name; undefined for any other alarm. */
export function hostOfHeartbeatAlarm(alarmName: string, prefix = DEFAULT_PREFIX): string | undefined {
  const start = heartbeatAlarmNamePrefix(prefix);
  return alarmName.startsWith(start) && alarmName.length > start.length
    ? alarmName.slice(start.length)
    : undefined;
}

/**
 * Consecutive silent periods before a heartbeat alarm goes ALARM: the deployed default (cdk/config.ts
 * `heartbeat.missedPeriods`) and registration's. Detection: ALARM 30-40 s after the last heartbeat.
 */
export const HEARTBEAT_MISSED_PERIODS = 3;

export interface HeartbeatAlarmOptions {
  /** Alarm period; high-resolution alarms allow 10 or 30 s in AWS (the local evaluator accepts any). */
  periodSeconds?: number;
  /** Consecutive silent periods before ALARM (detection window = period x this, plus evaluation lag). */
  evaluationPeriods?: number;
}

/**
 * One high-resolution heartbeat. Its **value is the evidence of self-fencing**: the timeout, in whole
 * seconds, of the host's watchdog device while it is armed (as the kernel reports it:
 * `/sys/class/watchdog/watchdogN/{state,timeout}`), and 0 when no watchdog is armed. The control plane
 * counts a host as self-fenced (proof `lease`) only from these values, never from a flag on the host
 * record. The alarm counts samples (`SampleCount`), so the value never changes detection.
 */
export function heartbeatDatum(host: string, at: Date, watchdogTimeoutSeconds = 0) {
  if (!Number.isInteger(watchdogTimeoutSeconds) || watchdogTimeoutSeconds < 0)
    throw new RangeError(
      `a watchdog timeout is a whole number of seconds >= 0, got ${watchdogTimeoutSeconds}`,
    );
  return datumOf(HEARTBEAT_METRIC, host, at, watchdogTimeoutSeconds, "Count");
}

/** A `PutMetricData` item of a one-dimension metric (shaped as `HEARTBEAT_METRIC`). */
function datumOf<U extends string>(
  metric: { metricName: string; dimension: string; storageResolution: number },
  dimensionValue: string,
  at: Date,
  value: number,
  unit: U,
) {
  return {
    MetricName: metric.metricName,
    Dimensions: [{ Name: metric.dimension, Value: dimensionValue }],
    Timestamp: at,
    Value: value,
    Unit: unit,
    StorageResolution: metric.storageResolution,
  };
}

/**
 * The fleet's heartbeat series: every heartbeat line also adds the host's heartbeat interval, in seconds, to
 * one series per deployment (dimension `Fleet` = the deployment's heartbeat log group, which the hosts and
 * the control plane both know). Its Sum over a window of W seconds is about W per host beating through it,
 * and at most W + the host's interval: a lower bound of the hosts beating, read in one GetMetricData query
 * whatever the fleet's size. The mass-failure guard reads it at a host's alarm to see whether other hosts
 * went silent with it (`settleVerdict`, shared/domain/fencing.ts). One metric per deployment ($0.30 a month).
 */
export const FLEET_HEARTBEAT_METRIC = {
  namespace: HEARTBEAT_METRIC.namespace,
  metricName: "HeartbeatSeconds",
  dimension: "Fleet",
  storageResolution: 1,
} as const;

/** A heartbeat's datum in the fleet series (`FLEET_HEARTBEAT_METRIC`): the host's interval. */
export function fleetHeartbeatDatum(fleet: string, at: Date, intervalSeconds: number) {
  if (!(intervalSeconds > 0)) throw new RangeError(`a heartbeat interval is > 0 s, got ${intervalSeconds}`);
  return datumOf(FLEET_HEARTBEAT_METRIC, fleet, at, intervalSeconds, "Seconds");
}

export interface HeartbeatBeat {
  host: string;
  at: Date;
  /** The host's heartbeat interval (its contribution to the fleet series). */
  intervalSeconds: number;
  /** The fleet series' dimension value: the heartbeat log group the line is sent to. */
  fleet: string;
  /** The armed watchdog's timeout, 0 when none (`heartbeatDatum`). */
  watchdogTimeoutSeconds?: number;
}

/**
 * One heartbeat as the embedded-metric-format log line the host sends with `PutLogEvents`: the host's datum
 * and the fleet series' datum. `properties` are more facts in the line that are no metric (no metric cost:
 * the instance monitor's health).
 */
export function heartbeatLogLine(
  beat: HeartbeatBeat,
  properties: Readonly<Record<string, string>> = {},
): string {
  return emfLine(
    HEARTBEAT_METRIC.namespace,
    [
      heartbeatDatum(beat.host, beat.at, beat.watchdogTimeoutSeconds ?? 0),
      fleetHeartbeatDatum(beat.fleet, beat.at, beat.intervalSeconds),
    ],
    properties,
  );
}

/**
 * `PutMetricAlarm` input: fewer than 1 heartbeat in each of `evaluationPeriods` periods of
 * `periodSeconds` is ALARM, and a period with no data counts as breaching (a dead host sends nothing).
 * Defaults: 3 x 10 s = ALARM within 30-40 s of the last heartbeat.
 */
export function heartbeatAlarm(host: string, opts: HeartbeatAlarmOptions = {}, prefix = DEFAULT_PREFIX) {
  const evaluationPeriods = opts.evaluationPeriods ?? HEARTBEAT_MISSED_PERIODS;
  return {
    AlarmName: heartbeatAlarmName(host, prefix),
    AlarmDescription: `Lazarus: host ${host} stopped sending heartbeats`,
    Namespace: HEARTBEAT_METRIC.namespace,
    MetricName: HEARTBEAT_METRIC.metricName,
    Dimensions: [{ Name: HEARTBEAT_METRIC.dimension, Value: host }],
    Statistic: "SampleCount" as const,
    Period: opts.periodSeconds ?? HEARTBEAT_PERIOD_SECONDS,
    EvaluationPeriods: evaluationPeriods,
    DatapointsToAlarm: evaluationPeriods,
    Threshold: 1,
    ComparisonOperator: "LessThanThreshold" as const,
    TreatMissingData: "breaching" as const,
    ActionsEnabled: true,
  };
}
