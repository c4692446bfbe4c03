/**
 * CloudWatch's embedded metric format (EMF): one JSON log line that CloudWatch Logs turns into metric data
 * points as it ingests it (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html).
 * A heartbeat sent this way costs log ingestion only, no per-call charge (README, "Host heartbeat cost").
 *
 * `emfLine` writes a datum in the shape of a `PutMetricData` item (shared/definitions/heartbeat.ts builds
 * them) as that line; `metricsOfEmf` reads a line back into data points, as CloudWatch Logs does (the local
 * CloudWatch Logs endpoint uses it).
 */

export interface EmfDatum {
  MetricName: string;
  Dimensions: readonly { Name: string; Value: string }[];
  Timestamp: Date;
  Value: number;
  Unit: string;
  StorageResolution: number;
}

/**
 * The EMF log line of data of one instant (the first datum's timestamp is the line's): `_aws` metadata with
 * one directive per datum (each its own dimension set), the dimension values and the values at the root, and
 * any `properties` beside them (kept in the log event, not metrics). The root has one member per name: the
 * data's metric names differ, and a dimension they share has one value.
 */
export function emfLine(
  namespace: string,
  data: readonly [EmfDatum, ...EmfDatum[]],
  properties: Readonly<Record<string, string>> = {},
): string {
  const root: Record<string, unknown> = {
    _aws: {
      Timestamp: data[0].Timestamp.getTime(),
      CloudWatchMetrics: data.map((datum) => ({
        Namespace: namespace,
        Dimensions: [datum.Dimensions.map((d) => d.Name)],
        Metrics: [{ Name: datum.MetricName, Unit: datum.Unit, StorageResolution: datum.StorageResolution }],
      })),
    },
  };
  for (const [k, v] of Object.entries(properties)) root[k] = v;
  for (const datum of data) {
    for (const d of datum.Dimensions) root[d.Name] = d.Value;
    root[datum.MetricName] = datum.Value;
  }
  return JSON.stringify(root);
}

/** A data point extracted from an EMF line. */
export interface EmfMetric {
  namespace: string;
  metricName: string;
  dimensions: Record<string, string>;
  /** Epoch ms (`_aws.Timestamp`). */
  at: number;
  values: number[];
}

/**
 * The data points of one log line, as CloudWatch Logs extracts them: none when the line is not EMF or
 * breaks the specification (CloudWatch then keeps the line as a plain log event and makes no metric).
 */
export function metricsOfEmf(line: string): EmfMetric[] {
  let root: unknown;
  try {
    root = JSON.parse(line);
  } catch {
    return [];
  }
  if (!isObject(root) || !isObject(root._aws)) return [];
  const meta = root._aws;
  const at = meta.Timestamp;
  if (typeof at !== "number" || !Number.isFinite(at) || !Array.isArray(meta.CloudWatchMetrics)) return [];
  const out: EmfMetric[] = [];
  for (const directive of meta.CloudWatchMetrics as unknown[]) {
    if (!isObject(directive) || typeof directive.Namespace !== "string") return [];
    const dimensionSets = directive.Dimensions;
    if (!Array.isArray(dimensionSets) || !Array.isArray(directive.Metrics)) return [];
    for (const set of dimensionSets as unknown[]) {
      if (!Array.isArray(set)) return [];
      const dimensions: Record<string, string> = {};
      for (const name of set as unknown[]) {
        const value = typeof name === "string" ? root[name] : undefined;
        if (typeof name !== "string" || typeof value !== "string") return [];
        dimensions[name] = value;
      }
      for (const m of directive.Metrics as unknown[]) {
        if (!isObject(m) || typeof m.Name !== "string") return [];
        const raw = root[m.Name];
        const values = (Array.isArray(raw) ? raw : [raw]).filter(
          (v): v is number => typeof v === "number" && Number.isFinite(v),
        );
        if (values.length === 0) return [];
        out.push({ namespace: directive.Namespace, metricName: m.Name, dimensions, at, values });
      }
    }
  }
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
