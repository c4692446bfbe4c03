/**
 * The API's idempotency records: one item per key, taken with a conditional put before the request runs
 * and completed with the answer. A retry with the same key gets the stored answer; a key whose holder
 * died (its lease ran out) may be taken over by a retry of the same request, which then reuses the
 * holder's `requestId`, so whatever the holder already started is found again, never started twice.
 * Expired items are ignored by reads (DynamoDB's TTL deletes them eventually, hours later).
 */
import { DeleteCommand, PutCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { z } from "zod";
import { isConditionalCheckFailed, itemAtFailure, parseStored, type StoreDeps } from "./dynamo-util.js";
import { TableStore } from "./table-store.js";

export const StoredResponse = z.object({
  status: z.number().int(),
  headers: z.record(z.string(), z.string()),
  body: z.string(),
});
export type StoredResponse = z.infer<typeof StoredResponse>;

export const IdempotencyRecord = z.object({
  key: z.string().min(1),
  /** Hash of what the request asked for: the same key with another request is refused. */
  requestHash: z.string(),
  /** The flow request id this request uses (migration id, execution name). */
  requestId: z.string(),
  state: z.enum(["in-progress", "done"]),
  response: StoredResponse.nullable(),
  /** Epoch ms until which an in-progress holder is presumed alive. */
  leaseUntil: z.number().int(),
  /** Epoch seconds (the table's TTL attribute). */
  expiresAt: z.number().int(),
});
export type IdempotencyRecord = z.infer<typeof IdempotencyRecord>;

export type BeginResult =
  | { kind: "started"; record: IdempotencyRecord }
  | { kind: "replay"; response: StoredResponse }
  | { kind: "in-progress" }
  | { kind: "mismatch" };

export class IdempotencyStore extends TableStore {
  constructor(deps: StoreDeps) {
    super(deps, "idempotency");
  }

  /**
   * Take `key` for a request. New (or expired) key: started with `requestId`. Held by a live request:
   * in-progress. Done with the same request: its answer. Used for another request: mismatch.
   */
  async begin(opts: {
    key: string;
    requestHash: string;
    requestId: string;
    ttlSeconds: number;
    leaseMs: number;
  }): Promise<BeginResult> {
    const nowMs = this.now().getTime();
    const fresh: IdempotencyRecord = {
      key: opts.key,
      requestHash: opts.requestHash,
      requestId: opts.requestId,
      state: "in-progress",
      response: null,
      leaseUntil: nowMs + opts.leaseMs,
      expiresAt: Math.ceil(nowMs / 1000) + opts.ttlSeconds,
    };
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await this.doc.send(
          new PutCommand({
            TableName: this.table,
            Item: fresh,
            ConditionExpression: "attribute_not_exists(#k) OR #e < :nowS",
            ExpressionAttributeNames: { "#k": "key", "#e": "expiresAt" },
            ExpressionAttributeValues: { ":nowS": Math.floor(nowMs / 1000) },
            ReturnValuesOnConditionCheckFailure: "ALL_OLD",
          }),
        );
        return { kind: "started", record: fresh };
      } catch (e) {
        if (!isConditionalCheckFailed(e)) throw e;
        const old = await itemAtFailure(e, () => this.read(opts.key));
        if (!old) continue; // deleted meanwhile (an abandoned request): try again
        const held = parseStored(IdempotencyRecord, old, "idempotency record");
        if (held.requestHash !== opts.requestHash) return { kind: "mismatch" };
        if (held.state === "done" && held.response) return { kind: "replay", response: held.response };
        if (held.leaseUntil > nowMs) return { kind: "in-progress" };
        // The holder's lease ran out: take the key over, keeping its request id.
        const taken = await this.takeOver(held, nowMs + opts.leaseMs);
        if (taken) return { kind: "started", record: taken };
      }
    }
    return { kind: "in-progress" };
  }

  private async takeOver(held: IdempotencyRecord, leaseUntil: number): Promise<IdempotencyRecord | null> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: this.keyOf(held.key),
          UpdateExpression: "SET #l = :new",
          ConditionExpression: "#s = :inProgress AND #l = :old",
          ExpressionAttributeNames: { "#l": "leaseUntil", "#s": "state" },
          ExpressionAttributeValues: {
            ":new": leaseUntil,
            ":old": held.leaseUntil,
            ":inProgress": "in-progress",
          },
        }),
      );
      return { ...held, leaseUntil };
    } catch (e) {
      if (isConditionalCheckFailed(e)) return null;
      throw e;
    }
  }

  /** Store the answer of the request that holds `key`. */
  async complete(key: string, requestId: string, response: StoredResponse): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: this.keyOf(key),
        UpdateExpression: "SET #s = :done, #r = :response",
        ConditionExpression: "#q = :requestId",
        ExpressionAttributeNames: { "#s": "state", "#r": "response", "#q": "requestId" },
        ExpressionAttributeValues: { ":done": "done", ":response": response, ":requestId": requestId },
      }),
    );
  }

  /** Give the key back (the request was refused and changed nothing): a retry is decided afresh. */
  async abandon(key: string, requestId: string): Promise<void> {
    try {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.table,
          Key: this.keyOf(key),
          ConditionExpression: "#q = :requestId AND #s = :inProgress",
          ExpressionAttributeNames: { "#q": "requestId", "#s": "state" },
          ExpressionAttributeValues: { ":requestId": requestId, ":inProgress": "in-progress" },
        }),
      );
    } catch (e) {
      if (!isConditionalCheckFailed(e)) throw e;
    }
  }
}
