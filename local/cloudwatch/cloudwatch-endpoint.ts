/**
 * A local CloudWatch endpoint: the AWS JSON 1.0 protocol that `@aws-sdk/client-cloudwatch` speaks
 * (`X-Amz-Target: GraniteServiceVersion20100801.<Op>`) and the query protocol the AWS CLI v2 of Debian
 * speaks (local/http/aws-query.ts: the same operations), for what Lazarus and an operator use:
 * PutMetricData (host heartbeats), GetMetricData (the flow's staleness check), GetMetricStatistics and
 * ListMetrics (an operator's look), PutMetricAlarm / DescribeAlarms / DeleteAlarms / SetAlarmState.
 * Metric alarms are evaluated here as CloudWatch does it (see alarm-evaluator.ts), and every state change is
 * handed to `onAlarmStateChange` as the EventBridge event CloudWatch emits. Binds to 127.0.0.1.
 */
import { createServer } from "node:http";
import { AwsJsonError, awsJsonHandler } from "../http/aws-json.js";
import { type AwsQueryService, handleQueryRequest, isQueryRequest } from "../http/aws-query.js";
import { closeServer, listenOnLoopback } from "../http/loopback.js";
import { LocalCredentials, sigV4Authenticator } from "../http/sigv4.js";
import {
  type AlarmDefinition,
  AlarmEvaluator,
  type AlarmNotification,
  type AlarmStateChange,
  firstAtOrAfter,
  type StoredDatum,
  statistic,
} from "./alarm-evaluator.js";

/** The sub-minute alarm periods AWS takes (high-resolution alarms); otherwise multiples of 60 s. */
const ALARM_SUB_MINUTE_PERIODS = [10, 20, 30];
export interface CloudWatchEndpointOptions {
  port?: number;
  region?: string;
  accountId?: string;
  /** How often alarms are evaluated (default 1 s). */
  evaluationIntervalMs?: number;
  /** Called for every alarm state change (the local cloud forwards it to EventBridge). */
  onAlarmStateChange?: (change: AlarmStateChange) => void | Promise<void>;
  /** An alarm's action (an SNS topic ARN) notified of a state change (the local cloud's SNS endpoint). */
  onAlarmAction?: (topicArn: string, notification: AlarmNotification) => void | Promise<void>;
  /** Evaluate the alarms (default true); false: alarms are kept and listed, but none changes state. */
  evaluateAlarms?: boolean;
  /** Who may call (SigV4, service `monitoring`); default: the control plane's fixed keys only. */
  credentials?: LocalCredentials;
  /** How long data points are kept, ms (default an hour; a fleet of simulated hosts keeps less). */
  retentionMs?: number;
  /**
   * The endpoint's clock, ms (default Date.now): data points without a timestamp, alarm creation and
   * evaluation. A unit test advances it to see a 60 s alarm period pass without waiting for it.
   */
  now?: () => number;
}

export interface CloudWatchEndpoint {
  url: string;
  port: number;
  evaluator: AlarmEvaluator;
  /**
   * Stores data points of one series, as PutMetricData does (CloudWatch Logs' embedded-metric-format
   * extraction lands here too: local/cloudwatch/logs-endpoint.ts).
   */
  record(
    namespace: string,
    metricName: string,
    dimensions: Record<string, string>,
    at: number,
    values: number[],
  ): void;
  /** The data points of a series (oldest first, the last hour), for tests that read what a host sent. */
  data(namespace: string, metricName: string, dimensions: Record<string, string>): readonly StoredDatum[];
  /** Epoch ms of the newest datum of a metric series (namespace, name, dimensions), if any. */
  lastDatumAt(namespace: string, metricName: string, dimensions: Record<string, string>): number | undefined;
  /**
   * A datum an AWS service publishes itself (namespace `AWS/...`, which PutMetricData refuses to callers):
   * the local EventBridge, Lambda and API endpoints record their own metrics here, as the services do.
   */
  recordServiceMetric(
    namespace: string,
    metricName: string,
    dimensions: Record<string, string>,
    value: number,
  ): void;
  /** Called right before each round of alarm evaluation (the simulated hosts send their due heartbeats). */
  beforeEvaluate(fn: (() => void) | undefined): void;
  /** API calls answered, by operation (the standing cost counts PutMetricAlarm, PutMetricData, ...). */
  readonly operationCounts: Record<string, number>;
  close(): Promise<void>;
}

type Dim = { Name?: unknown; Value?: unknown };

function dimensionsOf(raw: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const d of (Array.isArray(raw) ? raw : []) as Dim[]) {
    if (typeof d.Name !== "string" || typeof d.Value !== "string") {
      throw new AwsJsonError("InvalidParameterValue", "a dimension needs a Name and a Value");
    }
    out[d.Name] = d.Value;
  }
  return out;
}

/** CloudWatch's numeric request fields (query protocol values arrive as strings). */
const NUMBER_FIELDS = new Set([
  "Values",
  "Counts",
  "Period",
  "EvaluationPeriods",
  "DatapointsToAlarm",
  "Threshold",
  "StorageResolution",
  "MaxRecords",
  "SampleCount",
  "Sum",
  "Minimum",
  "Maximum",
]);
/** Output fields holding epoch seconds (JSON) that the query protocol writes as ISO 8601. */
const TIMESTAMP_FIELDS = new Set([
  "Timestamp",
  "Timestamps",
  "StateUpdatedTimestamp",
  "StateTransitionedTimestamp",
  "AlarmConfigurationUpdatedTimestamp",
]);

/** ListMetrics' dimension filters: a name, optionally with the value it must have. */
function dimensionFilters(raw: unknown[]): { name: string; value?: string }[] {
  return (raw as Dim[]).map((d) => {
    if (typeof d.Name !== "string")
      throw new AwsJsonError("InvalidParameterValue", "a dimension filter needs a Name");
    return typeof d.Value === "string" ? { name: d.Name, value: d.Value } : { name: d.Name };
  });
}

function parseSeriesKey(key: string): {
  namespace: string;
  metricName: string;
  dimensions: Record<string, string>;
} {
  const [namespace = "", metricName = "", dims = ""] = key.split("|");
  const dimensions: Record<string, string> = {};
  for (const pair of dims ? dims.split(",") : []) {
    const at = pair.indexOf("=");
    dimensions[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return { namespace, metricName, dimensions };
}

export function seriesKey(namespace: string, metricName: string, dimensions: Record<string, string>): string {
  const dims = Object.entries(dimensions)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
  return `${namespace}|${metricName}|${dims}`;
}

/** AWS JSON timestamps are epoch seconds (numbers); ISO strings are accepted too. */
function timeOf(v: unknown, fallback: number): number {
  if (typeof v === "number") return v * 1000;
  if (typeof v === "string") {
    const t = Date.parse(v);
    if (Number.isFinite(t)) return t;
  }
  return fallback;
}

export async function startCloudWatchEndpoint(
  opts: CloudWatchEndpointOptions = {},
): Promise<CloudWatchEndpoint> {
  const clock = opts.now ?? Date.now;
  const region = opts.region ?? "us-east-1";
  const accountId = opts.accountId ?? "000000000000";
  /** Series key -> data, oldest first (pruned to the last hour). */
  const series = new Map<string, StoredDatum[]>();
  const evaluator = new AlarmEvaluator({
    region,
    accountId,
    datapoints: (a) => series.get(seriesKey(a.namespace, a.metricName, a.dimensions)) ?? [],
    onStateChange: (c) => opts.onAlarmStateChange?.(c),
    onAction: (topicArn, n) => opts.onAlarmAction?.(topicArn, n),
  });

  const retentionMs = opts.retentionMs ?? 3_600_000;
  // Kept in time order: data mostly arrives in order (appended); a late one is inserted where it belongs.
  const record = (
    namespace: string,
    metricName: string,
    dimensions: Record<string, string>,
    at: number,
    values: number[],
  ) => {
    const key = seriesKey(namespace, metricName, dimensions);
    let list = series.get(key);
    if (!list) {
      list = [];
      series.set(key, list);
    }
    for (const v of values) {
      let i = list.length;
      while (i > 0 && list[i - 1]!.at > at) i--;
      if (i === list.length) list.push({ at, value: v });
      else list.splice(i, 0, { at, value: v });
    }
    const oldest = clock() - retentionMs;
    if (list.length > 0 && list[0]!.at < oldest) list.splice(0, firstAtOrAfter(list, oldest));
  };

  const putMetricData = (input: Record<string, unknown>) => {
    const namespace = input.Namespace;
    if (typeof namespace !== "string" || namespace === "" || namespace.startsWith("AWS/")) {
      throw new AwsJsonError("InvalidParameterValue", "Namespace is required and may not start with AWS/");
    }
    const data = input.MetricData;
    if (!Array.isArray(data) || data.length === 0 || data.length > 1000) {
      throw new AwsJsonError("InvalidParameterValue", "MetricData must hold 1 to 1000 items");
    }
    const now = clock();
    for (const d of data as Record<string, unknown>[]) {
      if (typeof d.MetricName !== "string")
        throw new AwsJsonError("MissingParameter", "MetricName is required");
      const values =
        typeof d.Value === "number" ? [d.Value] : Array.isArray(d.Values) ? (d.Values as number[]) : [];
      if (values.length === 0) throw new AwsJsonError("MissingParameter", "Value or Values is required");
      record(namespace, d.MetricName, dimensionsOf(d.Dimensions), timeOf(d.Timestamp, now), values);
    }
    return {};
  };

  /** MetricStat queries only (what Lazarus reads): per-period statistics, newest first (ScanBy default). */
  const getMetricData = (input: Record<string, unknown>) => {
    const start = timeOf(input.StartTime, Number.NaN);
    const end = timeOf(input.EndTime, Number.NaN);
    if (!Number.isFinite(start) || !Number.isFinite(end))
      throw new AwsJsonError("MissingParameter", "StartTime and EndTime are required");
    const queries = input.MetricDataQueries;
    if (!Array.isArray(queries) || queries.length === 0)
      throw new AwsJsonError("MissingParameter", "MetricDataQueries is required");
    const results = (queries as Record<string, unknown>[]).map((q) => {
      const stat = q.MetricStat as Record<string, unknown> | undefined;
      const metric = stat?.Metric as Record<string, unknown> | undefined;
      if (!stat || !metric || typeof metric.Namespace !== "string" || typeof metric.MetricName !== "string") {
        throw new AwsJsonError("InvalidParameterValue", "only MetricStat queries are supported locally");
      }
      const period = Number(stat.Period) * 1000;
      const all =
        series.get(seriesKey(metric.Namespace, metric.MetricName, dimensionsOf(metric.Dimensions))) ?? [];
      const data = all.slice(firstAtOrAfter(all, start), firstAtOrAfter(all, end));
      const buckets = new Map<number, number[]>();
      for (const d of data) {
        const b = Math.floor(d.at / period) * period;
        buckets.set(b, [...(buckets.get(b) ?? []), d.value]);
      }
      const ordered = [...buckets.entries()].sort(([a], [b]) =>
        input.ScanBy === "TimestampAscending" ? a - b : b - a,
      );
      return {
        Id: q.Id,
        Label: metric.MetricName,
        Timestamps: ordered.map(([t]) => t / 1000),
        Values: ordered.map(([, vs]) => statistic(String(stat.Stat), vs)),
        StatusCode: "Complete",
      };
    });
    return { MetricDataResults: results, Messages: [] };
  };

  const putMetricAlarm = (input: Record<string, unknown>) => {
    // PutMetricAlarm's Period: 10, 20 or 30 (a high-resolution alarm) or a multiple of 60; nothing faster.
    const period = Number(input.Period);
    if (
      !Number.isInteger(period) ||
      !(ALARM_SUB_MINUTE_PERIODS.includes(period) || (period > 0 && period % 60 === 0))
    )
      throw new AwsJsonError(
        "InvalidParameterValue",
        `The value ${String(input.Period)} for parameter Period is not valid: valid values are 10, 20, 30 and any multiple of 60.`,
      );
    const def: AlarmDefinition = {
      name: String(input.AlarmName ?? ""),
      description: typeof input.AlarmDescription === "string" ? input.AlarmDescription : "",
      namespace: String(input.Namespace ?? ""),
      metricName: String(input.MetricName ?? ""),
      dimensions: dimensionsOf(input.Dimensions),
      statistic: String(input.Statistic ?? "SampleCount"),
      periodSeconds: Number(input.Period),
      evaluationPeriods: Number(input.EvaluationPeriods),
      datapointsToAlarm: Number(input.DatapointsToAlarm ?? input.EvaluationPeriods),
      threshold: Number(input.Threshold),
      comparison: String(input.ComparisonOperator ?? "") as AlarmDefinition["comparison"],
      treatMissingData: String(input.TreatMissingData ?? "missing") as AlarmDefinition["treatMissingData"],
      ...(input.ActionsEnabled === false
        ? {}
        : {
            alarmActions: Array.isArray(input.AlarmActions) ? (input.AlarmActions as string[]) : [],
            okActions: Array.isArray(input.OKActions) ? (input.OKActions as string[]) : [],
          }),
    };
    if (!def.name || !def.namespace || !def.metricName)
      throw new AwsJsonError("MissingParameter", "AlarmName, Namespace and MetricName are required");
    if (!(def.periodSeconds > 0) || !(def.evaluationPeriods > 0))
      throw new AwsJsonError("InvalidParameterValue", "Period and EvaluationPeriods must be positive");
    evaluator.put(def, clock());
    return {};
  };

  const describeAlarms = (input: Record<string, unknown>) => {
    const names = Array.isArray(input.AlarmNames) ? new Set(input.AlarmNames as string[]) : null;
    return {
      MetricAlarms: evaluator
        .list()
        .filter((a) => !names || names.has(a.definition.name))
        .map((a) => ({
          AlarmName: a.definition.name,
          AlarmArn: a.arn,
          AlarmDescription: a.definition.description,
          Namespace: a.definition.namespace,
          MetricName: a.definition.metricName,
          Dimensions: Object.entries(a.definition.dimensions).map(([Name, Value]) => ({ Name, Value })),
          Statistic: a.definition.statistic,
          Period: a.definition.periodSeconds,
          EvaluationPeriods: a.definition.evaluationPeriods,
          DatapointsToAlarm: a.definition.datapointsToAlarm,
          Threshold: a.definition.threshold,
          ComparisonOperator: a.definition.comparison,
          TreatMissingData: a.definition.treatMissingData,
          AlarmActions: a.definition.alarmActions ?? [],
          OKActions: a.definition.okActions ?? [],
          StateValue: a.state,
          StateReason: a.reason,
          StateUpdatedTimestamp: a.updatedAt / 1000,
        })),
      CompositeAlarms: [],
    };
  };

  const setAlarmState = (input: Record<string, unknown>) => {
    const value = input.StateValue;
    if (value !== "OK" && value !== "ALARM" && value !== "INSUFFICIENT_DATA")
      throw new AwsJsonError("InvalidParameterValue", "StateValue must be OK, ALARM or INSUFFICIENT_DATA.");
    const name = String(input.AlarmName ?? "");
    if (!evaluator.setState(name, value, String(input.StateReason ?? ""), clock()))
      throw new AwsJsonError("ResourceNotFound", `Alarm ${name} not found`);
    return {};
  };

  const deleteAlarms = (input: Record<string, unknown>) => {
    for (const n of (Array.isArray(input.AlarmNames) ? input.AlarmNames : []) as string[])
      evaluator.delete(n);
    return {};
  };

  /** Every series of the namespace/name/dimensions asked for (what `aws cloudwatch list-metrics` shows). */
  const listMetrics = (input: Record<string, unknown>) => {
    const wanted = Array.isArray(input.Dimensions) ? dimensionFilters(input.Dimensions) : [];
    const metrics = [...series.keys()]
      .map(parseSeriesKey)
      .filter(
        (m) =>
          (input.Namespace === undefined || m.namespace === input.Namespace) &&
          (input.MetricName === undefined || m.metricName === input.MetricName) &&
          wanted.every(
            (d) => d.name in m.dimensions && (d.value === undefined || m.dimensions[d.name] === d.value),
          ),
      )
      .map((m) => ({
        Namespace: m.namespace,
        MetricName: m.metricName,
        Dimensions: Object.entries(m.dimensions).map(([Name, Value]) => ({ Name, Value })),
      }));
    return { Metrics: metrics };
  };

  /** Per-period statistics of one series (the older read beside GetMetricData), oldest first. */
  const getMetricStatistics = (input: Record<string, unknown>) => {
    const start = timeOf(input.StartTime, Number.NaN);
    const end = timeOf(input.EndTime, Number.NaN);
    const period = Number(input.Period) * 1000;
    if (!Number.isFinite(start) || !Number.isFinite(end) || !(period > 0))
      throw new AwsJsonError("MissingParameter", "StartTime, EndTime and Period are required");
    if (typeof input.Namespace !== "string" || typeof input.MetricName !== "string")
      throw new AwsJsonError("MissingParameter", "Namespace and MetricName are required");
    const stats = (Array.isArray(input.Statistics) ? input.Statistics : []) as string[];
    if (stats.length === 0) throw new AwsJsonError("MissingParameter", "Statistics is required");
    const data = (
      series.get(seriesKey(input.Namespace, input.MetricName, dimensionsOf(input.Dimensions))) ?? []
    ).filter((d) => d.at >= start && d.at < end);
    const buckets = new Map<number, number[]>();
    for (const d of data) {
      const b = Math.floor(d.at / period) * period;
      buckets.set(b, [...(buckets.get(b) ?? []), d.value]);
    }
    return {
      Label: input.MetricName,
      Datapoints: [...buckets.entries()]
        .sort(([a], [b]) => a - b)
        .map(([t, vs]) => ({
          Timestamp: t / 1000,
          ...Object.fromEntries(stats.map((s) => [s, statistic(s, vs)])),
          Unit: "None",
        })),
    };
  };

  const operationCounts: Record<string, number> = {};
  const counted =
    (name: string, op: (input: Record<string, unknown>) => unknown) => (input: Record<string, unknown>) => {
      operationCounts[name] = (operationCounts[name] ?? 0) + 1;
      return op(input);
    };
  const ops: Record<string, (input: Record<string, unknown>) => unknown> = {
    PutMetricData: counted("PutMetricData", putMetricData),
    GetMetricData: counted("GetMetricData", getMetricData),
    GetMetricStatistics: counted("GetMetricStatistics", getMetricStatistics),
    ListMetrics: counted("ListMetrics", listMetrics),
    PutMetricAlarm: counted("PutMetricAlarm", putMetricAlarm),
    DescribeAlarms: counted("DescribeAlarms", describeAlarms),
    DeleteAlarms: counted("DeleteAlarms", deleteAlarms),
    SetAlarmState: counted("SetAlarmState", setAlarmState),
  };

  // PutMetricData bodies over the SDK's compression threshold arrive gzipped: the handler inflates them.
  const authenticate = sigV4Authenticator("monitoring", opts.credentials ?? new LocalCredentials());
  const json = awsJsonHandler({
    version: "1.0",
    targetPrefix: "GraniteServiceVersion20100801",
    operations: ops,
    queryCompatible: true,
    authenticate,
  });
  // The same operations in the query protocol (what the AWS CLI v2 of Debian sends), signed the same way.
  const query: AwsQueryService = {
    xmlns: "http://monitoring.amazonaws.com/doc/2010-08-01/",
    operations: ops,
    authenticate,
    isNumber: (path) => {
      const last = path.at(-1) ?? "";
      // A dimension's Value is a string; a datum's Value (and every other of these) a number.
      if (last === "Value") return !path.includes("Dimensions");
      return NUMBER_FIELDS.has(last);
    },
    timestampFields: TIMESTAMP_FIELDS,
  };
  const server = createServer((req, res) =>
    isQueryRequest(req) ? void handleQueryRequest(query, req, res) : json(req, res),
  );
  const { port } = await listenOnLoopback(server, opts.port);
  let beforeEvaluate: (() => void) | undefined;
  const timer = setInterval(() => {
    if (opts.evaluateAlarms === false) return;
    beforeEvaluate?.();
    evaluator.evaluateAll(clock());
  }, opts.evaluationIntervalMs ?? 1000);
  timer.unref();

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    evaluator,
    record,
    data: (namespace, metricName, dimensions) =>
      series.get(seriesKey(namespace, metricName, dimensions)) ?? [],
    lastDatumAt: (namespace, metricName, dimensions) =>
      series.get(seriesKey(namespace, metricName, dimensions))?.at(-1)?.at,
    recordServiceMetric: (namespace, metricName, dimensions, value) =>
      record(namespace, metricName, dimensions, clock(), [value]),
    beforeEvaluate: (fn) => {
      beforeEvaluate = fn;
    },
    operationCounts,
    close: async () => {
      clearInterval(timer);
      await closeServer(server);
    },
  };
}
