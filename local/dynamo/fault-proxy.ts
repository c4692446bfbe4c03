/**
 * A fault-injecting HTTP proxy in front of the local DynamoDB endpoint (loopback only). The flows' SDK
 * clients reach DynamoDB through it (`AWS_ENDPOINT_URL_DYNAMODB`, set by the local cloud's `dynamoFaults`
 * option) and it answers a configurable share of requests the way DynamoDB does when it is unwell:
 *
 *  - "throttle":      400 `ThrottlingException` (not applied)
 *  - "throughput":    400 `ProvisionedThroughputExceededException` (not applied)
 *  - "server-error":  500 `InternalServerError` / 503 `ServiceUnavailable` (not applied)
 *  - "lost-response": the request IS applied, then the answer is lost and replaced by a 500 (DynamoDB's
 *                     documented ambiguity: a 5xx does not say whether a write happened). The SDK retries
 *                     it, so a conditional write meets its own earlier success: only idempotent writers
 *                     survive this one.
 *
 * Decisions come from a seeded generator in request arrival order (which concurrency makes only roughly
 * repeatable). Everything else is forwarded byte for byte. The errors are in the awsJson1_0 shape the
 * real SDK parses (`__type` + `message`), so its retry strategy classifies them as AWS's would.
 */

import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";
import { AwsJsonError, readBody, sendAwsJsonError } from "../http/aws-json.js";
import { closeServer, listenOnLoopback } from "../http/loopback.js";
import { type SeededRandom, seededRandom } from "../seeded-random.js";

export const DYNAMO_FAULT_KINDS = ["throttle", "throughput", "server-error", "lost-response"] as const;
export type DynamoFaultKind = (typeof DYNAMO_FAULT_KINDS)[number];

/** Share of requests (0..1) answered with each fault; the sum must not exceed 1. */
export type DynamoFaultRates = Partial<Record<DynamoFaultKind, number>>;

export interface DynamoFaultStats {
  requests: number;
  faults: Record<DynamoFaultKind, number>;
  /** Faults by DynamoDB operation (`X-Amz-Target` without its prefix). */
  byOperation: Record<string, number>;
}

export interface DynamoFaultProxy {
  /** `http://127.0.0.1:<port>`: what the flows get as AWS_ENDPOINT_URL_DYNAMODB. */
  endpoint: string;
  /**
   * Change the rates from the next request on; `seed` reseeds, `operations` limits the faults to those
   * DynamoDB operations (e.g. ["PutItem", "UpdateItem"]), all of them when absent.
   */
  configure(rates: DynamoFaultRates, opts?: { seed?: number; operations?: readonly string[] }): void;
  /**
   * The next `count` requests of `operation` (any when absent) on `table` (any when absent: a table is the
   * request's `TableName`) get `kind`, before any rate applies. With a client that does not retry, a
   * "lost-response" there is a crash right after that write: it was made, and its caller died.
   */
  failNext(kind: DynamoFaultKind, count?: number, operation?: string, table?: string): void;
  /**
   * Holds the next request of `operation` (any when absent) on `table` (any when absent) before it reaches
   * DynamoDB, until `release()`: its caller frozen at that very call (a stalled Lambda) while others go on.
   * `reached` resolves once that request arrived.
   */
  holdNext(operation?: string, table?: string): { reached: Promise<void>; release(): void };
  rates(): DynamoFaultRates;
  stats(): DynamoFaultStats;
  close(): Promise<void>;
}

export interface DynamoFaultProxyOptions {
  /** The real endpoint (dynalite's `endpoint`). */
  target: string;
  rates?: DynamoFaultRates;
  seed?: number;
}

const ERRORS: Record<
  Exclude<DynamoFaultKind, "lost-response">,
  { status: number; type: string; message: string }[]
> = {
  throttle: [
    {
      status: 400,
      type: "com.amazon.coral.availability#ThrottlingException",
      message: "Rate of requests exceeds the allowed throughput.",
    },
  ],
  throughput: [
    {
      status: 400,
      type: "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
      message:
        "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.",
    },
  ],
  "server-error": [
    {
      status: 500,
      type: "com.amazonaws.dynamodb.v20120810#InternalServerError",
      message: "Internal server error",
    },
    {
      status: 503,
      type: "com.amazon.coral.availability#ServiceUnavailableException",
      message: "Service unavailable",
    },
  ],
};

function validate(rates: DynamoFaultRates): DynamoFaultRates {
  let sum = 0;
  for (const [kind, rate] of Object.entries(rates)) {
    if (!DYNAMO_FAULT_KINDS.includes(kind as DynamoFaultKind))
      throw new Error(`unknown DynamoDB fault ${kind}`);
    if (rate === undefined) continue;
    if (!(rate >= 0 && rate <= 1)) throw new Error(`fault rate ${kind}=${rate} is not within 0..1`);
    sum += rate;
  }
  if (sum > 1) throw new Error(`fault rates add up to ${sum} > 1`);
  return { ...rates };
}

/** DynamoDB's errors in its awsJson1_0 shape (the code keeps DynamoDB's "ns#" prefix, as DynamoDB sends it). */
function sendError(res: ServerResponse, status: number, type: string, message: string): void {
  sendAwsJsonError(res, "1.0", new AwsJsonError(type, message, status));
}

/** The table a request names (`TableName`; none for the batch and transaction operations). */
function tableOf(body: Buffer): string | undefined {
  try {
    const name = (JSON.parse(body.toString("utf8")) as { TableName?: unknown }).TableName;
    return typeof name === "string" ? name : undefined;
  } catch {
    return undefined;
  }
}

export async function startDynamoFaultProxy(opts: DynamoFaultProxyOptions): Promise<DynamoFaultProxy> {
  const target = new URL(opts.target);
  let rates = validate(opts.rates ?? {});
  let random: SeededRandom = seededRandom(opts.seed ?? 1);
  let operations: ReadonlySet<string> | null = null;
  const forced: { kind: DynamoFaultKind; operation: string | undefined; table: string | undefined }[] = [];
  const holds: {
    operation: string | undefined;
    table: string | undefined;
    arrived: () => void;
    released: Promise<void>;
  }[] = [];
  const matches = (
    f: { operation?: string | undefined; table?: string | undefined },
    op: string,
    body: Buffer,
  ) =>
    (f.operation === undefined || f.operation === op) && (f.table === undefined || f.table === tableOf(body));
  const stats: DynamoFaultStats = {
    requests: 0,
    faults: { throttle: 0, throughput: 0, "server-error": 0, "lost-response": 0 },
    byOperation: {},
  };

  /** The fault for the next request, if any: one draw per request, kinds laid end to end on [0, 1). */
  const decide = (): DynamoFaultKind | null => {
    const draw = random.next();
    let edge = 0;
    for (const kind of DYNAMO_FAULT_KINDS) {
      edge += rates[kind] ?? 0;
      if (draw < edge) return kind;
    }
    return null;
  };

  const forward = (req: IncomingMessage, body: Buffer) =>
    new Promise<{ status: number; headers: IncomingMessage["headers"]; body: Buffer }>((resolve, reject) => {
      const upstream = httpRequest(
        {
          host: target.hostname,
          port: target.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: target.host },
        },
        (res) => {
          readBody(res).then(
            (b) => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: b }),
            reject,
          );
        },
      );
      upstream.on("error", reject);
      upstream.end(body);
    });

  const server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      stats.requests++;
      const operation = String(req.headers["x-amz-target"] ?? "").replace(/^DynamoDB_\d+\./, "") || "?";
      const holdAt = holds.findIndex((h) => matches(h, operation, body));
      if (holdAt >= 0) {
        const hold = holds.splice(holdAt, 1)[0]!;
        hold.arrived();
        await hold.released;
      }
      const forcedAt = forced.findIndex((f) => matches(f, operation, body));
      const fault =
        forcedAt >= 0
          ? forced.splice(forcedAt, 1)[0]!.kind
          : operations && !operations.has(operation)
            ? null
            : decide();
      if (fault) {
        stats.faults[fault]++;
        stats.byOperation[operation] = (stats.byOperation[operation] ?? 0) + 1;
      }
      if (fault && fault !== "lost-response") {
        const e = random.pick(ERRORS[fault]);
        sendError(res, e.status, e.type, e.message);
        return;
      }
      const answer = await forward(req, body);
      if (fault === "lost-response") {
        sendError(res, 500, "com.amazonaws.dynamodb.v20120810#InternalServerError", "Internal server error");
        return;
      }
      res.writeHead(answer.status, answer.headers);
      res.end(answer.body);
    })().catch((e: unknown) => {
      // The real endpoint went away (the cloud is stopping): answer as an unreachable service would.
      if (!res.headersSent)
        sendError(res, 503, "ServiceUnavailable", e instanceof Error ? e.message : String(e));
      else res.destroy();
    });
  });
  const { url } = await listenOnLoopback(server);
  let closing: Promise<void> | undefined;
  return {
    endpoint: url,
    configure(next, o = {}) {
      rates = validate(next);
      if (o.seed !== undefined) random = seededRandom(o.seed);
      operations = o.operations ? new Set(o.operations) : null;
    },
    failNext(kind, count = 1, operation, table) {
      for (let i = 0; i < count; i++) forced.push({ kind, operation, table });
    },
    holdNext(operation, table) {
      let arrived!: () => void;
      let release!: () => void;
      const reached = new Promise<void>((r) => {
        arrived = r;
      });
      const released = new Promise<void>((r) => {
        release = r;
      });
      holds.push({ operation, table, arrived, released });
      return { reached, release };
    },
    rates: () => ({ ...rates }),
    stats: () => ({ ...stats, faults: { ...stats.faults }, byOperation: { ...stats.byOperation } }),
    close() {
      closing ??= closeServer(server);
      return closing;
    },
  };
}
