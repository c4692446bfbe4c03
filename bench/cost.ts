/**
 * What an evacuation costs in AWS, from what the local cloud counted. Pure: counting rules over execution
 * histories and DynamoDB request bodies, and the list prices they are multiplied by.
 */
import type { HistoryEvent } from "@aws-sdk/client-sfn";

/** us-east-1 list prices used by the bench (checked against the AWS pricing pages; change them here). */
export const PRICES = {
  /** Step Functions Standard workflows: $0.025 per 1,000 state transitions. */
  stepFunctionsPerTransition: 0.025 / 1000,
  /** Lambda requests: $0.20 per 1M. */
  lambdaPerRequest: 0.2 / 1_000_000,
  /** Lambda duration, arm64: $0.0000133334 per GB-second (the stack deploys 512 MB arm64 functions). */
  lambdaPerGbSecondArm: 0.0000133334,
  lambdaMemoryGb: 0.5,
  /** DynamoDB on-demand: $0.625 per 1M write request units, $0.125 per 1M read request units. */
  dynamoPerWriteUnit: 0.625 / 1_000_000,
  dynamoPerReadUnit: 0.125 / 1_000_000,
  /** SSM Run Command (AWS-RunShellScript) on managed nodes: no charge (EC2, or hybrid standard tier). */
  ssmPerCommand: 0,
  /** EventBridge custom events (PutEvents): $1.00 per 1M. */
  eventBridgePerEvent: 1 / 1_000_000,
  /** CloudWatch: custom metric $0.30 per metric-month; high-resolution alarm $0.30 per alarm-month. */
  cloudWatchMetricMonth: 0.3,
  cloudWatchHighResAlarmMonth: 0.3,
  /** CloudWatch PutMetricData: $0.01 per 1,000 requests. */
  cloudWatchPerPutMetricData: 0.01 / 1000,
  /** CloudWatch Logs: ingestion $0.50 per GB (standard class), storage $0.03 per GB-month. */
  logsIngestPerGb: 0.5,
  logsStoragePerGbMonth: 0.03,
} as const;

/** Hours in a billing month as AWS counts them. */
export const HOURS_PER_MONTH = 730;

/**
 * State transitions of one execution, as Step Functions bills them: every state entered (Task, Choice,
 * Map, Pass, Wait, Succeed, Fail; also the states inside Map iterations), plus one for every retry of a
 * Task. A retry shows in the history as a TaskFailed after which the same state goes on (fails again or
 * exits) instead of another state being entered (a Catch).
 */
export function countStateTransitions(events: readonly HistoryEvent[]): { entered: number; retries: number } {
  let entered = 0;
  let retries = 0;
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    if (e.type?.endsWith("StateEntered")) entered++;
    if (e.type === "TaskFailed") {
      const next = events
        .slice(i + 1)
        .find(
          (n) =>
            n.type === "TaskFailed" || n.type?.endsWith("StateEntered") || n.type?.endsWith("StateExited"),
        );
      if (next && (next.type === "TaskFailed" || next.type === "TaskStateExited")) retries++;
    }
  }
  return { entered, retries };
}

const WRITE_OPS = new Set(["PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"]);
const READ_OPS = new Set(["GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"]);

export interface DynamoCall {
  op: string;
  body: string;
}

/** Item writes in one call (a batch or transaction writes several) and the write units they use at least. */
export function dynamoWrites(call: DynamoCall): { items: number; writeUnits: number } {
  if (!WRITE_OPS.has(call.op)) return { items: 0, writeUnits: 0 };
  if (call.op === "BatchWriteItem") {
    const body = JSON.parse(call.body) as { RequestItems?: Record<string, unknown[]> };
    const items = Object.values(body.RequestItems ?? {}).reduce((n, reqs) => n + reqs.length, 0);
    return { items, writeUnits: items };
  }
  if (call.op === "TransactWriteItems") {
    const body = JSON.parse(call.body) as { TransactItems?: unknown[] };
    const items = body.TransactItems?.length ?? 0;
    // A transactional write uses two write units per item (prepare and commit).
    return { items, writeUnits: 2 * items };
  }
  return { items: 1, writeUnits: 1 };
}

export function isDynamoRead(call: DynamoCall): boolean {
  return READ_OPS.has(call.op);
}

/**
 * The local cloud's heartbeat stand-in (local/heartbeats.ts) refreshes `lastHeartbeatAt` on each live
 * host every second. That is standing detection traffic, not work of an evacuation: it is counted apart.
 */
export function isHeartbeatLeaseWrite(call: DynamoCall): boolean {
  if (call.op !== "UpdateItem") return false;
  const body = JSON.parse(call.body) as {
    TableName?: string;
    ExpressionAttributeNames?: Record<string, string>;
  };
  if (!body.TableName?.endsWith("-hosts")) return false;
  const names = Object.values(body.ExpressionAttributeNames ?? {});
  return (
    names.includes("lastHeartbeatAt") &&
    names.every((n) => ["lastHeartbeatAt", "version", "name"].includes(n))
  );
}

/** The DynamoDB table a call names (the first one, for batches). */
export function dynamoTable(call: DynamoCall): string {
  const body = JSON.parse(call.body) as {
    TableName?: string;
    RequestItems?: Record<string, unknown>;
    TransactItems?: Record<string, { TableName?: string }>[];
  };
  if (body.TableName) return body.TableName;
  const batch = Object.keys(body.RequestItems ?? {})[0];
  if (batch) return batch;
  const first = body.TransactItems?.[0];
  return (first && Object.values(first)[0]?.TableName) ?? "?";
}

export interface EvacuationCounts {
  stateTransitions: number;
  lambdaInvocations: number;
  /** Seconds the Lambda invocations ran, summed (measured locally: an upper bound for AWS). */
  lambdaSeconds: number;
  ssmCommands: number;
  dynamoWriteUnits: number;
  dynamoReadCalls: number;
  eventBridgeEvents: number;
}

/** USD, itemised, for the given counts (per instance when the counts are per instance). */
export function priceOf(c: EvacuationCounts) {
  const stepFunctions = c.stateTransitions * PRICES.stepFunctionsPerTransition;
  const lambdaRequests = c.lambdaInvocations * PRICES.lambdaPerRequest;
  const lambdaDuration = c.lambdaSeconds * PRICES.lambdaMemoryGb * PRICES.lambdaPerGbSecondArm;
  const dynamo =
    c.dynamoWriteUnits * PRICES.dynamoPerWriteUnit + c.dynamoReadCalls * PRICES.dynamoPerReadUnit;
  const ssm = c.ssmCommands * PRICES.ssmPerCommand;
  const events = c.eventBridgeEvents * PRICES.eventBridgePerEvent;
  return {
    stepFunctions,
    lambdaRequests,
    lambdaDuration,
    dynamo,
    ssm,
    events,
    total: stepFunctions + lambdaRequests + lambdaDuration + dynamo + ssm + events,
  };
}

export interface DetectionSettings {
  /** How often a host sends its heartbeat, seconds. */
  heartbeatIntervalSeconds: number;
  /** "emf": an embedded-metric-format log line (CloudWatch Logs); "put-metric-data": one API call each. */
  transport: "emf" | "put-metric-data";
  /** Bytes of one EMF log line (CloudWatch Logs bills each event's size plus 26 bytes). */
  emfLineBytes: number;
  /** Days the heartbeat log lines are kept (the stack's log retention). */
  logRetentionDays: number;
  /** DynamoDB writes per host and heartbeat interval that keep a liveness lease (0: the stack writes none). */
  leaseWritesPerHeartbeat: number;
}

/** Standing cost of watching one host for a month: metric, alarm, heartbeat calls or log lines, lease writes. */
export function detectionCostPerHostMonth(s: DetectionSettings) {
  const beats = (HOURS_PER_MONTH * 3600) / s.heartbeatIntervalSeconds;
  const metric = PRICES.cloudWatchMetricMonth;
  const alarm = PRICES.cloudWatchHighResAlarmMonth;
  const gb = (beats * (s.emfLineBytes + 26)) / 1e9;
  // Kept for logRetentionDays: on average that many days' worth of lines is stored.
  const storedGb = gb * Math.min(1, s.logRetentionDays / 30);
  const calls =
    s.transport === "emf"
      ? gb * PRICES.logsIngestPerGb + storedGb * PRICES.logsStoragePerGbMonth
      : beats * PRICES.cloudWatchPerPutMetricData;
  const leases = beats * s.leaseWritesPerHeartbeat * PRICES.dynamoPerWriteUnit;
  return { beatsPerMonth: beats, metric, alarm, calls, leases, total: metric + alarm + calls + leases };
}

/** DynamoDB's size of one attribute value in its wire form (AWS docs, "DynamoDB item sizes and formats"). */
function valueBytes(v: Record<string, unknown>): number {
  if (typeof v.S === "string") return Buffer.byteLength(v.S);
  if (typeof v.N === "string")
    return Math.ceil(v.N.replace(/^-|\.|e.*$/gi, "").replace(/^0+/, "").length / 2) + 1;
  if (typeof v.B === "string") return Buffer.from(v.B, "base64").length;
  if (v.BOOL !== undefined || v.NULL !== undefined) return 1;
  if (v.M && typeof v.M === "object")
    return 3 + itemBytes(v.M as Record<string, Record<string, unknown>>) + Object.keys(v.M).length;
  if (Array.isArray(v.L))
    return 3 + (v.L as Record<string, unknown>[]).reduce((n, e) => n + valueBytes(e) + 1, 0);
  if (Array.isArray(v.SS)) return (v.SS as string[]).reduce((n, e) => n + Buffer.byteLength(e), 0);
  if (Array.isArray(v.NS)) return (v.NS as string[]).reduce((n, e) => n + Math.ceil(e.length / 2) + 1, 0);
  return 0;
}

/** An item's size as DynamoDB bills it: every attribute's name and value. */
export function itemBytes(item: Record<string, Record<string, unknown>>): number {
  let n = 0;
  for (const [name, v] of Object.entries(item)) n += Buffer.byteLength(name) + valueBytes(v);
  return n;
}

/** What one DynamoDB call read and wrote, and the capacity units it used, from its request and answer. */
export interface DynamoUsage {
  itemsRead: number;
  itemsWritten: number;
  readUnits: number;
  writeUnits: number;
}

const parse = (text: string | undefined): Record<string, unknown> => {
  try {
    return text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    return {};
  }
};

/**
 * Items and capacity units of one call, as on-demand DynamoDB bills them: a read unit per 4 KB of each item
 * read by key (half for an eventually consistent read; at least one half-unit even when nothing is found),
 * a Query or Scan per 4 KB of all it read; a write unit per 1 KB of the item written (its new image, from
 * the answer; a refused conditional write bills the item it was checked against), two for a transaction.
 */
export function dynamoUsage(call: DynamoCall & { response?: string }): DynamoUsage {
  const body = parse(call.body);
  const answer = parse(call.response);
  const strong = body.ConsistentRead === true;
  const readUnits = (bytes: number) => Math.max(1, Math.ceil(bytes / 4096)) * (strong ? 1 : 0.5);
  const writeUnits = (bytes: number) => Math.max(1, Math.ceil(bytes / 1024));
  const item = (x: unknown) =>
    x && typeof x === "object" ? itemBytes(x as Record<string, Record<string, unknown>>) : 0;
  const none = { itemsRead: 0, itemsWritten: 0, readUnits: 0, writeUnits: 0 };
  switch (call.op) {
    case "GetItem":
      return { ...none, itemsRead: answer.Item ? 1 : 0, readUnits: readUnits(item(answer.Item)) };
    case "BatchGetItem": {
      const responses = Object.values((answer.Responses ?? {}) as Record<string, unknown[]>).flat();
      const keys = Object.values((body.RequestItems ?? {}) as Record<string, { ConsistentRead?: boolean }>);
      const strongBatch = keys.some((k) => k.ConsistentRead === true);
      const units = responses.reduce<number>(
        (n, i) => n + Math.max(1, Math.ceil(item(i) / 4096)) * (strongBatch ? 1 : 0.5),
        0,
      );
      return { ...none, itemsRead: responses.length, readUnits: units };
    }
    case "Query":
    case "Scan": {
      const items = (answer.Items ?? []) as unknown[];
      const bytes = items.reduce<number>((n, i) => n + item(i), 0);
      const scanned = typeof answer.ScannedCount === "number" ? answer.ScannedCount : items.length;
      return { ...none, itemsRead: scanned, readUnits: readUnits(bytes) };
    }
    case "PutItem":
      return { ...none, itemsWritten: 1, writeUnits: writeUnits(item(body.Item)) };
    case "UpdateItem":
    case "DeleteItem": {
      // The stores ask for ALL_NEW (or ALL_OLD on a refusal): the item's size is in the answer.
      const image = answer.Attributes ?? answer.Item;
      return { ...none, itemsWritten: 1, writeUnits: writeUnits(item(image)) };
    }
    case "BatchWriteItem": {
      const requests = Object.values(
        (body.RequestItems ?? {}) as Record<string, { PutRequest?: { Item?: unknown } }[]>,
      ).flat();
      return {
        ...none,
        itemsWritten: requests.length,
        writeUnits: requests.reduce((n, r) => n + writeUnits(item(r.PutRequest?.Item)), 0),
      };
    }
    case "TransactWriteItems": {
      const n = ((body.TransactItems ?? []) as unknown[]).length;
      return { ...none, itemsWritten: n, writeUnits: 2 * n };
    }
    default:
      return none;
  }
}

/** The sums of `dynamoUsage` over calls. */
export function sumDynamoUsage(calls: readonly (DynamoCall & { response?: string })[]): DynamoUsage {
  const out = { itemsRead: 0, itemsWritten: 0, readUnits: 0, writeUnits: 0 };
  for (const c of calls) {
    const u = dynamoUsage(c);
    out.itemsRead += u.itemsRead;
    out.itemsWritten += u.itemsWritten;
    out.readUnits += u.readUnits;
    out.writeUnits += u.writeUnits;
  }
  return out;
}
