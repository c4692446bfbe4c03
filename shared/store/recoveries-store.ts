/**
 * Instance recoveries (table `recoveries`, shared/domain/instance-failure.ts): one record per crash, keyed
 * by the id derived from the crash, so that opening it is the conditional write that lets one delivery of
 * a crash report recover the instance and every other delivery find it open. Changes are conditional on
 * the version read (a lost race re-reads and re-applies).
 */
import { PutCommand } from "@aws-sdk/lib-dynamodb";
import type { z } from "zod";
import { ConcurrentUpdate } from "../domain/errors.js";
import { Recovery } from "../domain/schemas.js";
import {
  isConditionalCheckFailed,
  itemAtFailure,
  MAX_WRITE_ATTEMPTS,
  parseInput,
  parseStored,
  type StoreDeps,
} from "./dynamo-util.js";
import { TableStore } from "./table-store.js";
import { INDEX } from "./tables.js";

export type RecoveryOpening = Omit<z.input<typeof Recovery>, "updatedAt" | "version">;

export class RecoveriesStore extends TableStore {
  constructor(deps: StoreDeps) {
    super(deps, "recoveries");
  }

  /** Create the recovery unless one with its id exists: `{opened: false}` returns the existing one. */
  async open(recovery: RecoveryOpening): Promise<{ opened: boolean; recovery: Recovery }> {
    const record = parseInput(
      Recovery,
      { ...recovery, updatedAt: this.now().toISOString(), version: 0 },
      "recovery",
    );
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: record,
          ConditionExpression: "attribute_not_exists(#id)",
          ExpressionAttributeNames: { "#id": "id" },
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
        }),
      );
      return { opened: true, recovery: record };
    } catch (e) {
      if (!isConditionalCheckFailed(e)) throw e;
      const old = await itemAtFailure(e, () => this.read(record.id));
      if (!old) throw e;
      return { opened: false, recovery: parseStored(Recovery, old, "recovery") };
    }
  }

  async get(id: string): Promise<Recovery | null> {
    const item = await this.read(id);
    return item ? parseStored(Recovery, item, "recovery") : null;
  }

  async require(id: string): Promise<Recovery> {
    const r = await this.get(id);
    if (!r) throw new ConcurrentUpdate(`recovery ${id} does not exist`, { recoveryId: id });
    return r;
  }

  /**
   * Apply `change` to the current record and write it conditionally on its version; a lost race re-reads
   * and applies `change` again (it must be a function of the record, e.g. "append this attempt unless there").
   */
  async update(id: string, change: (current: Recovery) => Partial<Recovery>): Promise<Recovery> {
    let current = await this.require(id);
    for (let attempt = 1; attempt <= MAX_WRITE_ATTEMPTS; attempt++) {
      const next = parseInput(
        Recovery,
        {
          ...current,
          ...change(current),
          id,
          updatedAt: this.now().toISOString(),
          version: current.version + 1,
        },
        "recovery",
      );
      try {
        await this.doc.send(
          new PutCommand({
            TableName: this.table,
            Item: next,
            ConditionExpression: "#v = :v",
            ExpressionAttributeNames: { "#v": "version" },
            ExpressionAttributeValues: { ":v": current.version },
            ReturnValuesOnConditionCheckFailure: "ALL_OLD",
          }),
        );
        return next;
      } catch (e) {
        if (!isConditionalCheckFailed(e)) throw e;
        const old = await itemAtFailure(e, () => this.read(id));
        if (!old) throw e;
        current = parseStored(Recovery, old, "recovery");
      }
    }
    throw new ConcurrentUpdate(`recovery ${id} kept changing`, { recoveryId: id });
  }

  /** An instance's recoveries, oldest first (GSI by-instance on detectedAt). */
  listByInstance(instanceUuid: string): Promise<Recovery[]> {
    return this.queryIndex(Recovery, "recovery", INDEX.recoveriesByInstance, "instanceUuid", instanceUuid);
  }

  /** A host's crash reports, oldest first (GSI by-host on detectedAt): the storm guard counts them. */
  listByHost(host: string): Promise<Recovery[]> {
    return this.queryIndex(Recovery, "recovery", INDEX.recoveriesByHost, "host", host);
  }
}
