import { randomUUID } from "node:crypto";
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ConcurrentUpdate,
  InstanceInvalidState,
  InstanceNotFound,
  InvalidInput,
  InvalidStateTransition,
  UnexpectedTaskState,
} from "#shared/domain/errors.js";
import { InstancesStore } from "#shared/store/instances-store.js";
import { RecordExists } from "#shared/store/store-errors.js";
import { readBarrier, withoutOldItem } from "../../support/doc-wrappers.js";
import { startTestDynamo, type TestDynamo } from "../../support/dynamo.js";
import { makeInstance } from "../../support/fixtures.js";

let db: TestDynamo;
beforeAll(async () => {
  db = await startTestDynamo({ prefix: "instances" });
});
afterAll(() => db.close());

const settle = <T>(p: Promise<T>) =>
  p.then(
    (v) => ({ ok: true as const, v }),
    (e: unknown) => ({ ok: false as const, e }),
  );

describe("InstancesStore", () => {
  it("creates, reads and refuses a different record under the same uuid", async () => {
    const { instances } = db.stores;
    const vm = makeInstance();
    await instances.create(vm);
    expect(await instances.get(vm.uuid)).toEqual(vm);
    expect(await instances.create(vm)).toEqual(vm); // identical: idempotent
    await expect(instances.create({ ...vm, name: "other" })).rejects.toBeInstanceOf(RecordExists);
    expect(await instances.get(randomUUID())).toBeNull();
    await expect(instances.require(randomUUID())).rejects.toBeInstanceOf(InstanceNotFound);
    await expect(instances.create({ ...vm, uuid: "not-a-uuid" })).rejects.toBeInstanceOf(InvalidInput);
  });

  it("stores taskState null as NULL so that 'expected null' works", async () => {
    const { instances } = db.stores;
    const vm = await instances.create(makeInstance());
    const taken = await instances.update(vm.uuid, {
      expectTaskState: [null],
      set: { taskState: "rebuilding" },
    });
    expect(taken.taskState).toBe("rebuilding");
    expect(taken.version).toBe(1);
    expect(taken.updatedAt).not.toBe(vm.updatedAt);
    await expect(
      instances.update(vm.uuid, { expectTaskState: [null], set: { taskState: "rebuilding" } }),
    ).rejects.toBeInstanceOf(UnexpectedTaskState);
    const back = await instances.update(vm.uuid, {
      expectTaskState: ["rebuilding"],
      set: { taskState: null },
    });
    expect(back.taskState).toBeNull();
    expect(await instances.require(vm.uuid)).toEqual(back);
  });

  it.each([
    ["with the old item returned on failure", (d: DynamoDBDocumentClient) => d],
    ["with a server that does not return it", withoutOldItem],
  ])(
    "two concurrent updates expecting no task, both reading first: exactly one wins, the other is UnexpectedTaskState (x20, %s)",
    async (_, server) => {
      for (let round = 0; round < 20; round++) {
        // Both updates read version 0 / no task before either writes: only the conditional write decides.
        const instances = new InstancesStore({ doc: readBarrier(server(db.doc), 2), tables: db.tables });
        const vm = await db.stores.instances.create(makeInstance());
        const take = (requestId: string) =>
          settle(
            instances.update(vm.uuid, {
              expectTaskState: [null],
              set: { taskState: "rebuilding", taskRequestId: requestId },
            }),
          );
        const results = await Promise.all([take(randomUUID()), take(randomUUID())]);
        const winners = results.filter((r) => r.ok);
        const losers = results.filter((r) => !r.ok);
        expect(winners).toHaveLength(1);
        expect(losers).toHaveLength(1);
        expect(losers[0]!.ok ? null : losers[0]!.e).toBeInstanceOf(UnexpectedTaskState);
        const stored = await db.stores.instances.require(vm.uuid);
        expect(stored.version).toBe(1);
        expect(stored.taskRequestId).toBe(winners[0]!.ok ? winners[0]!.v.taskRequestId : "?");
      }
    },
  );

  it("many concurrent takers: one winner, the rest UnexpectedTaskState", async () => {
    const { instances } = db.stores;
    const vm = await instances.create(makeInstance());
    const results = await Promise.all(
      Array.from({ length: 10 }, () =>
        settle(instances.update(vm.uuid, { expectTaskState: [null], set: { taskState: "rebuilding" } })),
      ),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    for (const r of results.filter((r) => !r.ok))
      expect(r.ok ? null : r.e).toBeInstanceOf(UnexpectedTaskState);
  });

  it("a version conflict produced by a concurrent write is ConcurrentUpdate", async () => {
    const instances = new InstancesStore({ doc: readBarrier(db.doc, 2), tables: db.tables });
    const vm = await db.stores.instances.create(makeInstance());
    // Both read version 0 before either writes; both only touch powerState, so taskState is never the reason.
    const results = await Promise.all(
      (["shutdown", "crashed"] as const).map((powerState) =>
        settle(instances.update(vm.uuid, { expectVersion: 0, set: { powerState } })),
      ),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    const loser = results.find((r) => !r.ok);
    expect(loser?.ok ? null : loser?.e).toBeInstanceOf(ConcurrentUpdate);
    expect((await db.stores.instances.require(vm.uuid)).version).toBe(1);
  });

  it("without expectVersion, a write that lost to an unrelated change is retried", async () => {
    const { instances } = db.stores;
    const vm = await instances.create(makeInstance());
    const results = await Promise.all([
      instances.update(vm.uuid, { set: { powerState: "shutdown" } }),
      instances.update(vm.uuid, { expectTaskState: [null], set: { haEnabled: false } }),
      instances.update(vm.uuid, { set: { onSharedStorage: true } }),
    ]);
    expect(results).toHaveLength(3);
    const stored = await instances.require(vm.uuid);
    expect(stored).toMatchObject({
      version: 3,
      powerState: "shutdown",
      haEnabled: false,
      onSharedStorage: true,
    });
  });

  it("refuses disallowed transitions without writing", async () => {
    const { instances } = db.stores;
    const vm = await instances.create(makeInstance());
    await expect(
      instances.update(vm.uuid, { set: { taskState: "rebuild_spawning" } }),
    ).rejects.toBeInstanceOf(InvalidStateTransition);
    const deleted = await instances.create(makeInstance({ vmState: "deleted" }));
    await expect(instances.update(deleted.uuid, { set: { vmState: "active" } })).rejects.toBeInstanceOf(
      InvalidStateTransition,
    );
    expect(await instances.require(vm.uuid)).toEqual(vm);
    expect(await instances.require(deleted.uuid)).toEqual(deleted);
  });

  it("checks expected vm_state, task owner and version before writing", async () => {
    const { instances } = db.stores;
    const vm = await instances.create(makeInstance({ vmState: "paused" }));
    await expect(
      instances.update(vm.uuid, {
        expectVmState: ["active", "stopped", "error"],
        set: { taskState: "rebuilding" },
      }),
    ).rejects.toBeInstanceOf(InstanceInvalidState);
    await expect(
      instances.update(vm.uuid, { expectVersion: 7, set: { haEnabled: false } }),
    ).rejects.toBeInstanceOf(ConcurrentUpdate);
    const owner = randomUUID();
    await instances.update(vm.uuid, {
      expectTaskState: [null],
      set: { taskState: "rebuilding", taskRequestId: owner },
    });
    await expect(
      instances.update(vm.uuid, { expectTaskRequestId: randomUUID(), set: { taskState: null } }),
    ).rejects.toBeInstanceOf(UnexpectedTaskState);
    const done = await instances.update(vm.uuid, {
      expectTaskState: ["rebuilding"],
      expectTaskRequestId: owner,
      set: { taskState: null, taskRequestId: null },
    });
    expect(done).toMatchObject({ taskState: null, taskRequestId: null, version: 2 });
    await expect(instances.update(randomUUID(), { set: { haEnabled: false } })).rejects.toBeInstanceOf(
      InstanceNotFound,
    );
  });

  it("walks the rebuild task states and ends with the new host", async () => {
    const { instances } = db.stores;
    const vm = await instances.create(makeInstance({ host: "src-host", node: "src-host" }));
    await instances.update(vm.uuid, { expectTaskState: [null], set: { taskState: "rebuilding" } });
    await instances.update(vm.uuid, { expectTaskState: ["rebuilding"], set: { taskState: "rebuilding" } });
    await instances.update(vm.uuid, {
      expectTaskState: ["rebuilding"],
      set: { taskState: "rebuild_block_device_mapping" },
    });
    await instances.update(vm.uuid, {
      expectTaskState: ["rebuild_block_device_mapping"],
      set: { taskState: "rebuild_spawning" },
    });
    const end = await instances.update(vm.uuid, {
      expectTaskState: ["rebuild_spawning"],
      set: { taskState: null, vmState: "active", host: "dst-host", node: "dst-host" },
    });
    expect(end).toMatchObject({ taskState: null, vmState: "active", host: "dst-host", version: 5 });
  });

  it("lists instances by host through the GSI", async () => {
    const { instances } = db.stores;
    const host = `h-${randomUUID().slice(0, 8)}`;
    const made = await Promise.all(Array.from({ length: 5 }, () => instances.create(makeInstance({ host }))));
    await instances.create(makeInstance({ host: "elsewhere" }));
    const listed = await instances.listByHost(host);
    expect(listed.map((i) => i.uuid).sort()).toEqual(made.map((i) => i.uuid).sort());
  });
});
