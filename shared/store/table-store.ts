/** What every store shares: its client, its table, its clock, reads by key, and create-if-absent. */
import { isDeepStrictEqual } from "node:util";
import {
  BatchWriteCommand,
  DeleteCommand,
  type DynamoDBDocumentClient,
  PutCommand,
  UpdateCommand,
  type UpdateCommandInput,
} from "@aws-sdk/lib-dynamodb";
import type { z } from "zod";
import { ConcurrentUpdate } from "../domain/errors.js";
import {
  getItem,
  type Item,
  isConditionalCheckFailed,
  itemAtFailure,
  MAX_WRITE_ATTEMPTS,
  parseInput,
  parseStored,
  queryAll,
  type StoreDeps,
} from "./dynamo-util.js";
import { RecordExists } from "./store-errors.js";
import { TABLE_SPECS, type TableId } from "./tables.js";

/** The UpdateItem a change sends (the store adds table, key and return values), and what it makes. */
export type ConditionalUpdate<T> = Omit<
  UpdateCommandInput,
  "TableName" | "Key" | "ReturnValues" | "ReturnValuesOnConditionCheckFailure"
> & {
  /** The record the write makes: if a refused retry finds exactly it, the write was ours. */
  expectedResult?: T;
};

/** Whether the SDK sent the refused request more than once (its retries after a lost or failed answer). */
function sentAgain(e: unknown): boolean {
  return ((e as { $metadata?: { attempts?: number } }).$metadata?.attempts ?? 1) > 1;
}

export abstract class TableStore {
  protected readonly doc: DynamoDBDocumentClient;
  protected readonly table: string;
  protected readonly now: () => Date;

  /** The table's partition key attribute, from its spec (shared/store/tables.ts). */
  private readonly keyName: string;

  protected constructor(deps: StoreDeps, id: TableId) {
    this.keyName = TABLE_SPECS[id].partitionKey.name;
    this.doc = deps.doc;
    this.table = deps.tables[id];
    this.now = deps.now ?? (() => new Date());
  }

  /** The DynamoDB key of the item whose partition key is `value` (the key's name is the spec's). */
  protected keyOf(value: string): Record<string, string> {
    return { [this.keyName]: value };
  }

  /** Consistent read of the item whose partition key is `key`. */
  protected read(key: string): Promise<Item | undefined> {
    return getItem(this.doc, this.table, this.keyOf(key));
  }

  /**
   * Every record whose `attribute` is `value`, through the global index `indexName`, parsed with `schema`,
   * in the index's sort-key order (oldest first where it sorts on a time). Eventually consistent in AWS:
   * re-read by key before deciding anything that matters.
   */
  protected async queryIndex<S extends z.ZodType>(
    schema: S,
    what: string,
    indexName: string,
    attribute: string,
    value: string,
  ): Promise<z.output<S>[]> {
    const items = await queryAll(this.doc, {
      TableName: this.table,
      IndexName: indexName,
      KeyConditionExpression: "#k = :k",
      ExpressionAttributeNames: { "#k": attribute },
      ExpressionAttributeValues: { ":k": value },
    });
    return items.map((i) => parseStored(schema, i, what));
  }

  /** The record under `key`, parsed with `schema`, or null. */
  protected async getParsed<S extends z.ZodType>(
    schema: S,
    key: string,
    what: string,
  ): Promise<z.output<S> | null> {
    const item = await this.read(key);
    return item ? parseStored(schema, item, what) : null;
  }

  /** The record under `key`, or the store's own not-found error. */
  protected async requireParsed<S extends z.ZodType>(
    schema: S,
    key: string,
    what: string,
    notFound: () => Error,
  ): Promise<z.output<S>> {
    const record = await this.getParsed(schema, key, what);
    if (record === null) throw notFound();
    return record;
  }

  /**
   * The read-decide-write loop every conditional change shares. `decide` looks at the current record and
   * returns null (nothing to do: the record is returned as it is), or the UpdateItem to send, whose
   * ConditionExpression holds only while the record is the one decided on; it may throw to refuse. On a
   * lost race the item the write saw (ALL_OLD, else a consistent read) is decided on again; after
   * MAX_WRITE_ATTEMPTS the change gives up with ConcurrentUpdate (which the state machines retry).
   */
  protected async change<T>(opts: {
    key: string;
    /** For messages, e.g. "port 1234". */
    what: string;
    current: T;
    parse: (item: Item) => T;
    notFound: () => Error;
    decide: (current: T, attempt: number) => ConditionalUpdate<T> | null;
    /** The details of the ConcurrentUpdate thrown when the change gives up (default `{ key }`). */
    details?: Record<string, unknown>;
  }): Promise<T> {
    let current = opts.current;
    for (let attempt = 1; ; attempt++) {
      const update = opts.decide(current, attempt);
      if (update === null) return current;
      if (attempt > MAX_WRITE_ATTEMPTS) {
        throw new ConcurrentUpdate(
          `${opts.what} kept changing; gave up after ${MAX_WRITE_ATTEMPTS} attempts`,
          opts.details ?? { key: opts.key },
        );
      }
      const { expectedResult, ...input } = update;
      try {
        const out = await this.doc.send(
          new UpdateCommand({
            ...input,
            TableName: this.table,
            Key: this.keyOf(opts.key),
            ReturnValues: "ALL_NEW",
            ReturnValuesOnConditionCheckFailure: "ALL_OLD",
          }),
        );
        return opts.parse(out.Attributes ?? {});
      } catch (e) {
        if (!isConditionalCheckFailed(e)) throw e;
        const old = await itemAtFailure(e, () => this.read(opts.key));
        if (!old) throw opts.notFound();
        current = opts.parse(old);
        // Our own write, already applied: its answer was lost (a 5xx) and the SDK sent it again, and the
        // repeat failed its condition against our own write. Only a write the SDK sent more than once can
        // be that: a refusal at the first attempt is another writer's, even one that wrote the same record
        // in the same millisecond (two takers without an owner would otherwise both win).
        if (expectedResult !== undefined && sentAgain(e) && isDeepStrictEqual(current, expectedResult)) {
          return current;
        }
      }
    }
  }

  /**
   * Puts `record` unless an item with its partition key exists. Refused, it answers with the item that was
   * there: the one the refused write saw, else a consistent read (undefined if that finds it gone again).
   */
  protected async putIfAbsent(
    record: Item,
  ): Promise<{ written: true } | { written: false; existing?: Item }> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: record,
          ConditionExpression: "attribute_not_exists(#k)",
          ExpressionAttributeNames: { "#k": this.keyName },
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
        }),
      );
      return { written: true };
    } catch (e) {
      if (!isConditionalCheckFailed(e)) throw e;
      const existing = await itemAtFailure(e, () => this.read(String(record[this.keyName])));
      return existing ? { written: false, existing } : { written: false };
    }
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
    toItem: (record: z.output<S>) => Item = (record) => record as Item,
  ): Promise<z.output<S>> {
    const record = parseInput(schema, value, what);
    const put = await this.putIfAbsent(toItem(record));
    if (put.written || (put.existing && isDeepStrictEqual(parseStored(schema, put.existing, what), record)))
      return record;
    const key = String((record as Item)[this.keyName]);
    throw new RecordExists(`${what} ${key} already exists`, { [detailsKey]: key });
  }
}

/** What a store of one kind of record says once: its schema, its noun in messages, its not-found error. */
export interface RecordKind<S extends z.ZodType> {
  schema: S;
  /** e.g. "instance": messages say "instance <key>". */
  what: string;
  notFound: (key: string) => Error;
}

/** A table of one kind of record: reads by key and conditional changes, stated once for every store. */
export abstract class RecordStore<S extends z.ZodType> extends TableStore {
  protected constructor(
    deps: StoreDeps,
    id: TableId,
    protected readonly kind: RecordKind<S>,
  ) {
    super(deps, id);
  }

  /** The record under `key`, or null (a consistent read). */
  get(key: string): Promise<z.output<S> | null> {
    return this.getParsed(this.kind.schema, key, this.kind.what);
  }

  /** The record under `key`, or the store's not-found error. */
  require(key: string): Promise<z.output<S>> {
    return this.requireParsed(this.kind.schema, key, this.kind.what, () => this.kind.notFound(key));
  }

  /** Creates or replaces a record as given (seeding, tools, and records only their one writer changes). */
  async put(value: z.input<S>): Promise<z.output<S>> {
    const record = parseInput(this.kind.schema, value, this.kind.what);
    await this.doc.send(new PutCommand({ TableName: this.table, Item: this.toItem(record) }));
    return record;
  }

  /**
   * Creates or replaces many records as given, 25 to a BatchWriteItem (tools seeding a large fleet). Nothing
   * is conditional and nothing else follows them (the hosts store's fleet count is not moved: for records
   * the store already counted, or a tool's own bookkeeping).
   */
  async putMany(values: readonly z.input<S>[]): Promise<void> {
    const items = values.map((v) => this.toItem(parseInput(this.kind.schema, v, this.kind.what)));
    for (let i = 0; i < items.length; i += 25) {
      let requests: Record<string, unknown>[] = items
        .slice(i, i + 25)
        .map((Item) => ({ PutRequest: { Item } }));
      for (let attempt = 0; requests.length > 0; attempt++) {
        const out = await this.doc.send(new BatchWriteCommand({ RequestItems: { [this.table]: requests } }));
        requests = (out.UnprocessedItems?.[this.table] ?? []) as Record<string, unknown>[];
        if (requests.length > 0) await new Promise((r) => setTimeout(r, Math.min(1000, 25 * 2 ** attempt)));
      }
    }
  }

  /**
   * Deletes the record under `key` if `keep` (a function of the record read) says it may go; absent is a
   * success (a retried delete). Conditional on the version read: a record changed meanwhile is read again.
   */
  async deleteIf(key: string, mayGo: (current: z.output<S>) => void = () => {}): Promise<void> {
    for (let attempt = 1; attempt <= MAX_WRITE_ATTEMPTS; attempt++) {
      const current = await this.get(key);
      if (current === null) return;
      mayGo(current); // throws to refuse
      try {
        await this.doc.send(
          new DeleteCommand({
            TableName: this.table,
            Key: this.keyOf(key),
            ConditionExpression: "#v = :v",
            ExpressionAttributeNames: { "#v": "version" },
            ExpressionAttributeValues: { ":v": (current as { version: number }).version },
          }),
        );
        return;
      } catch (e) {
        if (!isConditionalCheckFailed(e)) throw e;
      }
    }
    throw new ConcurrentUpdate(`${this.kind.what} ${key} kept changing; gave up deleting it`, { key });
  }

  /** The item a record is stored as (a store whose index key may be null leaves that attribute out). */
  protected toItem(record: z.output<S>): Item {
    return record as Item;
  }

  /** A stored item read back as this store's record. */
  protected parse(item: Item): z.output<S> {
    return parseStored(this.kind.schema, item, this.kind.what);
  }

  /**
   * `change` on the current record under `key` (see TableStore.change for the loop): read first, unless the
   * caller passes the record as it `known` it (read or written earlier in the same step). A `known` record
   * that is no longer current costs nothing but a refused write: the write is conditional on its version,
   * and the refusal answers with the item as it is, which is decided on again.
   */
  protected async changeRecord(
    key: string,
    decide: (current: z.output<S>, attempt: number) => ConditionalUpdate<z.output<S>> | null,
    details?: Record<string, unknown>,
    known?: z.output<S>,
  ): Promise<z.output<S>> {
    return this.change({
      key,
      what: `${this.kind.what} ${key}`,
      current: known ?? (await this.require(key)),
      parse: (item) => this.parse(item),
      notFound: () => this.kind.notFound(key),
      decide,
      ...(details ? { details } : {}),
    });
  }
}
