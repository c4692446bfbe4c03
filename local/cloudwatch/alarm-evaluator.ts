/**
 * Metric alarm evaluation as CloudWatch does it: the last `evaluationPeriods` complete periods of the
 * metric, each reduced to its statistic; a period with no data is breaching, not breaching or ignored as
 * `treatMissingData` says; `datapointsToAlarm` breaching periods = ALARM, else OK. Periods that ended before
 * the alarm existed are not evaluated (a new alarm starts INSUFFICIENT_DATA, it does not fire on history it
 * never saw). Each state change yields the event CloudWatch sends to EventBridge ("CloudWatch Alarm State
 * Change", AWS docs "Alarm events and EventBridge").
 */
import { randomUUID } from "node:crypto";

export type AlarmStateValue = "OK" | "ALARM" | "INSUFFICIENT_DATA";

export interface AlarmDefinition {
  name: string;
  description: string;
  namespace: string;
  metricName: string;
  dimensions: Record<string, string>;
  statistic: string;
  periodSeconds: number;
  evaluationPeriods: number;
  datapointsToAlarm: number;
  threshold: number;
  comparison:
    | "GreaterThanOrEqualToThreshold"
    | "GreaterThanThreshold"
    | "LessThanThreshold"
    | "LessThanOrEqualToThreshold";
  treatMissingData: "breaching" | "notBreaching" | "ignore" | "missing";
  /** Where CloudWatch notifies when the alarm enters ALARM / OK (SNS topic ARNs). */
  alarmActions?: string[];
  okActions?: string[];
}

/** What CloudWatch publishes to an alarm action's SNS topic (the notification's Subject and Message). */
export interface AlarmNotification {
  subject: string;
  message: string;
}

export interface StoredDatum {
  at: number;
  value: number;
}

export interface AlarmRecord {
  definition: AlarmDefinition;
  arn: string;
  state: AlarmStateValue;
  reason: string;
  updatedAt: number;
  createdAt: number;
}

/** The PutEvents entry CloudWatch's own event would be, plus the parsed detail. */
export interface AlarmStateChange {
  alarm: AlarmRecord;
  entry: { Source: string; DetailType: string; Resources: string[]; Detail: string; Time: Date };
}

/** CloudWatch's timestamp format in alarm events: 2019-10-02T17:04:40.985+0000. */
function cwTime(ms: number): string {
  return new Date(ms).toISOString().replace("Z", "+0000");
}

function breaches(def: AlarmDefinition, v: number): boolean {
  switch (def.comparison) {
    case "GreaterThanOrEqualToThreshold":
      return v >= def.threshold;
    case "GreaterThanThreshold":
      return v > def.threshold;
    case "LessThanThreshold":
      return v < def.threshold;
    case "LessThanOrEqualToThreshold":
      return v <= def.threshold;
  }
}

export class AlarmEvaluator {
  private readonly alarms = new Map<string, AlarmRecord>();

  constructor(
    private readonly opts: {
      region: string;
      accountId: string;
      /** The metric's data points, oldest first. */
      datapoints: (def: AlarmDefinition) => readonly StoredDatum[];
      onStateChange: (change: AlarmStateChange) => void | Promise<void>;
      /** An alarm action (SNS topic ARN) to notify of a state change, with CloudWatch's notification. */
      onAction?: (topicArn: string, notification: AlarmNotification) => void | Promise<void>;
    },
  ) {}

  put(definition: AlarmDefinition, now = Date.now()): void {
    const existing = this.alarms.get(definition.name);
    this.alarms.set(definition.name, {
      definition,
      arn: `arn:aws:cloudwatch:${this.opts.region}:${this.opts.accountId}:alarm:${definition.name}`,
      state: existing?.state ?? "INSUFFICIENT_DATA",
      reason: existing?.reason ?? "Unchecked: Initial alarm creation",
      updatedAt: existing?.updatedAt ?? now,
      createdAt: existing?.createdAt ?? now,
    });
  }

  delete(name: string): void {
    this.alarms.delete(name);
  }

  list(): AlarmRecord[] {
    return [...this.alarms.values()];
  }

  get(name: string): AlarmRecord | undefined {
    return this.alarms.get(name);
  }

  evaluateAll(now: number): void {
    for (const alarm of this.alarms.values()) this.evaluate(alarm, now);
  }

  private evaluate(alarm: AlarmRecord, now: number): void {
    const def = alarm.definition;
    const period = def.periodSeconds * 1000;
    const lastEnd = Math.floor(now / period) * period;
    const data = this.opts.datapoints(def);
    let breaching = 0;
    let evaluated = 0;
    const seen: number[] = [];
    for (let i = 0; i < def.evaluationPeriods; i++) {
      const end = lastEnd - i * period;
      const start = end - period;
      const values = valuesIn(data, start, end);
      // A period from before the alarm existed counts only with data in it (CloudWatch judges a new alarm
      // on the metric's history); its missing data is not the alarm's to treat as breaching.
      if (start < alarm.createdAt && values.length === 0) break;
      if (values.length === 0) {
        if (def.treatMissingData === "breaching") {
          breaching++;
          evaluated++;
        } else if (def.treatMissingData === "notBreaching") evaluated++;
        continue;
      }
      const v = statistic(def.statistic, values);
      seen.push(v);
      evaluated++;
      if (breaches(def, v)) breaching++;
    }
    let next: AlarmStateValue;
    if (breaching >= def.datapointsToAlarm) next = "ALARM";
    else if (evaluated >= def.datapointsToAlarm) next = "OK";
    else return; // not enough periods yet: the state stays as it is
    if (next === alarm.state) return;
    this.transition(
      alarm,
      next,
      next === "ALARM"
        ? `Threshold Crossed: ${breaching} out of the last ${def.evaluationPeriods} datapoints were ${def.comparison.replace(/Threshold$/, "")} the threshold (${def.threshold}) (missing data treated as ${def.treatMissingData}).`
        : `Threshold Crossed: no more than ${def.datapointsToAlarm - 1} of the last ${def.evaluationPeriods} datapoints breached the threshold (${def.threshold}); recent values [${seen.join(", ")}].`,
      now,
      seen,
    );
  }

  /**
   * CloudWatch's SetAlarmState: the state is set now (and its event and actions follow a change), and the
   * next evaluation judges the data again as usual; false for an alarm that does not exist.
   */
  setState(name: string, value: AlarmStateValue, reason: string, now: number): boolean {
    const alarm = this.alarms.get(name);
    if (!alarm) return false;
    if (alarm.state !== value) this.transition(alarm, value, reason, now, []);
    return true;
  }

  private transition(
    alarm: AlarmRecord,
    next: AlarmStateValue,
    reason: string,
    now: number,
    seen: readonly number[],
  ): void {
    const def = alarm.definition;
    const previous = { value: alarm.state, reason: alarm.reason, timestamp: cwTime(alarm.updatedAt) };
    alarm.state = next;
    alarm.reason = reason;
    alarm.updatedAt = now;
    const detail = {
      alarmName: def.name,
      state: {
        value: next,
        reason: alarm.reason,
        reasonData: JSON.stringify({
          version: "1.0",
          queryDate: cwTime(now),
          statistic: def.statistic,
          period: def.periodSeconds,
          recentDatapoints: seen,
          threshold: def.threshold,
        }),
        timestamp: cwTime(now),
      },
      previousState: previous,
      configuration: {
        description: def.description,
        metrics: [
          {
            id: randomUUID(),
            metricStat: {
              metric: { namespace: def.namespace, name: def.metricName, dimensions: def.dimensions },
              period: def.periodSeconds,
              stat: def.statistic,
            },
            returnData: true,
          },
        ],
      },
    };
    const actions = next === "ALARM" ? def.alarmActions : next === "OK" ? def.okActions : undefined;
    for (const topicArn of actions ?? []) {
      const notification = {
        subject: `${next}: "${def.name}" in ${this.opts.region}`.slice(0, 100),
        message: JSON.stringify({
          AlarmName: def.name,
          AlarmDescription: def.description,
          AWSAccountId: this.opts.accountId,
          NewStateValue: next,
          NewStateReason: alarm.reason,
          StateChangeTime: cwTime(now),
          Region: this.opts.region,
          AlarmArn: alarm.arn,
          OldStateValue: previous.value,
          Trigger: {
            MetricName: def.metricName,
            Namespace: def.namespace,
            Statistic: def.statistic.toUpperCase(),
            Dimensions: Object.entries(def.dimensions).map(([name, value]) => ({ name, value })),
            Period: def.periodSeconds,
            EvaluationPeriods: def.evaluationPeriods,
            ComparisonOperator: def.comparison,
            Threshold: def.threshold,
          },
        }),
      };
      void Promise.resolve(this.opts.onAction?.(topicArn, notification)).catch(() => {
        // CloudWatch retries its notifications; locally a failed one is visible in the SNS endpoint's log
      });
    }
    void Promise.resolve(
      this.opts.onStateChange({
        alarm,
        entry: {
          Source: "aws.cloudwatch",
          DetailType: "CloudWatch Alarm State Change",
          Resources: [alarm.arn],
          Detail: JSON.stringify(detail),
          Time: new Date(now),
        },
      }),
    ).catch(() => {
      // CloudWatch guarantees delivery to EventBridge; locally a failed hand-off is visible in the events log
    });
  }
}

/** The index of the first datum at or after `at` in a series kept in time order (binary search). */
export function firstAtOrAfter(list: readonly StoredDatum[], at: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]!.at < at) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The values of data points in [start, end) of a series kept in time order. */
function valuesIn(data: readonly StoredDatum[], start: number, end: number): number[] {
  return data.slice(firstAtOrAfter(data, start), firstAtOrAfter(data, end)).map((d) => d.value);
}

/** A period's statistic over its values (SampleCount when unnamed). */
export function statistic(stat: string, values: readonly number[]): number {
  if (values.length === 0) return 0;
  switch (stat) {
    case "Sum":
      return values.reduce((a, b) => a + b, 0);
    case "Average":
      return values.reduce((a, b) => a + b, 0) / values.length;
    case "Maximum":
      return Math.max(...values);
    case "Minimum":
      return Math.min(...values);
    default:
      return values.length; // SampleCount
  }
}
