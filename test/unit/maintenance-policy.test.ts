/**
 * The planned-maintenance decisions of issue 32, pure and in milliseconds: where a failed migration's guest
 * ends up (`settleMigration`, over every pair of what two hosts can say), which disks can move, the
 * migrate and resize admission checks, the drain and undrain decisions, whether a heartbeat alarm
 * starts an evacuation, and the drain's plan (live where a target takes it, cold otherwise, the ones
 * that would stay named with the reason).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { previewHostDrain } from "#shared/domain/evacuation-plan.js";
import { drainDecision, drainedState, inMaintenance, undrainRefusal } from "#shared/domain/maintenance.js";
import { type GuestSeen, settleMigration, unmovableDisk, vmStateOfPower } from "#shared/domain/migration.js";
import type { Host, HostIncident } from "#shared/domain/schemas.js";
import { POWER_STATES } from "#shared/domain/states.js";
import { assertMigratable, assertResizeFollowUp } from "#shared/flow/migration-admission.js";
import { makeHost, makeInstance, makeMigration } from "../support/fixtures.js";

const SEEN: readonly GuestSeen[] = [...POWER_STATES, "absent", "unknown"];
const defined = (s: GuestSeen) => s !== "absent" && s !== "unknown";

describe("settleMigration: where a failed migration's guest ends up", () => {
  it("for every pair of answers, never starts or keeps a second copy and never trusts a silent host", () => {
    fc.assert(
      fc.property(fc.constantFrom(...SEEN), fc.constantFrom(...SEEN), fc.boolean(), (home, away, ran) => {
        const s = settleMigration({ home, away }, ran);
        switch (s.kind) {
          case "moved":
            // Only a guest that runs on the other host moves there, and never while it runs at home.
            expect(away).toBe("running");
            expect(home).not.toBe("running");
            expect(s.removeAtHome).toBe(defined(home));
            break;
          case "home":
            // Both hosts answered; the other one is cleaned exactly when it has the domain.
            expect(home).not.toBe("unknown");
            expect(away).not.toBe("unknown");
            expect(away === "running" && home !== "running" && home !== "paused").toBe(false);
            expect(s.cleanAway).toBe(defined(away));
            if (home === "absent") expect(s.restore).toBe("define");
            if (home === "running") expect(s.restore).toBe("none");
            if (!ran) expect(s.restore).not.toBe("start");
            break;
          case "unclean-away":
            expect(away).toBe("unknown");
            expect(s.homeRuns).toBe(home === "running" || home === "paused");
            break;
          case "home-unreachable":
            expect(home).toBe("unknown");
            expect(away).not.toBe("running");
            expect(s.cleanAway).toBe(defined(away));
            break;
        }
      }),
    );
  });

  it("reads the usual cases as the flow means them", () => {
    // The switch-over happened (source paused post-migration, target running): the move stands.
    expect(settleMigration({ home: "paused", away: "running" }, true)).toEqual({
      kind: "moved",
      removeAtHome: true,
    });
    // The copy was under way (target paused incoming): the source keeps it, the target is cleaned.
    expect(settleMigration({ home: "running", away: "paused" }, true)).toEqual({
      kind: "home",
      cleanAway: true,
      restore: "none",
    });
    // A cold migration stopped the source, the target never started it: defined and started again at home.
    expect(settleMigration({ home: "absent", away: "shutdown" }, true)).toEqual({
      kind: "home",
      cleanAway: true,
      restore: "define",
    });
    // A STOPPED one: defined at home, not started.
    expect(settleMigration({ home: "shutdown", away: "absent" }, false)).toEqual({
      kind: "home",
      cleanAway: false,
      restore: "none",
    });
  });

  it("vm_state from power state; which disks move", () => {
    expect(vmStateOfPower("running")).toBe("active");
    expect(vmStateOfPower("shutdown")).toBe("stopped");
    const pool = makeHost({ name: "a" });
    const local = makeHost({ name: "b", storage: { ...pool.storage, sharedPoolId: null } });
    expect(unmovableDisk(makeInstance(), pool)).toBeNull();
    expect(unmovableDisk(makeInstance({ onSharedStorage: false }), pool)).toMatch(/block migration/);
    expect(unmovableDisk(makeInstance(), local)).toMatch(/local storage/);
  });
});

describe("migrate and resize admission (the API's and Accept's)", () => {
  const now = new Date("2026-01-01T00:00:30.000Z");
  const facts = (over: Partial<Parameters<typeof assertMigratable>[1]> = {}) => ({
    instance: makeInstance({ host: "host-a" }),
    source: makeHost({ name: "host-a" }),
    target: null,
    now,
    serviceDownSeconds: 60,
    ...over,
  });

  it("refuses by nova's rules, before anything changes", () => {
    const ok = { live: true, targetHost: null };
    expect(() => assertMigratable(ok, facts())).not.toThrow();
    expect(() => assertMigratable(ok, facts({ instance: makeInstance({ vmState: "stopped" }) }))).toThrow(
      /vm_state stopped/,
    );
    expect(() =>
      assertMigratable(
        { live: false, targetHost: null },
        facts({ instance: makeInstance({ vmState: "stopped" }) }),
      ),
    ).not.toThrow();
    expect(() => assertMigratable(ok, facts({ instance: makeInstance({ taskState: "migrating" }) }))).toThrow(
      /task_state/,
    );
    expect(() => assertMigratable(ok, facts({ instance: makeInstance({ locked: true }) }))).toThrow(/locked/);
    expect(() =>
      assertMigratable(ok, facts({ source: makeHost({ name: "host-a", forcedDown: true }) })),
    ).toThrow(/evacuated, not migrated/);
    expect(() => assertMigratable(ok, facts({ instance: makeInstance({ onSharedStorage: false }) }))).toThrow(
      /block migration/,
    );
    expect(() => assertMigratable({ live: true, targetHost: "host-a" }, facts())).toThrow(/current host/);
    expect(() => assertMigratable({ live: true, targetHost: "host-x" }, facts())).toThrow(/not found/);
    expect(() =>
      assertMigratable({ live: true, targetHost: "host-b" }, facts({ target: makeHost({ name: "host-b" }) })),
    ).toThrow(/takes no live migration/);
  });

  it("confirm and revert only a finished cold migration of an instance in VERIFY_RESIZE", () => {
    const instance = makeInstance({ vmState: "resized" });
    const finished = makeMigration({ instanceUuid: instance.uuid, type: "migration", status: "finished" });
    expect(assertResizeFollowUp("revertResize", instance, finished)).toBe(finished);
    expect(() => assertResizeFollowUp("revertResize", makeInstance(), finished)).toThrow(/vm_state active/);
    expect(() => assertResizeFollowUp("confirmResize", instance, null)).toThrow(/no finished migration/);
    const confirming = { ...finished, status: "confirming" as const };
    expect(assertResizeFollowUp("confirmResize", instance, confirming)).toBe(confirming);
    expect(() => assertResizeFollowUp("revertResize", instance, confirming)).toThrow(/confirming/);
  });
});

describe("drain and undrain decisions", () => {
  const incident = (status: HostIncident["status"]): HostIncident => ({
    id: "inc-1",
    status,
    source: "alarm",
    reason: null,
    executionName: "x",
    openedAt: "2026-01-01T00:00:00.000Z",
    updatedAt: "2026-01-01T00:00:00.000Z",
    summary: null,
  });
  const draining = (executionName: string): Partial<Host> => ({
    maintenance: {
      state: "draining",
      reason: null,
      since: "2026-01-01T00:00:00.000Z",
      executionName,
      moved: [],
    },
  });

  it("a failing host is evacuated, not drained; one drain at a time; a drain resumes its own", () => {
    expect(drainDecision(makeHost(), "d1")).toEqual({ kind: "begin" });
    for (const s of ["confirming", "evacuating", "evacuated", "held"] as const)
      expect(drainDecision(makeHost({ incident: incident(s) }), "d1").kind).toBe("refuse");
    for (const s of ["not-dead", "aborted", "closed"] as const)
      expect(drainDecision(makeHost({ incident: incident(s) }), "d1").kind).toBe("begin");
    expect(drainDecision(makeHost(draining("d1")), "d1")).toEqual({ kind: "resume" });
    expect(drainDecision(makeHost(draining("d0")), "d1").kind).toBe("refuse");
  });

  it("undrain only once no drain runs; only an emptied host starts no evacuation", () => {
    expect(undrainRefusal(makeHost())).toMatch(/not in maintenance/);
    expect(undrainRefusal(makeHost(draining("d1")))).toMatch(/still being drained/);
    const done = (state: "maintenance" | "incomplete") =>
      makeHost({ maintenance: { ...draining("d1").maintenance!, state } });
    expect(undrainRefusal(done("maintenance"))).toBeNull();
    expect(undrainRefusal(done("incomplete"))).toBeNull();
    expect(inMaintenance(done("maintenance"))).toBe(true);
    expect(inMaintenance(done("incomplete"))).toBe(false);
    expect(inMaintenance(makeHost(draining("d1")))).toBe(false);
    expect([drainedState(0), drainedState(1)]).toEqual(["maintenance", "incomplete"]);
  });
});

describe("the drain's plan (`previewHostDrain`)", () => {
  const now = new Date("2026-01-01T00:00:30.000Z");
  const liveMigration = { uri: "qemu+tls://x/system", inboundAddress: "10.0.0.9", poolIsLocalFolder: false };
  const small = { vcpus: 8, memoryMiB: 1024, diskGiB: 200 };

  it("moves running instances live where a target takes it, stopped ones cold; names the ones that stay", () => {
    const hosts = [
      makeHost({ name: "src", lastHeartbeatAt: now.toISOString() }),
      makeHost({ name: "live", capacity: small, liveMigration, lastHeartbeatAt: now.toISOString() }),
      makeHost({ name: "cold", capacity: small, lastHeartbeatAt: now.toISOString() }),
    ];
    const flavor = (memoryMiB: number) => ({ vcpus: 1, memoryMiB, diskGiB: 1 });
    const run1 = makeInstance({ name: "run-1", host: "src", flavor: flavor(512), haPriority: 5 });
    const run2 = makeInstance({ name: "run-2", host: "src", flavor: flavor(512) });
    const run3 = makeInstance({ name: "run-3", host: "src", flavor: flavor(512) });
    const off = makeInstance({
      name: "off-1",
      host: "src",
      flavor: flavor(256),
      vmState: "stopped",
      powerState: "shutdown",
    });
    const big = makeInstance({ name: "big-1", host: "src", flavor: flavor(4096) });
    const local = makeInstance({ name: "local-1", host: "src", flavor: flavor(128), onSharedStorage: false });
    const broken = makeInstance({ name: "err-1", host: "src", vmState: "error" });
    const p = previewHostDrain("src", hosts, [run1, run2, run3, off, big, local, broken], { now });
    expect(p.placements.map((x) => [x.name, x.target, x.live])).toEqual([
      ["run-1", "live", true], // priority 5 first
      ["off-1", "cold", false],
      ["run-2", "live", true],
      ["run-3", "cold", false], // the live target is full: cold elsewhere
    ]);
    expect(p.unplaced.map((u) => u.name).sort()).toEqual(["big-1", "local-1"]);
    expect(p.unplaced.find((u) => u.name === "big-1")?.reason).toMatch(/RAM free/);
    expect(p.unplaced.find((u) => u.name === "local-1")?.reason).toMatch(/block migration/);
    expect(p.skipped.map((s) => s.name)).toEqual(["err-1"]);
    expect(p.drainable).toBe(false);
    expect(previewHostDrain("src", hosts, [run1, off], { now }).drainable).toBe(true);
  });
});
