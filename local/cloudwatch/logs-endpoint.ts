/**
 * A local CloudWatch Logs endpoint: the AWS JSON 1.1 protocol of `@aws-sdk/client-cloudwatch-logs`
 * (`X-Amz-Target: Logs_20140328.<Op>`), for what the host agent uses: CreateLogGroup, CreateLogStream,
 * PutLogEvents, and DescribeLogStreams / GetLogEvents for readers. Every request is SigV4-checked
 * (service `logs`). Each event of PutLogEvents is stored, and an embedded-metric-format line
 * (shared/metrics/emf.ts) becomes data points in the local CloudWatch metric store, as CloudWatch Logs
 * extracts them: the heartbeat alarm and the control plane's GetMetricData see a heartbeat sent this way.
 * Events older than 14 days or more than 2 hours in the future are rejected (`rejectedLogEventsInfo`),
 * as CloudWatch Logs does. Binds to 127.0.0.1.
 */
import { createServer } from "node:http";
import { metricsOfEmf } from "#shared/metrics/emf.js";
import { AwsJsonError, awsJsonHandler } from "../http/aws-json.js";
import { closeServer, listenOnLoopback } from "../http/loopback.js";
import { LocalCredentials, sigV4Authenticator } from "../http/sigv4.js";
import type { CloudWatchEndpoint } from "./cloudwatch-endpoint.js";

export interface StoredLogEvent {
  timestamp: number;
  message: string;
  ingestionTime: number;
}

export interface LogsEndpoint {
  url: string;
  port: number;
  /** Creates a log group (as the stack does for the heartbeat group); no-op if it exists. */
  createLogGroup(name: string): void;
  /** The events of one stream, oldest first (the last 1000). */
  events(group: string, stream: string): readonly StoredLogEvent[];
  /**
   * Takes events into a stream as PutLogEvents does (the same checks and metric extraction), from this
   * process: the simulated hosts' heartbeats (local/sim/fleet.ts). The stream is created when missing.
   */
  ingest(group: string, stream: string, events: { timestamp: number; message: string }[]): void;
  /**
   * PutLogEvents calls answered (over HTTP and in process) and what they carried: events, and bytes as
   * CloudWatch Logs bills ingestion (each message's UTF-8 size plus 26 bytes).
   */
  readonly counts: { putLogEvents: number; events: number; bytes: number };
  close(): Promise<void>;
}

/** Events kept per stream (readers look at the last ones; a fleet of simulated hosts keeps memory flat). */
const MAX_EVENTS_PER_STREAM = 1000;
const TOO_OLD_MS = 14 * 24 * 3600_000;
const TOO_NEW_MS = 2 * 3600_000;

export async function startLogsEndpoint(opts: {
  /** Where the embedded metrics go. */
  metrics: Pick<CloudWatchEndpoint, "record">;
  port?: number;
  credentials?: LocalCredentials;
}): Promise<LogsEndpoint> {
  const groups = new Map<string, Map<string, StoredLogEvent[]>>();
  const counts = { putLogEvents: 0, events: 0, bytes: 0 };

  const groupOf = (input: Record<string, unknown>) => {
    const name = input.logGroupName;
    if (typeof name !== "string" || name === "")
      throw new AwsJsonError("InvalidParameterException", "logGroupName is required");
    const group = groups.get(name);
    if (!group)
      throw new AwsJsonError("ResourceNotFoundException", "The specified log group does not exist.");
    return group;
  };
  const streamOf = (input: Record<string, unknown>) => {
    const group = groupOf(input);
    const name = input.logStreamName;
    if (typeof name !== "string" || name === "")
      throw new AwsJsonError("InvalidParameterException", "logStreamName is required");
    const stream = group.get(name);
    if (!stream)
      throw new AwsJsonError("ResourceNotFoundException", "The specified log stream does not exist.");
    return stream;
  };

  const createLogGroup = (input: Record<string, unknown>) => {
    const name = input.logGroupName;
    if (typeof name !== "string" || !/^[\w./#-]{1,512}$/.test(name))
      throw new AwsJsonError("InvalidParameterException", "invalid logGroupName");
    if (groups.has(name))
      throw new AwsJsonError("ResourceAlreadyExistsException", "The specified log group already exists");
    groups.set(name, new Map());
    return {};
  };

  const createLogStream = (input: Record<string, unknown>) => {
    const group = groupOf(input);
    const name = input.logStreamName;
    if (typeof name !== "string" || !/^[^:*]{1,512}$/.test(name))
      throw new AwsJsonError("InvalidParameterException", "invalid logStreamName");
    if (group.has(name))
      throw new AwsJsonError("ResourceAlreadyExistsException", "The specified log stream already exists");
    group.set(name, []);
    return {};
  };

  const putLogEvents = (input: Record<string, unknown>) => {
    const stream = streamOf(input);
    const events = input.logEvents;
    if (!Array.isArray(events) || events.length === 0 || events.length > 10_000)
      throw new AwsJsonError("InvalidParameterException", "logEvents must hold 1 to 10000 events");
    const now = Date.now();
    let tooOldEnd: number | undefined;
    let tooNewStart: number | undefined;
    let last = Number.NEGATIVE_INFINITY;
    events.forEach((raw, i) => {
      const e = raw as { timestamp?: unknown; message?: unknown };
      if (typeof e.timestamp !== "number" || typeof e.message !== "string")
        throw new AwsJsonError("InvalidParameterException", "each event needs a timestamp and a message");
      if (e.timestamp < last)
        throw new AwsJsonError(
          "InvalidParameterException",
          "Log events in a single PutLogEvents request must be in chronological order.",
        );
      last = e.timestamp;
      if (e.timestamp < now - TOO_OLD_MS) tooOldEnd = i + 1;
      else if (e.timestamp > now + TOO_NEW_MS) tooNewStart ??= i;
    });
    (events as { timestamp: number; message: string }[]).forEach((e, i) => {
      if ((tooOldEnd !== undefined && i < tooOldEnd) || (tooNewStart !== undefined && i >= tooNewStart))
        return;
      stream.push({ timestamp: e.timestamp, message: e.message, ingestionTime: now });
      counts.events++;
      counts.bytes += Buffer.byteLength(e.message) + 26;
      for (const m of metricsOfEmf(e.message)) {
        opts.metrics.record(m.namespace, m.metricName, m.dimensions, m.at, m.values);
      }
    });
    if (stream.length > MAX_EVENTS_PER_STREAM) stream.splice(0, stream.length - MAX_EVENTS_PER_STREAM);
    counts.putLogEvents++;
    const rejected = {
      ...(tooOldEnd !== undefined ? { tooOldLogEventEndIndex: tooOldEnd } : {}),
      ...(tooNewStart !== undefined ? { tooNewLogEventStartIndex: tooNewStart } : {}),
    };
    return Object.keys(rejected).length > 0 ? { rejectedLogEventsInfo: rejected } : {};
  };

  const describeLogStreams = (input: Record<string, unknown>) => {
    const group = groupOf(input);
    const prefix = typeof input.logStreamNamePrefix === "string" ? input.logStreamNamePrefix : "";
    return {
      logStreams: [...group.entries()]
        .filter(([name]) => name.startsWith(prefix))
        .map(([name, events]) => ({
          logStreamName: name,
          ...(events.length > 0 ? { lastEventTimestamp: events.at(-1)!.timestamp } : {}),
        })),
    };
  };

  const getLogEvents = (input: Record<string, unknown>) => ({
    events: streamOf(input).map((e) => ({ ...e })),
  });

  const server = createServer(
    awsJsonHandler({
      version: "1.1",
      targetPrefix: "Logs_20140328",
      operations: {
        CreateLogGroup: createLogGroup,
        CreateLogStream: createLogStream,
        PutLogEvents: putLogEvents,
        DescribeLogStreams: describeLogStreams,
        GetLogEvents: getLogEvents,
      },
      authenticate: sigV4Authenticator("logs", opts.credentials ?? new LocalCredentials()),
    }),
  );
  const { port } = await listenOnLoopback(server, opts.port);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    createLogGroup: (name) => {
      if (!groups.has(name)) groups.set(name, new Map());
    },
    events: (group, stream) => groups.get(group)?.get(stream) ?? [],
    ingest: (group, stream, events) => {
      const g = groups.get(group);
      if (g && !g.has(stream)) g.set(stream, []);
      putLogEvents({ logGroupName: group, logStreamName: stream, logEvents: events });
    },
    counts,
    close: () => closeServer(server),
  };
}
