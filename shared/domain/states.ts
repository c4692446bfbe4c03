/**
 * Instance and migration states as data, with every allowed transition written down once.
 * The store calls `assertTaskTransition` / `assertMigrationTransition` before each conditional write,
 * so no code path can move a record along an edge that is not listed here.
 */
import { InvalidStateTransition, UnexpectedTaskState } from "./errors.js";

export const VM_STATES = [
  "building",
  "active",
  "stopped",
  /** A cold migration finished and waits for its confirm or revert (nova's VERIFY_RESIZE). */
  "resized",
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
  // A live migration (nova's MIGRATING).
  "migrating",
  // A cold migration, as nova's resize walks them: prepared (target claimed), the source stopped and
  // undefined, the guest moved, started on the target; then the revert of the finished move (its
  // confirm takes no task: the migration's finished -> confirming is what a racing revert loses to).
  "resize_prep",
  "resize_migrating",
  "resize_migrated",
  "resize_finish",
  "resize_reverting",
  // Tasks owned by other operations; present so that "an instance in a task" is refused by name.
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
  // A live migration (nova's): the target checked and prepared, then the guest's memory copied.
  "preparing",
  "running",
  // A cold migration (nova's resize statuses): the source stopped, the guest on its way, started on the
  // target; `finished` waits for a confirm (or an automatic one) or a revert.
  "migrating",
  "post-migrating",
  "finished",
  "confirming",
  "confirmed",
  "reverting",
  "reverted",
] as const;
export type MigrationStatus = (typeof MIGRATION_STATUSES)[number];

/** nova's migration_type values: evacuation and rebuild (Lazarus's flows), live-migration and migration (cold). */
export const MIGRATION_TYPES = ["rebuild", "evacuation", "live-migration", "migration"] as const;
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

/** The task_states of a migrate flow (live or cold, and a cold migration's revert). */
export const MIGRATION_TASK_STATES = [
  "migrating",
  "resize_prep",
  "resize_migrating",
  "resize_migrated",
  "resize_finish",
  "resize_reverting",
] as const satisfies readonly TaskState[];

/** Whether an instance in this task_state is owned by a migrate flow. */
export function isMigrationTask(taskState: TaskState | null): boolean {
  return taskState !== null && (MIGRATION_TASK_STATES as readonly TaskState[]).includes(taskState);
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
      "resize_reverting",
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
  // A cold migration that fails at any of these falls back to null (the guest back on its source).
  ["resize_prep", ["resize_migrating", null]],
  ["resize_migrating", ["resize_migrated", null]],
  ["resize_migrated", ["resize_finish", null]],
  ["resize_finish", [null]],
  ["resize_reverting", [null]],
  ["deleting", [null]],
  ["powering_off", [null]],
  ["powering_on", [null]],
]);

/** vm_state edges: rebuild/evacuate's, and the neighbouring operations' (pause, suspend, delete). */
const VM_EDGES: ReadonlyMap<VmState, readonly VmState[]> = new Map<VmState, readonly VmState[]>([
  ["building", ["active", "stopped", "error"]],
  ["active", ["active", "stopped", "resized", "paused", "suspended", "error", "deleted"]],
  ["stopped", ["stopped", "active", "resized", "error", "deleted"]],
  // A finished cold migration: confirmed or reverted, back to what it was (ACTIVE or STOPPED).
  ["resized", ["resized", "active", "stopped", "error"]],
  ["error", ["error", "active", "stopped", "deleted"]],
  ["paused", ["paused", "active", "error"]],
  ["suspended", ["suspended", "active", "error"]],
  ["deleted", []],
]);

const MIGRATION_EDGES: ReadonlyMap<MigrationStatus, readonly MigrationStatus[]> = new Map<
  MigrationStatus,
  readonly MigrationStatus[]
>([
  ["accepted", ["pre-migrating", "preparing", "done", "failed", "error"]],
  // pre-migrating -> accepted: the chosen target failed and the flow reschedules; -> migrating: a cold
  // migration stopped its source.
  ["pre-migrating", ["accepted", "migrating", "done", "failed", "error"]],
  // A live migration: the target prepared, then the memory copied; completed once the guest runs there.
  ["preparing", ["running", "completed", "failed", "error"]],
  ["running", ["completed", "failed", "error"]],
  // A cold migration: the source stopped, the guest started on the target, then confirmed or reverted.
  ["migrating", ["post-migrating", "error"]],
  ["post-migrating", ["finished", "error"]],
  ["finished", ["confirming", "reverting", "error"]],
  ["confirming", ["confirmed", "error"]],
  ["reverting", ["reverted", "error"]],
  ["confirmed", []],
  ["reverted", []],
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

/** What of an instance record says who is ending the flow that holds its task (Instance.taskEnding). */
interface EndingView {
  uuid: string;
  taskRequestId: string | null;
  taskEnding: { requestId: string; by: string; at: string } | null;
}

/**
 * The ending of the instance's current task (shared/flow/task-ending.ts), null when nobody is ending it:
 * none taken, or the one recorded is an earlier task's (a released task leaves it stale).
 */
export function currentTaskEnding(i: EndingView): EndingView["taskEnding"] {
  return i.taskEnding && i.taskEnding.requestId === i.taskRequestId ? i.taskEnding : null;
}

/** Refuses (UnexpectedTaskState) while some party is ending the flow that holds the instance's task. */
export function assertNotBeingEnded(i: EndingView): void {
  const ending = currentTaskEnding(i);
  if (!ending) return;
  throw new UnexpectedTaskState(
    `instance ${i.uuid}: the flow of request ${ending.requestId} is being ended by ${ending.by}`,
    { instanceUuid: i.uuid, actualTaskRequestId: ending.requestId, endingBy: ending.by },
  );
}

/** Migration statuses while the flow that owns the migration runs: its claims and bindings are in use. */
export const MIGRATION_IN_FLIGHT = [
  "accepted",
  "pre-migrating",
  "preparing",
  "running",
  "migrating",
  "post-migrating",
  "confirming",
  "reverting",
] as const satisfies readonly MigrationStatus[];

/**
 * A finished cold migration waiting for its confirm or revert: no flow runs, but the instance keeps its
 * claim on the source (nova's resize reservation), so that a revert finds its room there.
 */
export const MIGRATION_AWAITING_CONFIRMATION = ["finished"] as const satisfies readonly MigrationStatus[];

/** Terminal migration statuses: the flow that owned the migration has ended. */
export const MIGRATION_ENDED: readonly MigrationStatus[] = MIGRATION_STATUSES.filter(
  (s) =>
    !(MIGRATION_IN_FLIGHT as readonly MigrationStatus[]).includes(s) &&
    !(MIGRATION_AWAITING_CONFIRMATION as readonly MigrationStatus[]).includes(s),
);

/** Whether the flow that owns a migration in this status still runs. */
export function isMigrationInFlight(status: MigrationStatus): boolean {
  return (MIGRATION_IN_FLIGHT as readonly MigrationStatus[]).includes(status);
}
