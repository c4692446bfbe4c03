/** Instance faults (nova's instance_faults): append-only, newest first. */
import { randomUUID } from "node:crypto";
import { PutCommand } from "@aws-sdk/lib-dynamodb";
import type { z } from "zod";
import { InstanceFault } from "../domain/schemas.js";
import { Uuid } from "../domain/values.js";
import { parseInput, parseStored, queryAll, type StoreDeps } from "./dynamo-util.js";
import { TableStore } from "./table-store.js";

/** A fault to record; `createdAt` defaults to now, `details` to {}. */
export type FaultInput = Omit<z.input<typeof InstanceFault>, "createdAt"> & { createdAt?: string };

export class FaultsStore extends TableStore {
  constructor(deps: StoreDeps) {
    super(deps, "faults");
  }

  /** Append a fault; the sort key is `<createdAt>#<random>` so faults of one instant never collide. */
  async record(instanceUuid: string, fault: FaultInput): Promise<InstanceFault> {
    const uuid = parseInput(Uuid, instanceUuid, "instance uuid");
    const record = parseInput(
      InstanceFault,
      { ...fault, createdAt: fault.createdAt ?? this.now().toISOString() },
      "instance fault",
    );
    const faultKey = `${record.createdAt}#${randomUUID().slice(0, 8)}`;
    await this.doc.send(
      new PutCommand({
        TableName: this.table,
        Item: { ...record, instanceUuid: uuid, faultKey },
        ConditionExpression: "attribute_not_exists(#k)",
        ExpressionAttributeNames: { "#k": "faultKey" },
      }),
    );
    return record;
  }

  /** An instance's faults, newest first. */
  async list(instanceUuid: string): Promise<InstanceFault[]> {
    const items = await queryAll(this.doc, {
      TableName: this.table,
      KeyConditionExpression: "#u = :u",
      ExpressionAttributeNames: { "#u": "instanceUuid" },
      ExpressionAttributeValues: { ":u": instanceUuid },
      ScanIndexForward: false,
      ConsistentRead: true,
    });
    return items.map((i) => parseStored(InstanceFault, i, "instance fault"));
  }
}
