/**
 * Reads a host's heartbeats from CloudWatch (GetMetricData on the high-resolution heartbeat metric, 1 s
 * periods: CloudWatch keeps them for 3 hours): when the newest one was, and per period how many there were
 * and the smallest and largest value, the watchdog timeout each reported (shared/definitions/heartbeat.ts);
 * and the fleet series, summed over a window.
 * The endpoint comes from the SDK's configuration (`AWS_ENDPOINT_URL_CLOUDWATCH` locally).
 */
import {
  type CloudWatchClient,
  GetMetricDataCommand,
  type GetMetricDataCommandInput,
  type MetricDataQuery,
  type MetricDataResult,
} from "@aws-sdk/client-cloudwatch";
import { FLEET_HEARTBEAT_METRIC, HEARTBEAT_METRIC } from "../definitions/heartbeat.js";
import type { HeartbeatSample } from "../domain/fencing.js";

export interface HeartbeatReader {
  /** Time of the newest heartbeat of `host` within the last `lookbackSeconds`, or null if none. */
  lastHeartbeat(host: string, lookbackSeconds: number): Promise<Date | null>;
  /** The host's heartbeats from `from` to `to`, per 1 s period with any, oldest first. */
  samples(host: string, from: Date, to: Date): Promise<HeartbeatSample[]>;
  /**
   * The fleet series' Sum (`FLEET_HEARTBEAT_METRIC`: each heartbeat adds its host's interval) over the whole
   * seconds from `from` (included) to `to` (excluded). Data not yet arrived reads as silence.
   */
  fleetBeatSeconds(fleet: string, from: Date, to: Date): Promise<number>;
}

/** The statistics `samples` asks for, by query id. */
const SAMPLE_STATS = { count: "SampleCount", min: "Minimum", max: "Maximum" } as const;

/** A 1 s query of one statistic of a one-dimension metric (the host's heartbeat, the fleet's series). */
function metricQuery(
  id: string,
  metric: { namespace: string; metricName: string; dimension: string },
  dimensionValue: string,
  stat: string,
): MetricDataQuery {
  return {
    Id: id,
    MetricStat: {
      Metric: {
        Namespace: metric.namespace,
        MetricName: metric.metricName,
        Dimensions: [{ Name: metric.dimension, Value: dimensionValue }],
      },
      // 1-second periods: high-resolution data keeps them for 3 hours.
      Period: 1,
      Stat: stat,
    },
  };
}

const heartbeatQuery = (id: string, host: string, stat: string) =>
  metricQuery(id, HEARTBEAT_METRIC, host, stat);

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
        MetricDataQueries: [heartbeatQuery("heartbeat", host, "SampleCount")],
      }),
    );
    const times = (out.MetricDataResults?.[0]?.Timestamps ?? []).map((t) => new Date(t).getTime());
    return times.length > 0 ? new Date(Math.max(...times)) : null;
  }

  async samples(host: string, from: Date, to: Date): Promise<HeartbeatSample[]> {
    const byPeriod = new Map<number, Partial<Record<keyof typeof SAMPLE_STATS, number>>>();
    const results = await this.allResults({
      StartTime: from,
      EndTime: new Date(to.getTime() + 1000),
      ScanBy: "TimestampAscending",
      MetricDataQueries: Object.entries(SAMPLE_STATS).map(([id, stat]) => heartbeatQuery(id, host, stat)),
    });
    for (const r of results) {
      const key = r.Id as keyof typeof SAMPLE_STATS;
      if (!(key in SAMPLE_STATS)) continue;
      (r.Timestamps ?? []).forEach((t, i) => {
        const at = new Date(t).getTime();
        const v = r.Values?.[i];
        if (v === undefined) return;
        byPeriod.set(at, { ...byPeriod.get(at), [key]: v });
      });
    }
    return [...byPeriod.entries()]
      .sort(([a], [b]) => a - b)
      .flatMap(([at, s]) =>
        // A period with heartbeats but a statistic missing counts as "nothing armed": never as evidence.
        s.count !== undefined && s.count > 0
          ? [{ at: new Date(at), count: s.count, min: s.min ?? 0, max: s.max ?? 0 }]
          : [],
      );
  }

  async fleetBeatSeconds(fleet: string, from: Date, to: Date): Promise<number> {
    // Each 1 s period's Sum added up: exactly the window asked for.
    const results = await this.allResults({
      StartTime: from,
      EndTime: to,
      MetricDataQueries: [metricQuery("fleet", FLEET_HEARTBEAT_METRIC, fleet, "Sum")],
    });
    return results.flatMap((r) => r.Values ?? []).reduce((sum, v) => sum + v, 0);
  }

  /** Every page of one GetMetricData request's results (followed through NextToken). */
  private async allResults(input: Omit<GetMetricDataCommandInput, "NextToken">): Promise<MetricDataResult[]> {
    const results: MetricDataResult[] = [];
    let nextToken: string | undefined;
    do {
      const out = await this.client.send(new GetMetricDataCommand({ ...input, NextToken: nextToken }));
      results.push(...(out.MetricDataResults ?? []));
      nextToken = out.NextToken;
    } while (nextToken);
    return results;
  }
}
