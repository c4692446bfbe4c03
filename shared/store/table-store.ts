/** What every store shares: its client, its table, its clock, reads by key, and create-if-absent. */
import { isDeepStrictEqual } from "node:util";
import { type DynamoDBDocumentClient, PutCommand } from "@aws-sdk/lib-dynamodb";
import type { z } from "zod";
import {
  getItem,
  type Item,
  isConditionalCheckFailed,
  itemAtFailure,
  parseInput,
  parseStored,
  type StoreDeps,
} from "./dynamo-util.js";
import { RecordExists } from "./store-errors.js";
import type { TableId } from "./tables.js";

export abstract class TableStore {
  protected readonly doc: DynamoDBDocumentClient;
  protected readonly table: string;
  protected readonly now: () => Date;

  protected constructor(
    deps: StoreDeps,
    id: TableId,
    /** The table's partition key attribute. */
    private readonly keyName: string,
  ) {
    this.doc = deps.doc;
    this.table = deps.tables[id];
    this.now = deps.now ?? (() => new Date());
  }

  /** Consistent read of the item whose partition key is `key`. */
  protected read(key: string): Promise<Item | undefined> {
    return getItem(this.doc, this.table, { [this.keyName]: key });
  }

  /**
   * Put if absent. Re-creating an identical record is a no-op (a retried step); a different record under
   * the same key is RecordExists, with `{ [detailsKey]: key }` as details.
   */
  protected async insert<S extends z.ZodType>(
    schema: S,
    value: unknown,
    what: string,
    detailsKey: string,
  ): Promise<z.output<S>> {
    const record = parseInput(schema, value, what);
    const key = String((record as Item)[this.keyName]);
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: record as Item,
          ConditionExpression: "attribute_not_exists(#k)",
          ExpressionAttributeNames: { "#k": this.keyName },
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
        }),
      );
      return record;
    } catch (e) {
      if (!isConditionalCheckFailed(e)) throw e;
      const old = await itemAtFailure(e, () => this.read(key));
      if (old && isDeepStrictEqual(parseStored(schema, old, what), record)) return record;
      throw new RecordExists(`${what} ${key} already exists`, { [detailsKey]: key });
    }
  }
}
