/**
 * Reads a host's last heartbeat from CloudWatch (GetMetricData on the high-resolution heartbeat metric).
 * The endpoint comes from the SDK's configuration (`AWS_ENDPOINT_URL_CLOUDWATCH` locally).
 */
import { type CloudWatchClient, GetMetricDataCommand } from "@aws-sdk/client-cloudwatch";
import { HEARTBEAT_METRIC } from "../definitions/heartbeat.js";

export interface HeartbeatReader {
  /** Time of the newest heartbeat of `host` within the last `lookbackSeconds`, or null if none. */
  lastHeartbeat(host: string, lookbackSeconds: number): Promise<Date | null>;
}

export class CloudWatchHeartbeatReader implements HeartbeatReader {
  constructor(
    private readonly client: CloudWatchClient,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async lastHeartbeat(host: string, lookbackSeconds: number): Promise<Date | null> {
    const end = this.now();
    const out = await this.client.send(
      new GetMetricDataCommand({
        StartTime: new Date(end.getTime() - lookbackSeconds * 1000),
        // The period holding `end` is included: the newest heartbeat may be in it.
        EndTime: new Date(end.getTime() + 1000),
        ScanBy: "TimestampDescending",
        MaxDatapoints: 1,
        MetricDataQueries: [
          {
            Id: "heartbeat",
            MetricStat: {
              Metric: {
                Namespace: HEARTBEAT_METRIC.namespace,
                MetricName: HEARTBEAT_METRIC.metricName,
                Dimensions: [{ Name: HEARTBEAT_METRIC.dimension, Value: host }],
              },
              // 1-second periods: high-resolution data keeps them for 3 hours.
              Period: 1,
              Stat: "SampleCount",
            },
          },
        ],
      }),
    );
    const times = (out.MetricDataResults?.[0]?.Timestamps ?? []).map((t) => new Date(t).getTime());
    return times.length > 0 ? new Date(Math.max(...times)) : null;
  }
}
