/**
 * The host heartbeat as data: the metric each host publishes, and the one CloudWatch alarm per host that
 * turns its silence into ALARM. Host registration (AWS) and the local cloud create alarms from
 * `heartbeatAlarm`; the trigger handler finds the host in the alarm's dimensions. Nothing here imports an
 * AWS client: the objects have the shape of `PutMetricData` / `PutMetricAlarm` inputs.
 *
 * Cost per host-month at us-east-1 list prices (docs/ARCHITECTURE.md, "Host failure"): one high-resolution
 * custom metric ($0.30) + one high-resolution alarm ($0.30) + the heartbeat calls (see there).
 */

export const HEARTBEAT_METRIC = {
  namespace: "Lazarus",
  metricName: "Heartbeat",
  /** The dimension naming the compute host. */
  dimension: "Host",
} as const;

/** Alarm names: `lazarus-heartbeat-<host>`; the EventBridge rule matches this prefix. */
export const HEARTBEAT_ALARM_PREFIX = "lazarus-heartbeat-";

export function heartbeatAlarmName(host: string): string {
  return `${HEARTBEAT_ALARM_PREFIX}${host}`;
}

export interface HeartbeatAlarmOptions {
  /** Alarm period; high-resolution alarms allow 10 or 30 s in AWS (the local evaluator accepts any). */
  periodSeconds?: number;
  /** Consecutive silent periods before ALARM (detection window = period x this, plus evaluation lag). */
  evaluationPeriods?: number;
}

/** One high-resolution heartbeat value: `Value` 1 with `StorageResolution` 1. */
export function heartbeatDatum(host: string, at: Date) {
  return {
    MetricName: HEARTBEAT_METRIC.metricName,
    Dimensions: [{ Name: HEARTBEAT_METRIC.dimension, Value: host }],
    Timestamp: at,
    Value: 1,
    Unit: "Count" as const,
    StorageResolution: 1,
  };
}

/**
 * `PutMetricAlarm` input: fewer than 1 heartbeat in each of `evaluationPeriods` periods of
 * `periodSeconds` is ALARM, and a period with no data counts as breaching (a dead host sends nothing).
 * Defaults: 10 s x 2 = ALARM within 20-30 s of the last heartbeat.
 */
export function heartbeatAlarm(host: string, opts: HeartbeatAlarmOptions = {}) {
  const evaluationPeriods = opts.evaluationPeriods ?? 2;
  return {
    AlarmName: heartbeatAlarmName(host),
    AlarmDescription: `Lazarus: host ${host} stopped sending heartbeats`,
    Namespace: HEARTBEAT_METRIC.namespace,
    MetricName: HEARTBEAT_METRIC.metricName,
    Dimensions: [{ Name: HEARTBEAT_METRIC.dimension, Value: host }],
    Statistic: "SampleCount" as const,
    Period: opts.periodSeconds ?? 10,
    EvaluationPeriods: evaluationPeriods,
    DatapointsToAlarm: evaluationPeriods,
    Threshold: 1,
    ComparisonOperator: "LessThanThreshold" as const,
    TreatMissingData: "breaching" as const,
    ActionsEnabled: true,
  };
}
