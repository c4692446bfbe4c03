/**
 * DynamoDB on the developer's machine: dynalite (a DynamoDB-API server on LevelDB) in-process, in
 * memory, on a loopback port. The real AWS SDK talks to it over HTTP, exactly as it talks to AWS.
 *
 * One gap is closed here: dynalite ignores `ReturnValuesOnConditionCheckFailure`, which the data
 * layer uses to explain a refused conditional write without a second read. The patch below makes
 * dynalite accept the parameter and, for `ALL_OLD`, put the item it checked the condition against
 * (read under the same per-item lock, so atomically) into the `ConditionalCheckFailedException`,
 * as DynamoDB does. The stores still fall back to a consistent read when the item is missing.
 */
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { createRequire } from "node:module";
import { closeServer, listenOnLoopback } from "../http/loopback.js";

const require = createRequire(import.meta.url);

interface DynaliteOptions {
  createTableMs?: number;
  deleteTableMs?: number;
  updateTableMs?: number;
  path?: string;
}
type Dynalite = (options?: DynaliteOptions) => Server;

interface ConditionalError extends Error {
  statusCode?: number;
  body?: Record<string, unknown>;
}
interface DynaliteDb {
  checkConditional: (
    data: Record<string, unknown>,
    existingItem: unknown,
  ) => ConditionalError | null | undefined;
  __lazarusAllOldPatch?: true;
}
interface DynaliteValidation {
  types: Record<string, unknown>;
}

let patched = false;

/** Teach dynalite `ReturnValuesOnConditionCheckFailure: "ALL_OLD"` (idempotent, process-wide). */
function patchReturnValuesOnConditionCheckFailure(): void {
  if (patched) return;
  const db = require("dynalite/db") as DynaliteDb;
  if (!db.__lazarusAllOldPatch) {
    for (const action of ["putItem", "updateItem", "deleteItem"]) {
      const validation = require(`dynalite/validations/${action}`) as DynaliteValidation;
      validation.types.ReturnValuesOnConditionCheckFailure = { type: "String", enum: ["ALL_OLD", "NONE"] };
    }
    const original = db.checkConditional;
    db.checkConditional = (data, existingItem) => {
      const err = original(data, existingItem);
      if (err?.body && existingItem && data.ReturnValuesOnConditionCheckFailure === "ALL_OLD") {
        err.body.Item = existingItem;
      }
      return err;
    };
    db.__lazarusAllOldPatch = true;
  }
  patched = true;
}

/** One DynamoDB API call as `onOperation` listeners see it, once it has been answered. */
export interface DynamoOperation {
  /** The operation (`PutItem`, `UpdateItem`, `Query`, `TransactWriteItems`, ...). */
  op: string;
  /** The request body as the SDK sent it (JSON text). */
  body: string;
  /** HTTP status of the answer (400 for a failed condition, which DynamoDB still bills as a write). */
  status: number;
  /** The answer's body (JSON text): the items read, the item a write returned. */
  response: string;
  at: number;
}

export interface DynamoServer {
  /** `http://127.0.0.1:<port>`: give it to the SDK as `endpoint` or `AWS_ENDPOINT_URL_DYNAMODB`. */
  endpoint: string;
  /**
   * Calls `listener` for every API call answered from now on (benchmarks count writes with it).
   * Returns an unsubscribe function. Without listeners nothing is recorded.
   */
  onOperation(listener: (operation: DynamoOperation) => void): () => void;
  close(): Promise<void>;
}

export interface DynamoServerOptions {
  /** 0 (default) picks a free port. */
  port?: number;
}

/** Start an in-memory dynalite on 127.0.0.1; tables become ACTIVE at once. */
export async function startDynamoServer(options: DynamoServerOptions = {}): Promise<DynamoServer> {
  patchReturnValuesOnConditionCheckFailure();
  const dynalite = require("dynalite") as Dynalite;
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  // Counting at the HTTP layer: a listener placed before dynalite's own reads the same body chunks.
  const listeners = new Set<(operation: DynamoOperation) => void>();
  let active = 0;
  server.prependListener("request", (req: IncomingMessage, res: ServerResponse) => {
    active++;
    res.on("close", () => active--);
    if (listeners.size === 0) return;
    const op = String(req.headers["x-amz-target"] ?? "").replace(/^DynamoDB_\d+\./, "");
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    const answer: Buffer[] = [];
    const keep = (chunk: unknown) => {
      if (typeof chunk === "string") answer.push(Buffer.from(chunk));
      else if (chunk instanceof Uint8Array) answer.push(Buffer.from(chunk));
    };
    const write = res.write.bind(res) as (...a: unknown[]) => boolean;
    const end = res.end.bind(res) as (...a: unknown[]) => ServerResponse;
    res.write = ((chunk: unknown, ...rest: unknown[]) => {
      keep(chunk);
      return write(chunk, ...rest);
    }) as typeof res.write;
    res.end = ((chunk?: unknown, ...rest: unknown[]) => {
      if (typeof chunk !== "function") keep(chunk);
      return end(chunk, ...rest);
    }) as typeof res.end;
    res.on("finish", () => {
      const operation = {
        op,
        body: Buffer.concat(chunks).toString("utf8"),
        status: res.statusCode,
        response: Buffer.concat(answer).toString("utf8"),
        at: Date.now(),
      };
      for (const listener of listeners) {
        try {
          listener(operation);
        } catch {
          // a listener's failure must not reach the server
        }
      }
    });
  });
  const { port } = await listenOnLoopback(server, options.port);
  let closing: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    onOperation(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close() {
      // Cutting a request still being answered would fail it inside dynalite, which closes its database when
      // the server closes ("Database is closed", uncaught): the requests in flight are answered first.
      closing ??= closeServer(server, { drain: { inFlight: () => active, maxMs: 5000 } });
      return closing;
    },
  };
}
