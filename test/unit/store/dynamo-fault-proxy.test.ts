/**
 * The fault-injecting proxy in front of the local DynamoDB: the real SDK sees its answers as DynamoDB's
 * (error names and retry classes), "lost-response" applies the write before failing, the SDK's own retries
 * absorb a realistic share of faults, and the stores' conditional writes stay correct when a write's answer
 * is lost and the SDK repeats it (usage == sum of claims, one task owner).
 */
import { randomUUID } from "node:crypto";
import { GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DynamoFaultProxy, startDynamoFaultProxy } from "#local/dynamo/fault-proxy.js";
import type { Resources } from "#shared/domain/schemas.js";
import { createDocumentClient, createDynamoClient } from "#shared/store/client.js";
import { createStores, type Stores } from "#shared/store/index.js";
import { startTestDynamo, type TestDynamo } from "../../support/dynamo.js";
import { makeHost, makeInstance } from "../../support/fixtures.js";

let db: TestDynamo;
let proxy: DynamoFaultProxy;

beforeAll(async () => {
  db = await startTestDynamo({ prefix: "faults" });
  proxy = await startDynamoFaultProxy({ target: db.endpoint, seed: 42 });
});
afterAll(async () => {
  await proxy?.close();
  await db?.close();
});

function docThroughProxy(maxAttempts?: number) {
  const client = createDynamoClient({
    endpoint: proxy.endpoint,
    region: "us-east-1",
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
    ...(maxAttempts !== undefined ? { maxAttempts } : {}),
  });
  return createDocumentClient({ client });
}

function storesThroughProxy(maxAttempts?: number): Stores {
  return createStores({ doc: docThroughProxy(maxAttempts), tables: db.tables });
}

const caught = (p: Promise<unknown>) =>
  p.then(
    () => null,
    (e: unknown) => e as Error & Record<string, unknown>,
  );

describe("what the SDK sees", () => {
  it.each([
    ["throttle", "ThrottlingException", 400],
    ["throughput", "ProvisionedThroughputExceededException", 400],
  ] as const)("%s: %s, nothing written", async (kind, name, status) => {
    proxy.configure({ [kind]: 1 });
    const doc = docThroughProxy(1);
    const uuid = randomUUID();
    const e = await caught(doc.send(new PutCommand({ TableName: db.tables.instances, Item: { uuid } })));
    proxy.configure({});
    expect(e?.name).toBe(name);
    expect((e?.$metadata as { httpStatusCode?: number } | undefined)?.httpStatusCode).toBe(status);
    expect((await db.doc.send(new GetCommand({ TableName: db.tables.instances, Key: { uuid } }))).Item).toBe(
      undefined,
    );
  });

  it("server-error: a 5xx the SDK treats as transient, nothing written", async () => {
    proxy.configure({ "server-error": 1 });
    const doc = docThroughProxy(1);
    const uuid = randomUUID();
    const e = await caught(doc.send(new PutCommand({ TableName: db.tables.instances, Item: { uuid } })));
    proxy.configure({});
    expect(["InternalServerError", "ServiceUnavailableException"]).toContain(e?.name);
    expect((e?.$metadata as { httpStatusCode?: number } | undefined)?.httpStatusCode).toBeGreaterThanOrEqual(
      500,
    );
    expect((await db.doc.send(new GetCommand({ TableName: db.tables.instances, Key: { uuid } }))).Item).toBe(
      undefined,
    );
  });

  it("lost-response: the write happened, the caller got a 500", async () => {
    proxy.configure({ "lost-response": 1 });
    const doc = docThroughProxy(1);
    const uuid = randomUUID();
    const e = await caught(doc.send(new PutCommand({ TableName: db.tables.instances, Item: { uuid } })));
    proxy.configure({});
    expect(e?.name).toBe("InternalServerError");
    expect(
      (await db.doc.send(new GetCommand({ TableName: db.tables.instances, Key: { uuid } }))).Item,
    ).toEqual({
      uuid,
    });
  });

  it("counts faults by kind and operation; refuses rates that make no sense", () => {
    const before = proxy.stats();
    expect(before.requests).toBeGreaterThan(0);
    expect(before.faults.throttle).toBeGreaterThanOrEqual(1);
    expect(before.byOperation.PutItem).toBeGreaterThanOrEqual(4);
    expect(() => proxy.configure({ throttle: 0.7, "server-error": 0.5 })).toThrow(/add up/);
    expect(() => proxy.configure({ throttle: -1 })).toThrow(/within/);
  });
});

describe("the SDK's retries absorb a realistic share", () => {
  it("15% throttling and 5xx: every store call succeeds with the default retry strategy", async () => {
    proxy.configure({ throttle: 0.05, throughput: 0.05, "server-error": 0.05 }, { seed: 7 });
    const stores = storesThroughProxy();
    const faultsBefore = Object.values(proxy.stats().faults).reduce((a, b) => a + b, 0);
    const created = [];
    for (let i = 0; i < 30; i++) created.push(await stores.instances.create(makeInstance()));
    for (const i of created) expect((await stores.instances.require(i.uuid)).uuid).toBe(i.uuid);
    proxy.configure({});
    const faultsAfter = Object.values(proxy.stats().faults).reduce((a, b) => a + b, 0);
    expect(faultsAfter - faultsBefore).toBeGreaterThan(0);
  }, 60_000);
});

describe("conditional writes when an answer is lost", () => {
  it("claims and releases repeated by the SDK after a lost answer: usage is the sum of the claims", async () => {
    const stores = storesThroughProxy();
    const host = await db.stores.hosts.put(makeHost({ name: `lost-${randomUUID().slice(0, 8)}` }));
    const one: Resources = { vcpus: 1, memoryMiB: 128, diskGiB: 1 };
    proxy.configure({ "lost-response": 0.3 }, { seed: 11, operations: ["UpdateItem"] });
    const uuids = Array.from({ length: 8 }, () => randomUUID());
    const outcomes = [];
    for (const uuid of uuids) {
      outcomes.push(
        await caught(
          stores.hosts.claim(host.name, {
            instanceUuid: uuid,
            resources: one,
            owner: `m-${uuid}`,
            serverGroup: null,
          }),
        ),
      );
    }
    for (const uuid of uuids.slice(0, 4)) {
      outcomes.push(await caught(stores.hosts.release(host.name, uuid, { owner: `m-${uuid}` })));
    }
    proxy.configure({});
    const after = await db.stores.hosts.require(host.name);
    const sum = { vcpus: 0, memoryMiB: 0, diskGiB: 0 };
    for (const c of Object.values(after.claims)) {
      sum.vcpus += c.resources.vcpus;
      sum.memoryMiB += c.resources.memoryMiB;
      sum.diskGiB += c.resources.diskGiB;
    }
    expect(after.usage).toEqual(sum);
    // Every claim is there once (or released once): none counted twice, none lost.
    expect(Object.keys(after.claims).sort()).toEqual(uuids.slice(4).sort());
    expect(outcomes.filter((o) => o !== null)).toEqual([]);
  }, 60_000);

  it("a task taken through a lost answer: the taker is told it holds it, not that someone else does", async () => {
    const stores = storesThroughProxy();
    const inst = await db.stores.instances.create(makeInstance());
    const requestId = randomUUID();
    // The take is applied, its answer lost; the SDK repeats it and the repeat meets the applied take.
    proxy.failNext("lost-response", 1, "UpdateItem");
    const first = await caught(
      stores.instances.update(inst.uuid, {
        expectTaskState: [null],
        expectTaskRequestId: null,
        set: { taskState: "rebuilding", taskRequestId: requestId },
      }),
    );
    const stored = await db.stores.instances.require(inst.uuid);
    expect(stored).toMatchObject({ taskState: "rebuilding", taskRequestId: requestId });
    // The taker holds the task: it must be told so, not that another request holds it.
    expect(first?.message ?? null).toBeNull();
  }, 60_000);
});
