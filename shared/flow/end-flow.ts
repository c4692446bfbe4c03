/**
 * Ending a rebuild/evacuate flow that did not finish (nova's `_set_vm_state_and_notify` / the compute
 * manager's failure paths), used by the HandleFailure step and by the sweeper. What holds afterwards,
 * whatever step failed:
 *  - no task held: the instance's task_state is cleared and the migration is terminal;
 *  - no leaked claim: every claim this flow made is released, except on the host the record names
 *    (the instance lives there) and on a target not proven clean (a copy may be there: it stays claimed
 *    and the fault names it, so nothing else is placed on its resources and a later flow cleans it);
 *  - bindings on the instance's host: ports bound, and volume attachments live, on the host the record
 *    names and nowhere else;
 *  - a flow whose Finish already moved the record (it committed) is not undone: its migration is made
 *    `done` and the instance is left as it is, running where its record says;
 *  - one error notification per flow (its id is deterministic);
 *  - "fencing required" (an evacuation whose target refused the disk because the old copy still holds its
 *    lock, and whose target was then proven clean): not ERROR. The record keeps its host and vm_state (the
 *    copy there runs), the task is cleared, the target's claim released as above, the fault
 *    `FencingRequired` names the host holding the disk and what to do, and `fencingRequired` marks the
 *    state until an evacuation finishes. Evacuating again is allowed at once (it is refused again while
 *    the old copy runs).
 */
import { HostNotFound } from "../domain/errors.js";
import type { Instance, InstanceFault, Migration } from "../domain/schemas.js";
import {
  isMigrationInFlight,
  MIGRATION_TASK_STATES,
  REBUILD_TASK_STATES,
  type VmState,
} from "../domain/states.js";
import { bindingsOn } from "./bindings.js";
import type { StepDeps } from "./deps.js";
import type { FailureSummary } from "./flow-state.js";
import { type FlowEvent, notifyFlow } from "./notify.js";

export interface FlowEnding {
  requestId: string;
  instanceUuid: string;
  recreate: boolean;
  failure: FailureSummary;
  /** NoValidHost ends the migration `error` (nova); every other failure `failed`. */
  migrationStatus: "failed" | "error";
  /** A target this flow could not prove clean: its claim is kept and the fault says what to do. */
  uncleanHost: string | null;
  /** A rebuild that failed before anything was taken down keeps its vm_state (the domain still runs). */
  keepVmState: boolean;
  /** Hosts tried and given up on, for the fault. */
  attemptedHosts?: readonly string[];
  /**
   * The target refused the disk (DiskLocked) and was proven clean: the instance ends "fencing required"
   * instead of ERROR. `holder` is the host that still holds the disk (the record's), `target` the refuser.
   */
  fencingRequired?: { holder: string; target: string } | null;
  /**
   * A migrate flow (live or cold migration, or the revert of a cold one) ends here too: its own task
   * states, its migration record (a revert's is the migration it reverts), the vm_state it ends in (the
   * one the guest has where it stays, or error) and its own error notification. The instance's current
   * fault is set only when it ends in ERROR or a target keeps its claim (TargetNotClean); the faults table
   * keeps every one.
   */
  migrateFlow?: {
    migrationId: string;
    action: MigrateAction;
    vmState: VmState;
  } | null;
}

/** The flows of issue 32 that move a live instance: live migration, cold migration, its revert. */
export type MigrateAction = "live-migration" | "migration" | "revert";

/** nova's error notification of each migrate flow, and its words in a fault. */
const MIGRATE_ENDINGS: Record<MigrateAction, { eventType: FlowEvent; what: string }> = {
  "live-migration": { eventType: "instance.live_migration_rollback.end", what: "Live migration" },
  migration: { eventType: "instance.resize.error", what: "Migration" },
  revert: { eventType: "instance.resize_revert.error", what: "Revert of the migration" },
};

export type FlowEndOutcome =
  /** The instance is in ERROR (or its old vm_state), with a fault; the flow's claims and bindings undone. */
  | "ended-in-error"
  /** As ended-in-error, but the instance keeps its vm_state: "fencing required" (fault FencingRequired). */
  | "fencing-required"
  /** Finish had already moved the record to the target: the flow's work stands. */
  | "finished"
  /** The flow never took the instance (a refusal), or the task was already ended (by the sweeper). */
  | "not-owned";

export async function endFlow(deps: StepDeps, ending: FlowEnding): Promise<FlowEndOutcome> {
  const { instances, migrations } = deps.stores;
  const instance = await instances.get(ending.instanceUuid);
  if (!instance) return "not-owned";
  const migrate = ending.migrateFlow ?? null;
  const migrationId = migrate?.migrationId ?? ending.requestId;
  const migration = await migrations.get(migrationId);
  const open = migration !== null && isMigrationInFlight(migration.status);

  if (instance.lastRequestId === ending.requestId) {
    // A migrate flow that committed is completed by its own ending (shared/flow/migration-ending.ts).
    if (open && !migrate) await migrations.transition(ending.requestId, "done");
    return "finished";
  }
  if (instance.taskRequestId !== ending.requestId) return "not-owned";

  await releaseClaims(deps, instance, ending, migration);
  await bindingsOn(deps, instance, instance.host, ending.requestId);
  const fencing = ending.uncleanHost ? null : (ending.fencingRequired ?? null);
  const fault = fencing ? fencingFaultOf(deps, ending, fencing) : faultOf(deps, ending);
  if (open) {
    await migrations.transition(migrationId, ending.migrationStatus, {
      set: { error: `${ending.failure.error}: ${ending.failure.message}` },
    });
  }
  const vmState = migrate ? migrate.vmState : ending.keepVmState || fencing ? instance.vmState : "error";
  await instances.update(instance.uuid, {
    expectTaskState: migrate ? [...MIGRATION_TASK_STATES] : [...REBUILD_TASK_STATES],
    expectTaskRequestId: ending.requestId,
    set: {
      vmState,
      taskState: null,
      taskRequestId: null,
      taskExecutionArn: null,
      // A migrate flow that leaves the guest as it was sets no current fault, unless a host keeps its
      // claim because it was not proven clean (the fault names it, as the rebuild flow's does).
      fault: !migrate || vmState === "error" || ending.uncleanHost ? fault : instance.fault,
      fencingRequired: fencing
        ? {
            host: fencing.holder,
            refusedBy: fencing.target,
            requestId: ending.requestId,
            since: fault.createdAt,
          }
        : instance.fencingRequired,
      // The unproven target keeps this flow's claim; the next evacuation cleans it first (Schedule).
      uncleanTargets: ending.uncleanHost
        ? [
            ...instance.uncleanTargets.filter((t) => t.host !== ending.uncleanHost),
            { host: ending.uncleanHost, requestId: ending.requestId },
          ]
        : instance.uncleanTargets,
    },
  });
  await deps.stores.faults.record(instance.uuid, fault);
  await notifyFlow(
    deps,
    { requestId: ending.requestId, instanceUuid: instance.uuid },
    migrate ? MIGRATE_ENDINGS[migrate.action].eventType : "instance.rebuild.error",
    {
      action: migrate ? migrate.action : ending.recreate ? "evacuate" : "rebuild",
      step: ending.failure.step,
      error: ending.failure.error,
      message: ending.failure.message,
      unclean_host: ending.uncleanHost,
      fencing_required: fencing ? fencing.holder : null,
    },
  );
  return fencing ? "fencing-required" : "ended-in-error";
}

/**
 * Every claim this flow may hold, except on the instance's own host and on an unclean target. Schedule (and a
 * migrate flow's ScheduleMigration) names each host in the migration before it claims there (the destination,
 * then the hosts tried), so these are all: a few reads by key, never a read of every host. A release by owner
 * is a no-op where there is none (a revert, which claims nothing).
 */
async function releaseClaims(
  deps: StepDeps,
  instance: Instance,
  ending: FlowEnding,
  migration: Migration | null,
): Promise<void> {
  const named = new Set([
    ...(migration?.destHost ? [migration.destHost] : []),
    ...(migration?.attemptedHosts ?? []),
    ...(ending.attemptedHosts ?? []),
  ]);
  for (const host of named) {
    if (host === instance.host || host === ending.uncleanHost) continue;
    try {
      await deps.stores.hosts.release(host, instance.uuid, { owner: ending.requestId });
    } catch (e) {
      if (!(e instanceof HostNotFound)) throw e; // deregistered meanwhile: nothing of it to release
    }
  }
}

/** The fault of "fencing required": which host holds the disk, which target refused it, what to do. */
function fencingFaultOf(
  deps: StepDeps,
  ending: FlowEnding,
  fencing: { holder: string; target: string },
): InstanceFault {
  const { failure } = ending;
  return {
    code: 409,
    error: "FencingRequired",
    message:
      `Fencing required: evacuation to ${fencing.target} was refused because the instance's disk is still ` +
      `held by another process, the copy on ${fencing.holder} (its record's host), which is not proven dead. ` +
      `Starting it elsewhere would make two writers of one disk, so nothing was started and ${fencing.target} ` +
      `was cleaned. Power ${fencing.holder} off (or destroy the domain there), then evacuate again. ` +
      `(${failure.error}: ${failure.message})`,
    step: failure.step,
    details: {
      requestId: ending.requestId,
      migrationId: ending.requestId,
      attemptedHosts: ending.attemptedHosts ?? [],
      holder: fencing.holder,
      refusedBy: fencing.target,
      cause: failure.error,
    },
    createdAt: deps.now().toISOString(),
  };
}

function faultOf(deps: StepDeps, ending: FlowEnding): InstanceFault {
  const { failure, uncleanHost } = ending;
  const what = ending.migrateFlow
    ? MIGRATE_ENDINGS[ending.migrateFlow.action].what
    : ending.recreate
      ? "Evacuation"
      : "Rebuild";
  const message = uncleanHost
    ? `${what} failed at ${failure.step} (${failure.error}: ${failure.message}). Host ${uncleanHost} may still ` +
      `hold a copy of this instance and could not be cleaned, so no other host was tried. ` +
      (ending.migrateFlow
        ? `Destroy and undefine the domain on ${uncleanHost} once it answers, then migrate again.`
        : `Evacuate again once ${uncleanHost} answers (Lazarus cleans it first), or destroy and undefine the domain there by hand.`)
    : failure.message;
  return {
    code: uncleanHost ? 409 : 500,
    error: uncleanHost ? "TargetNotClean" : failure.error,
    message,
    step: failure.step,
    details: {
      requestId: ending.requestId,
      migrationId: ending.migrateFlow?.migrationId ?? ending.requestId,
      attemptedHosts: ending.attemptedHosts ?? [],
      ...(uncleanHost ? { uncleanHost, cause: failure.error } : {}),
    },
    createdAt: deps.now().toISOString(),
  };
}
