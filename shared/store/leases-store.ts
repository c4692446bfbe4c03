/**
 * Leases that keep two runs of one scheduled function apart (EventBridge delivers a timer's event at least
 * once, and a run may outlast its period). A run takes the lease with a conditional put that succeeds only
 * when no lease is there or the one there has expired; it gives it back with a delete conditional on being
 * its holder. A run that crashed or was stopped frees it when it expires: `expiresAt` is set to when no
 * invocation of that run can still be running (shared/definitions/timeouts.ts `scheduleLeaseSeconds`).
 */
import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import { DeleteCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import { z } from "zod";
import { IsoTime } from "../domain/values.js";
import { fromAttributeMap, isConditionalCheckFailed, parseStored, type StoreDeps } from "./dynamo-util.js";
import { TableStore } from "./table-store.js";

export const Lease = z.object({
  name: z.string().min(1).max(200),
  holder: z.string().min(1).max(200),
  takenAt: IsoTime,
  expiresAt: IsoTime,
  /** `expiresAt` in epoch seconds: the table's TTL attribute, and what the take's condition compares. */
  expiresAtEpoch: z.number().int().positive(),
});
export type Lease = z.infer<typeof Lease>;

export type LeaseTake = { taken: true; lease: Lease } | { taken: false; heldBy: Lease | null };

export class LeasesStore extends TableStore {
  constructor(deps: StoreDeps) {
    super(deps, "leases");
  }

  /** Takes the lease `name` for `seconds` unless another holder's lease has not expired. */
  async take(name: string, holder: string, seconds: number): Promise<LeaseTake> {
    const now = this.now();
    const expires = new Date(now.getTime() + seconds * 1000);
    const lease = Lease.parse({
      name,
      holder,
      takenAt: now.toISOString(),
      expiresAt: expires.toISOString(),
      expiresAtEpoch: Math.ceil(expires.getTime() / 1000),
    });
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: lease,
          ConditionExpression: "attribute_not_exists(#k) OR #e <= :now",
          ExpressionAttributeNames: { "#k": "name", "#e": "expiresAtEpoch" },
          ExpressionAttributeValues: { ":now": Math.floor(now.getTime() / 1000) },
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
        }),
      );
      return { taken: true, lease };
    } catch (e) {
      if (!isConditionalCheckFailed(e)) throw e;
      // The lease the refused put saw (ALL_OLD), to say who holds it; null if the server did not send it.
      const old = (e as { Item?: Record<string, AttributeValue> }).Item;
      return {
        taken: false,
        heldBy:
          old && Object.keys(old).length > 0 ? parseStored(Lease, fromAttributeMap(old), "lease") : null,
      };
    }
  }

  /** Gives the lease back, only if `holder` still holds it (an expired one taken over is not ours). */
  async release(name: string, holder: string): Promise<void> {
    try {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.table,
          Key: this.keyOf(name),
          ConditionExpression: "#h = :holder",
          ExpressionAttributeNames: { "#h": "holder" },
          ExpressionAttributeValues: { ":holder": holder },
        }),
      );
    } catch (e) {
      if (!isConditionalCheckFailed(e)) throw e;
    }
  }
}
