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
import { deterministicUuid } from "../domain/ids.js";
import type { Instance, InstanceFault, Migration } from "../domain/schemas.js";
import { isMigrationInFlight, REBUILD_TASK_STATES } from "../domain/states.js";
import { activeAttachment } from "../store/index.js";
import type { StepDeps } from "./deps.js";
import type { FailureSummary } from "./flow-state.js";
import { notifyFlow } from "./notify.js";

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
}

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
  const migration = await migrations.get(ending.requestId);
  const open = migration !== null && isMigrationInFlight(migration.status);

  if (instance.lastRequestId === ending.requestId) {
    if (open) await migrations.transition(ending.requestId, "done");
    return "finished";
  }
  if (instance.taskRequestId !== ending.requestId) return "not-owned";

  await releaseClaims(deps, instance, ending, migration);
  await rollBackBindings(deps, instance, ending.requestId);
  const fencing = ending.uncleanHost ? null : (ending.fencingRequired ?? null);
  const fault = fencing ? fencingFaultOf(deps, ending, fencing) : faultOf(deps, ending);
  if (open) {
    await migrations.transition(ending.requestId, ending.migrationStatus, {
      set: { error: `${ending.failure.error}: ${ending.failure.message}` },
    });
  }
  await instances.update(instance.uuid, {
    expectTaskState: [...REBUILD_TASK_STATES],
    expectTaskRequestId: ending.requestId,
    set: {
      vmState: ending.keepVmState || fencing ? instance.vmState : "error",
      taskState: null,
      taskRequestId: null,
      taskExecutionArn: null,
      fault,
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
    "instance.rebuild.error",
    {
      action: ending.recreate ? "evacuate" : "rebuild",
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
 * Every claim this flow may hold, except on the instance's own host and on an unclean target. Schedule names
 * each host in the migration before it claims there (the destination, then the hosts tried), so these are
 * all: a few reads by key, never a read of every host. A release by owner is a no-op where there is none.
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

/** Ports bound to, and volumes attached on, the host the instance record names, and nowhere else. */
async function rollBackBindings(deps: StepDeps, instance: Instance, requestId: string): Promise<void> {
  for (const portId of instance.ports) {
    const port = await deps.stores.ports.require(portId);
    if (port.bindingHost !== instance.host) await deps.stores.ports.bind(portId, instance.host);
  }
  for (const bdm of instance.volumes) {
    const volume = await deps.stores.volumes.endAttachments(bdm.volumeId, {
      instanceUuid: instance.uuid,
      exceptHost: instance.host,
    });
    const live = activeAttachment(volume);
    if (live?.host === instance.host && live.instanceUuid === instance.uuid) continue;
    await deps.stores.volumes.attach(bdm.volumeId, {
      attachmentId: deterministicUuid(requestId, "restore", instance.host, bdm.volumeId),
      instanceUuid: instance.uuid,
      host: instance.host,
      device: bdm.device,
    });
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
  const what = ending.recreate ? "Evacuation" : "Rebuild";
  const message = uncleanHost
    ? `${what} failed at ${failure.step} (${failure.error}: ${failure.message}). Host ${uncleanHost} may still ` +
      `hold a copy of this instance and could not be cleaned, so no other host was tried. Evacuate again once ` +
      `${uncleanHost} answers (Lazarus cleans it first), or destroy and undefine the domain there by hand.`
    : failure.message;
  return {
    code: uncleanHost ? 409 : 500,
    error: uncleanHost ? "TargetNotClean" : failure.error,
    message,
    step: failure.step,
    details: {
      requestId: ending.requestId,
      migrationId: ending.requestId,
      attemptedHosts: ending.attemptedHosts ?? [],
      ...(uncleanHost ? { uncleanHost, cause: failure.error } : {}),
    },
    createdAt: deps.now().toISOString(),
  };
}
