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
import type { Server } from "node:http";
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

export interface DynamoServer {
  /** `http://127.0.0.1:<port>`: give it to the SDK as `endpoint` or `AWS_ENDPOINT_URL_DYNAMODB`. */
  endpoint: string;
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
  const { port } = await listenOnLoopback(server, options.port);
  let closing: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close() {
      closing ??= closeServer(server);
      return closing;
    },
  };
}
