/** Create the tables described by TABLE_SPECS (local cloud, tests, tools). The CDK stack mirrors toCreateTableInput. */
import {
  type AttributeDefinition,
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  type DynamoDBClient,
  type KeySchemaElement,
  type Projection,
  ResourceInUseException,
} from "@aws-sdk/client-dynamodb";
import {
  type IndexSpec,
  type KeyAttribute,
  TABLE_IDS,
  TABLE_SPECS,
  type TableNames,
  type TableSpec,
} from "./tables.js";

function keySchema(partitionKey: KeyAttribute, sortKey?: KeyAttribute): KeySchemaElement[] {
  const schema: KeySchemaElement[] = [{ AttributeName: partitionKey.name, KeyType: "HASH" }];
  if (sortKey) schema.push({ AttributeName: sortKey.name, KeyType: "RANGE" });
  return schema;
}

/** How an index projects items, as CreateTable takes it (ALL unless the spec says otherwise). */
export function projectionOf(index: IndexSpec): Projection {
  const p = index.projection ?? "ALL";
  if (p === "ALL" || p === "KEYS_ONLY") return { ProjectionType: p };
  return { ProjectionType: "INCLUDE", NonKeyAttributes: [...p.include] };
}

/** The CreateTable request for one spec: on-demand billing, each GSI projecting what its spec says. */
export function toCreateTableInput(spec: TableSpec, name: string): CreateTableCommandInput {
  const attributes = new Map<string, KeyAttribute["type"]>();
  const addAttribute = (a: KeyAttribute | undefined): void => {
    if (!a) return;
    const seen = attributes.get(a.name);
    if (seen && seen !== a.type) {
      throw new Error(`table ${spec.id}: attribute ${a.name} declared as both ${seen} and ${a.type}`);
    }
    attributes.set(a.name, a.type);
  };
  addAttribute(spec.partitionKey);
  addAttribute(spec.sortKey);
  for (const index of spec.globalIndexes) {
    addAttribute(index.partitionKey);
    addAttribute(index.sortKey);
  }
  const attributeDefinitions: AttributeDefinition[] = [...attributes].map(
    ([AttributeName, AttributeType]) => ({
      AttributeName,
      AttributeType,
    }),
  );
  const input: CreateTableCommandInput = {
    TableName: name,
    BillingMode: "PAY_PER_REQUEST",
    AttributeDefinitions: attributeDefinitions,
    KeySchema: keySchema(spec.partitionKey, spec.sortKey),
  };
  if (spec.globalIndexes.length > 0) {
    input.GlobalSecondaryIndexes = spec.globalIndexes.map((index) => ({
      IndexName: index.indexName,
      KeySchema: keySchema(index.partitionKey, index.sortKey),
      Projection: projectionOf(index),
    }));
  }
  return input;
}

export interface CreateTablesOptions {
  /** How long to wait for every table (and index) to become ACTIVE; default 60 s. */
  timeoutMs?: number;
}

/** Create every table (an existing one is fine) and wait until all of them and their indexes are ACTIVE. */
export async function createTables(
  client: DynamoDBClient,
  names: TableNames,
  opts: CreateTablesOptions = {},
): Promise<void> {
  await Promise.all(
    TABLE_IDS.map(async (id) => {
      try {
        await client.send(new CreateTableCommand(toCreateTableInput(TABLE_SPECS[id], names[id])));
      } catch (e) {
        if (!(e instanceof ResourceInUseException)) throw e;
      }
    }),
  );
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  await Promise.all(TABLE_IDS.map((id) => waitUntilActive(client, names[id], deadline)));
}

async function waitUntilActive(client: DynamoDBClient, name: string, deadline: number): Promise<void> {
  let delayMs = 50;
  for (;;) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: name }));
    const indexesActive = (Table?.GlobalSecondaryIndexes ?? []).every((i) => i.IndexStatus === "ACTIVE");
    if (Table?.TableStatus === "ACTIVE" && indexesActive) return;
    if (Date.now() > deadline) {
      throw new Error(`table ${name} not ACTIVE in time (status ${String(Table?.TableStatus)})`);
    }
    await new Promise((r) => setTimeout(r, delayMs));
    delayMs = Math.min(delayMs * 2, 2_000);
  }
}
