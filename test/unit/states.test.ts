/** The instance and migration state graphs: the rebuild path, reschedule edges, refusals, terminal statuses. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InvalidStateTransition } from "#shared/domain/errors.js";
import {
  assertMigrationTransition,
  assertTaskTransition,
  assertVmTransition,
  canMigrationTransition,
  canTaskTransition,
  canVmTransition,
  isMigrationInFlight,
  isMigrationTask,
  isRebuildTask,
  MIGRATION_AWAITING_CONFIRMATION,
  MIGRATION_ENDED,
  MIGRATION_IN_FLIGHT,
  MIGRATION_STATUSES,
  type MigrationStatus,
  REBUILD_TASK_STATES,
  REBUILDABLE_VM_STATES,
  TASK_STATES,
  type TaskState,
  VM_STATES,
} from "#shared/domain/states.js";

const TASKS: readonly (TaskState | null)[] = [null, ...TASK_STATES];

describe("task_state", () => {
  it("allows the rebuild path null -> rebuilding -> rebuild_block_device_mapping -> rebuild_spawning -> null", () => {
    const path: (TaskState | null)[] = [
      null,
      "rebuilding",
      "rebuild_block_device_mapping",
      "rebuild_spawning",
      null,
    ];
    for (let i = 1; i < path.length; i++) {
      expect(canTaskTransition(path[i - 1]!, path[i]!)).toBe(true);
      expect(() => assertTaskTransition(path[i - 1]!, path[i]!)).not.toThrow();
    }
  });

  it("allows rebuilding -> rebuilding (the re-save expecting rebuilding)", () => {
    expect(canTaskTransition("rebuilding", "rebuilding")).toBe(true);
  });

  it("allows the reschedule edges back to rebuilding", () => {
    expect(() => assertTaskTransition("rebuild_block_device_mapping", "rebuilding")).not.toThrow();
    expect(() => assertTaskTransition("rebuild_spawning", "rebuilding")).not.toThrow();
  });

  it("allows every rebuild task state to fall back to null on failure", () => {
    for (const t of ["rebuilding", "rebuild_block_device_mapping", "rebuild_spawning"] as const) {
      expect(canTaskTransition(t, null)).toBe(true);
    }
  });

  it.each([
    [null, "rebuild_spawning"],
    [null, "rebuild_block_device_mapping"],
    ["rebuilding", "rebuild_spawning"],
    ["rebuild_spawning", "rebuild_block_device_mapping"],
    [null, null],
    ["migrating", "rebuilding"],
    ["deleting", "rebuilding"],
  ] as [TaskState | null, TaskState | null][])("refuses %s -> %s with InvalidStateTransition", (from, to) => {
    expect(canTaskTransition(from, to)).toBe(false);
    expect(() => assertTaskTransition(from, to)).toThrow(InvalidStateTransition);
    expect(() => assertTaskTransition(from, to)).toThrow(
      `task_state cannot go from ${String(from)} to ${String(to)}`,
    );
  });

  it("InvalidStateTransition carries its own name (Step Functions matches on it)", () => {
    try {
      assertTaskTransition(null, "rebuild_spawning");
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(InvalidStateTransition);
      expect((e as Error).name).toBe("InvalidStateTransition");
    }
  });

  it("lets other operations' tasks only end (-> null), never enter rebuild", () => {
    for (const t of [
      "migrating",
      "resize_finish",
      "resize_reverting",
      "deleting",
      "powering_off",
      "powering_on",
    ] as const) {
      expect(TASKS.filter((to) => canTaskTransition(t, to))).toEqual([null]);
    }
  });

  it("walks a cold migration resize_prep -> resize_migrating -> resize_migrated -> resize_finish, each able to fall back to null", () => {
    const walk = ["resize_prep", "resize_migrating", "resize_migrated", "resize_finish"] as const;
    for (let i = 1; i < walk.length; i++) {
      expect(TASKS.filter((to) => canTaskTransition(walk[i - 1]!, to))).toEqual([null, walk[i]]);
    }
    for (const t of [...walk, "migrating", "resize_reverting"] as const) {
      expect(isMigrationTask(t)).toBe(true);
      expect(isRebuildTask(t)).toBe(false);
      expect(REBUILD_TASK_STATES.some((r) => canTaskTransition(t, r))).toBe(false);
    }
  });
});

describe("migration status", () => {
  it("allows accepted -> pre-migrating -> done -> completed", () => {
    const path: MigrationStatus[] = ["accepted", "pre-migrating", "done", "completed"];
    for (let i = 1; i < path.length; i++) {
      expect(() => assertMigrationTransition(path[i - 1]!, path[i]!)).not.toThrow();
    }
  });

  it("allows pre-migrating -> accepted (reschedule)", () => {
    expect(canMigrationTransition("pre-migrating", "accepted")).toBe(true);
  });

  it.each(["failed", "error", "done"] as const)("%s is terminal except -> completed", (from) => {
    expect(MIGRATION_STATUSES.filter((to) => canMigrationTransition(from, to))).toEqual(["completed"]);
    for (const to of MIGRATION_STATUSES.filter((s) => s !== "completed")) {
      expect(() => assertMigrationTransition(from, to)).toThrow(InvalidStateTransition);
    }
  });

  it("completed has no exits", () => {
    for (const to of MIGRATION_STATUSES) {
      expect(canMigrationTransition("completed", to)).toBe(false);
      expect(() => assertMigrationTransition("completed", to)).toThrow(InvalidStateTransition);
    }
  });

  it("accepted cannot go straight to completed (the flow must end first)", () => {
    expect(canMigrationTransition("accepted", "completed")).toBe(false);
    expect(canMigrationTransition("pre-migrating", "completed")).toBe(false);
  });

  it("MIGRATION_ENDED is exactly the statuses from which no live status can be reached", () => {
    const live: readonly MigrationStatus[] = [...MIGRATION_IN_FLIGHT, ...MIGRATION_AWAITING_CONFIRMATION];
    const reaches = (from: MigrationStatus, seen = new Set<MigrationStatus>()): boolean =>
      MIGRATION_STATUSES.some(
        (to) =>
          canMigrationTransition(from, to) &&
          !seen.has(to) &&
          (live.includes(to) || reaches(to, new Set([...seen, to]))),
      );
    const ended = MIGRATION_STATUSES.filter((s) => !live.includes(s) && !reaches(s));
    expect([...MIGRATION_ENDED].sort()).toEqual([...ended].sort());
  });

  it("walks a live migration accepted -> preparing -> running -> completed and a cold one to confirmed or reverted", () => {
    const walks: MigrationStatus[][] = [
      ["accepted", "preparing", "running", "completed"],
      ["accepted", "pre-migrating", "migrating", "post-migrating", "finished", "confirming", "confirmed"],
      ["finished", "reverting", "reverted"],
    ];
    for (const path of walks)
      for (let i = 1; i < path.length; i++) {
        expect(() => assertMigrationTransition(path[i - 1]!, path[i]!)).not.toThrow();
      }
    // Once the source is stopped, a cold migration only goes on or ends in error; a finished one waits.
    expect(canMigrationTransition("migrating", "accepted")).toBe(false);
    expect(canMigrationTransition("finished", "completed")).toBe(false);
    expect(isMigrationInFlight("finished")).toBe(false);
    expect(MIGRATION_ENDED).not.toContain("finished");
  });
});

describe("vm_state", () => {
  it("REBUILDABLE_VM_STATES is exactly active, stopped, error", () => {
    expect([...REBUILDABLE_VM_STATES].sort()).toEqual(["active", "error", "stopped"]);
    expect(new Set(REBUILDABLE_VM_STATES).size).toBe(REBUILDABLE_VM_STATES.length);
  });

  it("a rebuildable instance can fail into error and recover from error to active", () => {
    for (const s of REBUILDABLE_VM_STATES) expect(canVmTransition(s, "error")).toBe(true);
    expect(canVmTransition("error", "active")).toBe(true);
  });

  it("deleted has no exits", () => {
    for (const to of VM_STATES)
      expect(() => assertVmTransition("deleted", to)).toThrow(InvalidStateTransition);
  });
});

describe("assert* throws iff can* is false", () => {
  function throws(f: () => void): boolean {
    try {
      f();
      return false;
    } catch (e) {
      expect(e).toBeInstanceOf(InvalidStateTransition);
      return true;
    }
  }

  it("task_state, over all pairs", () => {
    const state = fc.constantFrom(...TASKS);
    fc.assert(
      fc.property(state, state, (from, to) => {
        expect(throws(() => assertTaskTransition(from, to))).toBe(!canTaskTransition(from, to));
      }),
      { numRuns: 500 },
    );
  });

  it("vm_state, over all pairs", () => {
    const state = fc.constantFrom(...VM_STATES);
    fc.assert(
      fc.property(state, state, (from, to) => {
        expect(throws(() => assertVmTransition(from, to))).toBe(!canVmTransition(from, to));
      }),
      { numRuns: 300 },
    );
  });

  it("migration status, over all pairs", () => {
    const state = fc.constantFrom(...MIGRATION_STATUSES);
    fc.assert(
      fc.property(state, state, (from, to) => {
        expect(throws(() => assertMigrationTransition(from, to))).toBe(!canMigrationTransition(from, to));
      }),
      { numRuns: 300 },
    );
  });

  it("every state has an entry in its graph (no state is silently a dead end by omission)", () => {
    // Only the documented dead ends have no exits.
    expect(TASKS.filter((f) => TASKS.every((t) => !canTaskTransition(f, t)))).toEqual([]);
    expect(VM_STATES.filter((f) => VM_STATES.every((t) => !canVmTransition(f, t)))).toEqual(["deleted"]);
    expect(
      MIGRATION_STATUSES.filter((f) => MIGRATION_STATUSES.every((t) => !canMigrationTransition(f, t))),
    ).toEqual(["completed", "confirmed", "reverted"]);
  });
});
