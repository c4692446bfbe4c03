import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConcurrentUpdate, InvalidStateTransition, MigrationNotFound } from "#shared/domain/errors.js";
import { MigrationsStore } from "#shared/store/migrations-store.js";
import { RecordExists } from "#shared/store/store-errors.js";
import { readBarrier } from "../../support/doc-wrappers.js";
import { startTestDynamo, type TestDynamo } from "../../support/dynamo.js";
import { makeMigration } from "../../support/fixtures.js";

let db: TestDynamo;
beforeAll(async () => {
  db = await startTestDynamo({ prefix: "migrations" });
});
afterAll(() => db.close());

describe("MigrationsStore", () => {
  it("creates idempotently, reads, and requires", async () => {
    const { migrations } = db.stores;
    const m = makeMigration();
    expect(await migrations.create(m)).toEqual(m);
    expect(await migrations.create(m)).toEqual(m);
    await expect(migrations.create({ ...m, sourceHost: "other" })).rejects.toBeInstanceOf(RecordExists);
    expect(await migrations.get(m.id)).toEqual(m);
    expect(await migrations.get(randomUUID())).toBeNull();
    await expect(migrations.require(randomUUID())).rejects.toBeInstanceOf(MigrationNotFound);
  });

  it("createIfAbsent writes once and keeps whatever is there, moved on or not", async () => {
    const { migrations } = db.stores;
    const m = makeMigration();
    expect(await migrations.createIfAbsent(m)).toBe(true);
    const moved = await migrations.transition(m.id, "pre-migrating", { set: { destHost: "host-b" } });
    expect(await migrations.createIfAbsent({ ...m, updatedAt: new Date().toISOString() })).toBe(false);
    expect(await migrations.require(m.id)).toEqual(moved);
  });

  it("setDestination decided on a record that is no longer current (`known`) is decided again on the item", async () => {
    const { migrations } = db.stores;
    const m = await migrations.create(makeMigration());
    const named = await migrations.setDestination(m.id, "host-b", [], m);
    expect(named).toMatchObject({ status: "pre-migrating", destHost: "host-b", version: 1 });
    // Stale (still `accepted`, version 0): the next candidate is named on the item as it is.
    const next = await migrations.setDestination(m.id, "host-c", ["host-b"], m);
    expect(next).toMatchObject({ status: "pre-migrating", destHost: "host-c", version: 2 });
    // Ended meanwhile (the flow's end took it): refused, whatever the stale record says.
    await migrations.transition(m.id, "failed", { set: { error: "ended" } });
    await expect(
      migrations.setDestination(m.id, "host-d", ["host-b", "host-c"], next),
    ).rejects.toBeInstanceOf(ConcurrentUpdate);
    expect(await migrations.require(m.id)).toMatchObject({ status: "failed", destHost: "host-c" });
  });

  it("walks accepted -> pre-migrating -> done -> completed, setting fields", async () => {
    const migrations = db.storesWith({ now: () => new Date("2026-03-01T00:00:00.000Z") }).migrations;
    const m = await migrations.create(makeMigration());
    const pre = await migrations.transition(m.id, "pre-migrating", {
      set: { destHost: "host-b", destNode: "host-b", attemptedHosts: ["host-c"] },
    });
    expect(pre).toMatchObject({
      status: "pre-migrating",
      destHost: "host-b",
      attemptedHosts: ["host-c"],
      version: 1,
      updatedAt: "2026-03-01T00:00:00.000Z",
    });
    // The same transition again, same values: a no-op.
    expect(
      await migrations.transition(m.id, "pre-migrating", {
        set: { destHost: "host-b", attemptedHosts: ["host-c"] },
      }),
    ).toEqual(pre);
    const done = await migrations.transition(m.id, "done");
    expect(done).toMatchObject({ status: "done", version: 2, destHost: "host-b" });
    expect((await migrations.transition(m.id, "completed")).status).toBe("completed");
  });

  it("refuses disallowed transitions without writing", async () => {
    const { migrations } = db.stores;
    const m = await migrations.create(makeMigration({ status: "done" }));
    await expect(migrations.transition(m.id, "failed")).rejects.toBeInstanceOf(InvalidStateTransition);
    await expect(migrations.transition(m.id, "accepted")).rejects.toBeInstanceOf(InvalidStateTransition);
    // Same status, different values: not a no-op, and done -> done is not an edge.
    await expect(migrations.transition(m.id, "done", { set: { error: "x" } })).rejects.toBeInstanceOf(
      InvalidStateTransition,
    );
    expect(await migrations.require(m.id)).toEqual(m);
    await expect(migrations.transition(randomUUID(), "done")).rejects.toBeInstanceOf(MigrationNotFound);
  });

  it("two racing transitions from accepted: the loser is re-decided on what won", async () => {
    // done wins or failed wins; then the other (done -> failed or failed -> done) is not an edge: ConcurrentUpdate.
    const migrations = new MigrationsStore({ doc: readBarrier(db.doc, 2), tables: db.tables });
    const m = await db.stores.migrations.create(makeMigration());
    const results = await Promise.allSettled([
      migrations.transition(m.id, "done"),
      migrations.transition(m.id, "failed", { set: { error: "boom" } }),
    ]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const lost = results.find((r) => r.status === "rejected");
    expect(lost?.status === "rejected" && lost.reason).toBeInstanceOf(ConcurrentUpdate);
    expect((await db.stores.migrations.require(m.id)).version).toBe(1);
  });

  it("two racing identical transitions both succeed, writing once", async () => {
    const migrations = new MigrationsStore({ doc: readBarrier(db.doc, 2), tables: db.tables });
    const m = await db.stores.migrations.create(makeMigration());
    const [a, b] = await Promise.all([
      migrations.transition(m.id, "error", { set: { error: "no host" } }),
      migrations.transition(m.id, "error", { set: { error: "no host" } }),
    ]);
    expect(a).toEqual(b);
    expect(a).toMatchObject({ status: "error", error: "no host", version: 1 });
  });

  it("lists by instance and by source host, oldest first", async () => {
    const { migrations } = db.stores;
    const instanceUuid = randomUUID();
    const sourceHost = `src-${randomUUID().slice(0, 8)}`;
    const older = await migrations.create(
      makeMigration({ instanceUuid, sourceHost, createdAt: "2026-01-01T00:00:00.000Z" }),
    );
    const newer = await migrations.create(
      makeMigration({ instanceUuid, sourceHost, createdAt: "2026-01-02T00:00:00.000Z" }),
    );
    await migrations.create(makeMigration({ sourceHost }));
    expect((await migrations.listByInstance(instanceUuid)).map((m) => m.id)).toEqual([older.id, newer.id]);
    expect(await migrations.listBySourceHost(sourceHost)).toHaveLength(3);
    expect(await migrations.listByInstance(randomUUID())).toEqual([]);
  });
});
