import { ConditionalCheckFailedException, ListTablesCommand, PutItemCommand } from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTables, toCreateTableInput } from "#shared/store/create-tables.js";
import { TABLE_SPECS } from "#shared/store/tables.js";
import { startTestDynamo, type TestDynamo } from "../../support/dynamo.js";

let db: TestDynamo;
beforeAll(async () => {
  db = await startTestDynamo({ prefix: "server" });
});
afterAll(() => db.close());

describe("toCreateTableInput", () => {
  it("declares each key attribute once, on-demand billing, GSIs projecting what their spec says (ALL by default)", () => {
    const input = toCreateTableInput(TABLE_SPECS.migrations, "m-table");
    expect(input.TableName).toBe("m-table");
    expect(input.BillingMode).toBe("PAY_PER_REQUEST");
    expect(input.KeySchema).toEqual([{ AttributeName: "id", KeyType: "HASH" }]);
    expect(input.AttributeDefinitions?.map((a) => a.AttributeName).sort()).toEqual([
      "createdAt",
      "id",
      "instanceUuid",
      "sourceHost",
    ]);
    expect(input.GlobalSecondaryIndexes?.map((i) => [i.IndexName, i.Projection?.ProjectionType])).toEqual([
      ["by-instance", "ALL"],
      ["by-source-host", "ALL"],
    ]);
    // The hosts' indexes hold no claims: the scheduler's the placement fields, the guard's status and
    // incident, the registration check's keys.
    const hosts = toCreateTableInput(TABLE_SPECS.hosts, "h").GlobalSecondaryIndexes ?? [];
    expect(hosts.map((i) => [i.IndexName, i.Projection?.ProjectionType])).toEqual([
      ["by-zone-free", "INCLUDE"],
      ["by-pool-free", "INCLUDE"],
      ["by-suspect", "INCLUDE"],
      ["by-managed-instance", "KEYS_ONLY"],
    ]);
    for (const i of hosts) expect(i.Projection?.NonKeyAttributes ?? []).not.toContain("claims");
    expect(hosts[2]!.Projection?.NonKeyAttributes).toEqual(["status", "incident"]);
    expect(toCreateTableInput(TABLE_SPECS.faults, "f").KeySchema).toEqual([
      { AttributeName: "instanceUuid", KeyType: "HASH" },
      { AttributeName: "faultKey", KeyType: "RANGE" },
    ]);
  });
});

describe("local DynamoDB", () => {
  it("serves the real SDK over HTTP and createTables is idempotent", async () => {
    await createTables(db.client, db.tables);
    const { TableNames } = await db.client.send(new ListTablesCommand({}));
    for (const name of Object.values(db.tables)) expect(TableNames).toContain(name);
  });

  it("returns the old item on a failed condition when asked (ReturnValuesOnConditionCheckFailure)", async () => {
    const put = (v: string, rv?: "ALL_OLD") =>
      db.client.send(
        new PutItemCommand({
          TableName: db.tables.volumes,
          Item: { id: { S: "k1" }, v: { S: v } },
          ConditionExpression: "attribute_not_exists(id)",
          ...(rv ? { ReturnValuesOnConditionCheckFailure: rv } : {}),
        }),
      );
    await put("first");
    const withOld = await put("second", "ALL_OLD").catch((e: unknown) => e);
    expect(withOld).toBeInstanceOf(ConditionalCheckFailedException);
    expect((withOld as ConditionalCheckFailedException).Item).toEqual({ id: { S: "k1" }, v: { S: "first" } });
    const without = await put("third").catch((e: unknown) => e);
    expect(without).toBeInstanceOf(ConditionalCheckFailedException);
    expect((without as ConditionalCheckFailedException).Item).toBeUndefined();
  });
});
