/**
 * The host incident and the instance recovery stores' conditional writes, raced: of many writers that
 * read the same record, one opens, and every change is applied exactly once.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HostIncidentsStore } from "#shared/store/host-incidents-store.js";
import { RecoveriesStore } from "#shared/store/recoveries-store.js";
import { readBarrier } from "../../support/doc-wrappers.js";
import { startTestDynamo, type TestDynamo } from "../../support/dynamo.js";
import { makeHost } from "../../support/fixtures.js";

let db: TestDynamo;
beforeAll(async () => {
  db = await startTestDynamo({ prefix: "incidents" });
});
afterAll(() => db.close());

const at = "2026-01-01T00:00:00.000Z";
const incident = (id: string) => ({
  id,
  status: "evacuating" as const,
  source: "alarm" as const,
  reason: null,
  executionName: null,
  openedAt: at,
  updatedAt: at,
  summary: null,
});

describe("HostIncidentsStore.open", () => {
  it("of racing openers of different incidents exactly one opens; the others are duplicates of it", async () => {
    const name = `h-${randomUUID().slice(0, 8)}`;
    await db.stores.hosts.put(makeHost({ name }));
    const racing = new HostIncidentsStore({ doc: readBarrier(db.doc, 3), tables: db.tables });
    const results = await Promise.all(["a", "b", "c"].map((id) => racing.open(name, incident(id))));
    const opened = results.filter((r) => r.decision.kind === "open");
    expect(opened).toHaveLength(1);
    const winner = opened[0]!.host.incident!.id;
    for (const r of results.filter((x) => x.decision.kind !== "open")) {
      expect(r.decision).toMatchObject({ kind: "duplicate", of: winner });
    }
    // The winner's own repeat resumes its incident.
    expect((await db.stores.hostIncidents.open(name, incident(winner))).decision.kind).toBe("resume");
    expect((await db.stores.hosts.require(name)).version).toBe(opened[0]!.host.version);
  });
});

describe("RecoveriesStore", () => {
  const opening = () => ({
    id: randomUUID(),
    instanceUuid: randomUUID(),
    host: "host-1",
    reason: "Crashed",
    stoppedAt: at,
    detectedAt: at,
    status: "recovering" as const,
    message: null,
    executionArn: null,
    attempts: [],
    relocation: null,
  });

  it("opens once: a second delivery finds the recovery open", async () => {
    const r = opening();
    expect((await db.stores.recoveries.open(r)).opened).toBe(true);
    const again = await db.stores.recoveries.open({ ...r, reason: "Failed" });
    expect(again).toMatchObject({ opened: false, recovery: { id: r.id, reason: "Crashed", version: 0 } });
  });

  it("racing updates each apply their change once, on the version they lost to", async () => {
    const r = opening();
    await db.stores.recoveries.open(r);
    const racing = new RecoveriesStore({ doc: readBarrier(db.doc, 3), tables: db.tables });
    await Promise.all(
      ["h-1", "h-2", "h-3"].map((host) =>
        racing.update(r.id, (current) => ({
          attempts: [...current.attempts, { action: "restart", host, at, outcome: "failed", error: null }],
        })),
      ),
    );
    const stored = await db.stores.recoveries.require(r.id);
    expect(stored.attempts.map((a) => a.host).sort()).toEqual(["h-1", "h-2", "h-3"]);
    expect(stored.version).toBe(3);
    const done = await db.stores.recoveries.update(r.id, () => ({ status: "restarted", message: "ok" }));
    expect(done).toMatchObject({ status: "restarted", message: "ok", version: 4, attempts: stored.attempts });
    expect(await db.stores.recoveries.require(r.id)).toEqual(done);
  });
});
