/**
 * A real DynamoDB API for tests: dynalite in-process over HTTP, the real SDK, tables created from
 * TABLE_SPECS under names unique to the caller. Use one per test file:
 *
 *   let db: TestDynamo;
 *   beforeAll(async () => { db = await startTestDynamo(); });
 *   afterAll(() => db.close());
 */
import { randomBytes } from "node:crypto";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { startDynamoServer } from "#local/dynamo/dynamo-server.js";
import { createDocumentClient, createDynamoClient } from "#shared/store/client.js";
import { createTables } from "#shared/store/create-tables.js";
import { createStores, type Stores } from "#shared/store/index.js";
import { TABLE_IDS, type TableNames } from "#shared/store/tables.js";

export interface TestDynamo {
  endpoint: string;
  client: DynamoDBClient;
  doc: DynamoDBDocumentClient;
  tables: TableNames;
  stores: Stores;
  /**
   * Stores on the same tables with another clock, or with a client of their own: through another endpoint
   * (a fault proxy in front of this one), with the SDK's `maxAttempts` (1: a fault reaches the caller).
   */
  storesWith(opts: { now?: () => Date; endpoint?: string; maxAttempts?: number }): Stores;
  close(): Promise<void>;
}

/** Table names `<prefix>-<random>-<id>`, unique per call. */
export function uniqueTableNames(prefix = "test"): TableNames {
  const run = randomBytes(4).toString("hex");
  const names = {} as TableNames;
  for (const id of TABLE_IDS) names[id] = `${prefix}-${run}-${id}`;
  return names;
}

export async function startTestDynamo(
  opts: { prefix?: string; endpoint?: string } = {},
): Promise<TestDynamo> {
  const server = opts.endpoint ? undefined : await startDynamoServer();
  const endpoint = opts.endpoint ?? server!.endpoint;
  const clients: DynamoDBClient[] = [];
  const clientTo = (to: string, maxAttempts?: number) => {
    const c = createDynamoClient({
      endpoint: to,
      region: "us-east-1",
      credentials: { accessKeyId: "test", secretAccessKey: "test" },
      ...(maxAttempts !== undefined ? { maxAttempts } : {}),
    });
    clients.push(c);
    return c;
  };
  const client = clientTo(endpoint);
  const doc = createDocumentClient({ client });
  const tables = uniqueTableNames(opts.prefix);
  await createTables(client, tables);
  return {
    endpoint,
    client,
    doc,
    tables,
    stores: createStores({ doc, tables }),
    storesWith: ({ now, endpoint: via, maxAttempts }) =>
      createStores({
        doc:
          via === undefined && maxAttempts === undefined
            ? doc
            : createDocumentClient({ client: clientTo(via ?? endpoint, maxAttempts) }),
        tables,
        ...(now ? { now } : {}),
      }),
    async close() {
      for (const c of clients) c.destroy();
      await server?.close();
    },
  };
}
