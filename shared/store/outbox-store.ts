/**
 * Notifications that could not be published when their step made its change. The step records them here
 * and goes on (a notification never fails or rolls back a step whose change is made); the sweeper
 * publishes them later and deletes them. Ids are the notifications' own deterministic ids, so recording
 * one twice (a retried step) keeps one record.
 */
import { DeleteCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import { z } from "zod";
import { IsoTime, Uuid } from "../domain/values.js";
import { parseInput, parseStored, type StoreDeps, scanAll } from "./dynamo-util.js";
import { TableStore } from "./table-store.js";

export const PendingNotification = z.object({
  id: Uuid,
  eventType: z.string().min(1),
  instanceUuid: Uuid,
  payload: z.record(z.string(), z.unknown()),
  lastError: z.string(),
  recordedAt: IsoTime,
});
export type PendingNotification = z.infer<typeof PendingNotification>;

export class OutboxStore extends TableStore {
  constructor(deps: StoreDeps) {
    super(deps, "outbox");
  }

  async record(pending: Omit<PendingNotification, "recordedAt">): Promise<PendingNotification> {
    const item = parseInput(
      PendingNotification,
      { ...pending, recordedAt: this.now().toISOString() },
      "pending notification",
    );
    await this.doc.send(new PutCommand({ TableName: this.table, Item: item }));
    return item;
  }

  async list(): Promise<PendingNotification[]> {
    const items = await scanAll(this.doc, { TableName: this.table, ConsistentRead: true });
    return items
      .map((i) => parseStored(PendingNotification, i, "pending notification"))
      .sort((a, b) => a.recordedAt.localeCompare(b.recordedAt));
  }

  async remove(id: string): Promise<void> {
    await this.doc.send(new DeleteCommand({ TableName: this.table, Key: this.keyOf(id) }));
  }
}
