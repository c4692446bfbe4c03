/**
 * One run at a time of a scheduled function (issue 30): two runs started together, one works and the other
 * does nothing; a run that crashed holds the lease only until it expires (as long as its invocation could
 * run); a released lease is free at once; an old holder cannot release a lease taken over from it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SWEEPER_FUNCTION } from "#shared/definitions/functions.js";
import { scheduleLeaseSeconds } from "#shared/definitions/timeouts.js";
import { oneRunAtATime } from "#shared/lambda/schedule-lease.js";
import { startTestDynamo, type TestDynamo } from "#test/support/dynamo.js";

let db: TestDynamo;
beforeAll(async () => {
  db = await startTestDynamo({ prefix: "leases" });
});
afterAll(() => db.close());

describe("scheduled runs", () => {
  it("two runs at once: one runs, the other does nothing and says who holds the lease", async () => {
    const ran: string[] = [];
    let finish: () => void = () => undefined;
    const first = oneRunAtATime(db.stores.leases, SWEEPER_FUNCTION, async () => {
      ran.push("first");
      await new Promise<void>((resolve) => {
        finish = resolve;
      });
      return "first done";
    });
    // The first run holds the lease while it works.
    for (let i = 0; i < 50 && ran.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    const second = await oneRunAtATime(db.stores.leases, SWEEPER_FUNCTION, async () => {
      ran.push("second");
      return "second done";
    });
    expect(second).toMatchObject({ skipped: "another run holds the lease", heldBy: expect.any(String) });
    finish();
    expect(await first).toBe("first done");
    // Released at its end: the next run goes at once.
    expect(await oneRunAtATime(db.stores.leases, SWEEPER_FUNCTION, async () => "third done")).toBe(
      "third done",
    );
    expect(ran).toEqual(["first"]);
  });

  it("a crashed run's lease blocks until the time its invocation could have run, not longer", async () => {
    const t0 = Date.parse("2026-01-01T00:00:00Z");
    const leaseMs = scheduleLeaseSeconds(SWEEPER_FUNCTION) * 1000;
    const at = (ms: number) => db.storesWith({ now: () => new Date(t0 + ms) }).leases;
    expect((await at(0).take("crash-test", "crashed-run", leaseMs / 1000)).taken).toBe(true);
    // Never released (the run crashed): refused until it expires...
    expect(await at(leaseMs - 2000).take("crash-test", "next-run", leaseMs / 1000)).toMatchObject({
      taken: false,
      heldBy: { holder: "crashed-run" },
    });
    // ...then taken over; the crashed run can no longer release what is now another's.
    expect((await at(leaseMs + 1000).take("crash-test", "next-run", leaseMs / 1000)).taken).toBe(true);
    await at(leaseMs + 2000).release("crash-test", "crashed-run");
    expect(await at(leaseMs + 3000).take("crash-test", "third-run", leaseMs / 1000)).toMatchObject({
      taken: false,
      heldBy: { holder: "next-run" },
    });
  });

  it("a failing run releases its lease", async () => {
    await expect(
      oneRunAtATime(db.stores.leases, { ...SWEEPER_FUNCTION, id: "failing" }, async () => {
        throw new Error("the run failed");
      }),
    ).rejects.toThrow("the run failed");
    expect(await oneRunAtATime(db.stores.leases, { ...SWEEPER_FUNCTION, id: "failing" }, async () => 1)).toBe(
      1,
    );
  });
});
