/** Small helpers shared by the stores: validation, pagination, and reading the item a refused write saw. */
import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import {
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  type QueryCommandInput,
  ScanCommand,
  type ScanCommandInput,
} from "@aws-sdk/lib-dynamodb";
import type { z } from "zod";
import { InvalidInput } from "../domain/errors.js";
import { CorruptRecord } from "./store-errors.js";
import type { TableNames } from "./tables.js";

export type Item = Record<string, unknown>;

/** What every store is constructed with. */
export interface StoreDeps {
  doc: DynamoDBDocumentClient;
  tables: TableNames;
  /** Clock for createdAt/updatedAt/claimedAt; defaults to the system clock. */
  now?: () => Date;
}

/** How many times a store re-reads and retries a conditional write that lost a race it may still win. */
export const MAX_WRITE_ATTEMPTS = 8;

export function parseInput<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new InvalidInput(`invalid ${what}: ${result.error.message}`, { issues: result.error.issues });
  }
  return result.data;
}

export function parseStored<S extends z.ZodType>(schema: S, item: Item, what: string): z.output<S> {
  const result = schema.safeParse(item);
  if (!result.success) {
    throw new CorruptRecord(`stored ${what} does not match its schema: ${result.error.message}`, {
      issues: result.error.issues,
    });
  }
  return result.data;
}

export function isConditionalCheckFailed(e: unknown): boolean {
  return e instanceof Error && e.name === "ConditionalCheckFailedException";
}

/**
 * The item a refused conditional write was checked against: from the exception when the server
 * honoured `ReturnValuesOnConditionCheckFailure: "ALL_OLD"`, else (older emulators, or the item
 * does not exist) from a consistent read. `undefined` = the item does not exist.
 */
export async function itemAtFailure(
  e: unknown,
  reread: () => Promise<Item | undefined>,
): Promise<Item | undefined> {
  const raw = (e as { Item?: Record<string, AttributeValue> }).Item;
  if (raw && Object.keys(raw).length > 0) return fromAttributeMap(raw);
  return reread();
}

export async function getItem(
  doc: DynamoDBDocumentClient,
  table: string,
  key: Item,
): Promise<Item | undefined> {
  const out = await doc.send(new GetCommand({ TableName: table, Key: key, ConsistentRead: true }));
  return out.Item;
}

/** Every item of a paged read: pages are fetched until DynamoDB gives no LastEvaluatedKey. */
async function allPages(
  page: (
    start: Record<string, unknown> | undefined,
  ) => Promise<{ Items?: Item[]; LastEvaluatedKey?: Record<string, unknown> }>,
): Promise<Item[]> {
  const items: Item[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const out = await page(start);
    items.push(...(out.Items ?? []));
    start = out.LastEvaluatedKey;
  } while (start);
  return items;
}

export function queryAll(doc: DynamoDBDocumentClient, input: QueryCommandInput): Promise<Item[]> {
  return allPages((start) => doc.send(new QueryCommand({ ...input, ExclusiveStartKey: start })));
}

export function scanAll(doc: DynamoDBDocumentClient, input: ScanCommandInput): Promise<Item[]> {
  return allPages((start) => doc.send(new ScanCommand({ ...input, ExclusiveStartKey: start })));
}

/** Unmarshall a raw AttributeValue map (the exception's Item is not converted by lib-dynamodb). */
export function fromAttributeMap(map: Record<string, AttributeValue>): Item {
  const out: Item = {};
  for (const [k, v] of Object.entries(map)) out[k] = fromAttributeValue(v);
  return out;
}

function fromAttributeValue(v: AttributeValue): unknown {
  if (v.S !== undefined) return v.S;
  if (v.N !== undefined) return Number(v.N);
  if (v.BOOL !== undefined) return v.BOOL;
  if (v.NULL !== undefined) return null;
  if (v.M !== undefined) return fromAttributeMap(v.M);
  if (v.L !== undefined) return v.L.map(fromAttributeValue);
  if (v.SS !== undefined) return new Set(v.SS);
  if (v.NS !== undefined) return new Set(v.NS.map(Number));
  if (v.B !== undefined) return v.B;
  if (v.BS !== undefined) return new Set(v.BS);
  return undefined;
}

/** Builds ExpressionAttributeNames/Values with generated placeholders. */
export class Expr {
  readonly names: Record<string, string> = {};
  readonly values: Record<string, unknown> = {};
  private n = 0;
  private v = 0;
  private readonly nameIds = new Map<string, string>();

  /** `#nX` for an attribute name (or a map key); the same name always gets the same placeholder. */
  name(attr: string): string {
    let id = this.nameIds.get(attr);
    if (!id) {
      id = `#n${this.n++}`;
      this.nameIds.set(attr, id);
      this.names[id] = attr;
    }
    return id;
  }

  /** A document path: `path("claims", uuid, "owner")` -> `#n0.#n1.#n2`. */
  path(...parts: string[]): string {
    return parts.map((p) => this.name(p)).join(".");
  }

  value(v: unknown): string {
    const id = `:v${this.v++}`;
    this.values[id] = v;
    return id;
  }

  /** Spread into a command input; omits empty maps (DynamoDB rejects them). */
  attributes(): {
    ExpressionAttributeNames?: Record<string, string>;
    ExpressionAttributeValues?: Record<string, unknown>;
  } {
    const out: {
      ExpressionAttributeNames?: Record<string, string>;
      ExpressionAttributeValues?: Record<string, unknown>;
    } = {};
    if (Object.keys(this.names).length > 0) out.ExpressionAttributeNames = this.names;
    if (Object.keys(this.values).length > 0) out.ExpressionAttributeValues = this.values;
    return out;
  }
}

/** Drop keys whose value is undefined (a present `null` is kept: it means "clear"). */
export function definedOnly<T extends object>(obj: T): Partial<T> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** An UpdateExpression from SET and REMOVE terms. */
export function updateExpression(sets: readonly string[], removes: readonly string[] = []): string {
  return [
    sets.length > 0 ? `SET ${sets.join(", ")}` : "",
    removes.length > 0 ? `REMOVE ${removes.join(", ")}` : "",
  ]
    .filter(Boolean)
    .join(" ");
}
