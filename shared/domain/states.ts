/**
 * Instance and migration states as data, with every allowed transition written down once.
 * The store calls `assertTaskTransition` / `assertMigrationTransition` before each conditional write,
 * so no code path can move a record along an edge that is not listed here.
 */
import { InvalidStateTransition } from "./errors.js";

export const VM_STATES = [
  "building",
  "active",
  "stopped",
  "paused",
  "suspended",
  "error",
  "deleted",
] as const;
export type VmState = (typeof VM_STATES)[number];

export const TASK_STATES = [
  "rebuilding",
  "rebuild_block_device_mapping",
  "rebuild_spawning",
  // The boot flow's (nova's build). "scheduling" is only shown for a build not placed yet (no record
  // holds it); the record is created in block_device_mapping once placed.
  "scheduling",
  "block_device_mapping",
  "networking",
  "spawning",
  // reboot (soft / hard), run by the API within the request.
  "rebooting",
  "rebooting_hard",
  // Tasks owned by other operations; present so that "an instance in a task" is refused by name.
  "migrating",
  "resize_prep",
  "deleting",
  "powering_off",
  "powering_on",
] as const;
export type TaskState = (typeof TASK_STATES)[number];

export const POWER_STATES = ["nostate", "running", "paused", "shutdown", "crashed", "suspended"] as const;
export type PowerState = (typeof POWER_STATES)[number];

export const MIGRATION_STATUSES = [
  "accepted",
  "pre-migrating",
  "done",
  "completed",
  "failed",
  "error",
] as const;
export type MigrationStatus = (typeof MIGRATION_STATUSES)[number];

export const MIGRATION_TYPES = ["rebuild", "evacuation"] as const;
export type MigrationType = (typeof MIGRATION_TYPES)[number];

/** The task_states of a rebuild/evacuate flow: an instance in one of these is owned by such a flow. */
export const REBUILD_TASK_STATES = [
  "rebuilding",
  "rebuild_block_device_mapping",
  "rebuild_spawning",
] as const satisfies readonly TaskState[];

/** The task_states of a boot flow: an instance in one of these is being built by it. */
export const BOOT_TASK_STATES = [
  "block_device_mapping",
  "networking",
  "spawning",
] as const satisfies readonly TaskState[];

/** Whether an instance in this task_state is owned by a rebuild/evacuate flow. */
export function isRebuildTask(taskState: TaskState | null): boolean {
  return taskState !== null && (REBUILD_TASK_STATES as readonly TaskState[]).includes(taskState);
}

/** vm_states from which rebuild and evacuate may start (nova: ACTIVE, STOPPED, ERROR). */
export const REBUILDABLE_VM_STATES: readonly VmState[] = ["active", "stopped", "error"];

/**
 * task_state edges. `null` is "no task". The rebuild flow walks
 * null -> rebuilding -> rebuild_block_device_mapping -> rebuild_spawning -> null,
 * and any rebuild task state may fall back to null when the flow fails (vm_state then becomes error).
 */
const TASK_EDGES: ReadonlyMap<TaskState | null, readonly (TaskState | null)[]> = new Map<
  TaskState | null,
  readonly (TaskState | null)[]
>([
  [
    null,
    [
      "rebuilding",
      "migrating",
      "resize_prep",
      "deleting",
      "powering_off",
      "powering_on",
      "rebooting",
      "rebooting_hard",
    ],
  ],
  // rebuilding -> rebuilding: `_do_rebuild_instance` re-saves REBUILDING expecting REBUILDING (nova does the same).
  ["rebuilding", ["rebuilding", "rebuild_block_device_mapping", null]],
  // Back to rebuilding: the target failed before the instance ran there and the flow reschedules.
  ["rebuild_block_device_mapping", ["rebuild_spawning", "rebuilding", null]],
  ["rebuild_spawning", ["rebuilding", null]],
  // Boot: block_device_mapping -> networking -> spawning -> null; a failure clears the task (ERROR).
  // "scheduling" is shown for a build no record holds yet; listed so the graph has every state.
  ["scheduling", [null]],
  ["block_device_mapping", ["networking", null]],
  ["networking", ["spawning", null]],
  ["spawning", [null]],
  ["rebooting", [null]],
  ["rebooting_hard", [null]],
  ["migrating", [null]],
  ["resize_prep", [null]],
  ["deleting", [null]],
  ["powering_off", [null]],
  ["powering_on", [null]],
]);

/** vm_state edges: rebuild/evacuate's, and the neighbouring operations' (pause, suspend, delete). */
const VM_EDGES: ReadonlyMap<VmState, readonly VmState[]> = new Map<VmState, readonly VmState[]>([
  ["building", ["active", "stopped", "error"]],
  ["active", ["active", "stopped", "paused", "suspended", "error", "deleted"]],
  ["stopped", ["stopped", "active", "error", "deleted"]],
  ["error", ["error", "active", "stopped", "deleted"]],
  ["paused", ["paused", "active", "error"]],
  ["suspended", ["suspended", "active", "error"]],
  ["deleted", []],
]);

const MIGRATION_EDGES: ReadonlyMap<MigrationStatus, readonly MigrationStatus[]> = new Map<
  MigrationStatus,
  readonly MigrationStatus[]
>([
  ["accepted", ["pre-migrating", "done", "failed", "error"]],
  // pre-migrating -> accepted: the chosen target failed and the flow reschedules.
  ["pre-migrating", ["accepted", "done", "failed", "error"]],
  // done -> completed: the returning source host cleaned up its stale copy.
  ["done", ["completed"]],
  // A failed or errored evacuation may still leave a stale copy on a returning host (nova bug 1713783).
  ["failed", ["completed"]],
  ["error", ["completed"]],
  ["completed", []],
]);

export function canTaskTransition(from: TaskState | null, to: TaskState | null): boolean {
  return TASK_EDGES.get(from)?.includes(to) ?? false;
}

export function canVmTransition(from: VmState, to: VmState): boolean {
  return VM_EDGES.get(from)?.includes(to) ?? false;
}

export function canMigrationTransition(from: MigrationStatus, to: MigrationStatus): boolean {
  return MIGRATION_EDGES.get(from)?.includes(to) ?? false;
}

export function assertTaskTransition(from: TaskState | null, to: TaskState | null): void {
  if (!canTaskTransition(from, to)) {
    throw new InvalidStateTransition(`task_state cannot go from ${String(from)} to ${String(to)}`);
  }
}

export function assertVmTransition(from: VmState, to: VmState): void {
  if (!canVmTransition(from, to)) {
    throw new InvalidStateTransition(`vm_state cannot go from ${from} to ${to}`);
  }
}

export function assertMigrationTransition(from: MigrationStatus, to: MigrationStatus): void {
  if (!canMigrationTransition(from, to)) {
    throw new InvalidStateTransition(`migration status cannot go from ${from} to ${to}`);
  }
}

/** Migration statuses while the flow that owns the migration runs: its claims and bindings are in use. */
export const MIGRATION_IN_FLIGHT = [
  "accepted",
  "pre-migrating",
] as const satisfies readonly MigrationStatus[];

/** Terminal migration statuses: the flow that owned the migration has ended. */
export const MIGRATION_ENDED: readonly MigrationStatus[] = MIGRATION_STATUSES.filter(
  (s) => !(MIGRATION_IN_FLIGHT as readonly MigrationStatus[]).includes(s),
);

/** Whether the flow that owns a migration in this status still runs. */
export function isMigrationInFlight(status: MigrationStatus): boolean {
  return (MIGRATION_IN_FLIGHT as readonly MigrationStatus[]).includes(status);
}
