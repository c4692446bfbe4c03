/**
 * How a migrate flow that did not finish ends (issue 32), for its HandleFailure step and for the sweeper:
 * the rebuild flow's invariants (one copy, no held task, no leaked claim, bindings on the instance's host)
 * with the guest running (or STOPPED as it was) on exactly one host.
 *
 * Before any host was acted on (Accept, Schedule, the target checks), the flow ends as the rebuild flow's
 * refusals do: task cleared, its claims released, the instance as it was. After that, both hosts are asked
 * where the guest is (the domain-state probe) and `settleMigration` decides (shared/domain/migration.ts):
 *  - it runs on the other host: the move happened (a later step failed), so the flow commits there
 *    (`commitMove`) and ends as finished; a paused or stopped leftover at home is removed;
 *  - otherwise it stays on (or goes back to) the host its record names: the other host is cleaned, the
 *    guest resumed, started again or defined again at home as it was, and the flow ends failed with the
 *    instance in its vm_state (ERROR only when it could not be brought back);
 *  - a host that does not answer is never assumed empty: the other host keeps its claim and the fault
 *    names it (TargetNotClean), nothing is started; a record's host that does not answer is left to the
 *    host-failure flow (its instance keeps its vm_state, so a host evacuation picks it up).
 * Its own handler, a host evacuation and the sweeper may all end one flow: only the one that holds the
 * ending (shared/flow/task-ending.ts) asks the hosts and acts.
 */
import { LazarusError } from "../domain/errors.js";
import { type GuestSeen, type Settlement, settleMigration, vmStateOfPower } from "../domain/migration.js";
import type { Host, Instance, Migration } from "../domain/schemas.js";
import { isMigrationTask, type VmState } from "../domain/states.js";
import type { HostCommand } from "../hosts/host-command.js";
import { hostTarget } from "../hosts/layout.js";
import { probeDomainState } from "../hosts/probes.js";
import { removeDomain, startDomain } from "../hosts/virsh.js";
import { defineGuest } from "./define-guest.js";
import type { StepDeps } from "./deps.js";
import { endFlow } from "./end-flow.js";
import type { FailureSummary } from "./flow-state.js";
import { commitMove } from "./migration-commit.js";
import type { MigrateOperation } from "./migration-contract.js";
import { cleanTarget } from "./target-cleanup.js";
import { takeTaskEnding } from "./task-ending.js";

/** Errors that refuse a migration before it began. */
const REFUSED_BEFORE_START = ["NoValidHost", "MigrationPreCheckFailed", "InstanceExists"];

export interface MigrationFailure {
  requestId: string;
  instanceUuid: string;
  operation: MigrateOperation;
  /** The migration record: the request's own, or the migration a revert undoes. */
  migrationId: string;
  failure: FailureSummary;
  /** A step that acts on a host ran (or may have: a timed-out command counts); false: no host is asked. */
  touchedHosts: boolean;
  attemptedHosts?: readonly string[];
  /**
   * Who ends it (shared/flow/task-ending.ts): the flow's own execution ARN, a host evacuation's, or
   * "sweeper"; `takeOver`: whether it takes the ending over from a holder that can no longer act.
   */
  ender: { by: string; takeOver: boolean };
}

export interface MigrationEnding {
  /**
   * finished: the move stands (committed); ended: failed, the guest where it was; ended-in-error: ERROR;
   * not-owned: the task is no longer the flow's; held: another ender is ending it (`heldBy`).
   */
  outcome: "finished" | "ended" | "ended-in-error" | "not-owned" | "held";
  heldBy?: string;
  /** Where each host said the guest was, when they were asked. */
  seen?: { home: GuestSeen; away: GuestSeen };
  settlement?: Settlement;
  uncleanHost?: string | null;
}

export async function endMigration(deps: StepDeps, f: MigrationFailure): Promise<MigrationEnding> {
  const { instances, migrations, hosts } = deps.stores;
  const read = await instances.get(f.instanceUuid);
  const migration = await migrations.get(f.migrationId);
  if (!read) return { outcome: "not-owned" };
  if (read.lastRequestId === f.requestId && migration) {
    // The record moved (Commit's write), a later part of the commit failed: finish it.
    await commitMove(deps, commitOf(f, read.host, read.powerState));
    return { outcome: "finished" };
  }
  // Only one ender acts on the hosts (shared/flow/task-ending.ts); from here on, while it holds the ending,
  // no other ender can release the task and so no other flow can take the instance.
  const taken = await takeTaskEnding(deps, {
    instanceUuid: f.instanceUuid,
    requestId: f.requestId,
    ender: f.ender.by,
    takeOver: f.ender.takeOver,
  });
  if (taken.kind === "not-owned") return { outcome: "not-owned" };
  if (taken.kind === "held") return { outcome: "held", heldBy: taken.by };
  const instance = taken.instance;
  const awayName = migration ? (f.operation === "revert" ? migration.sourceHost : migration.destHost) : null;
  const away = awayName && awayName !== instance.host ? await hosts.get(awayName) : null;
  const ranBefore = vmStateOfPower(instance.powerState) === "active";
  if (!f.touchedHosts || !away || !migration) {
    return end(deps, f, instance, migration, {
      vmState: endingVmState(f, instance, ranBefore),
      uncleanHost: null,
    });
  }
  const home = await hosts.get(instance.host);
  const seen = {
    home: home ? await look(deps, home, instance) : ("unknown" as const),
    away: await look(deps, away, instance),
  };
  const settlement = settleMigration(seen, ranBefore);
  switch (settlement.kind) {
    case "moved": {
      if (settlement.removeAtHome && home)
        await tryRun(deps, home, removeDomain(instance.uuid), "remove leftover");
      await commitMove(deps, commitOf(f, away.name, "running"));
      return { outcome: "finished", seen, settlement };
    }
    case "home": {
      let unclean: string | null = null;
      if (settlement.cleanAway) {
        try {
          await cleanTarget(deps, away, instance, { removeInstanceDir: false });
        } catch {
          unclean = away.name;
        }
      }
      // `home` answered the probe (settleMigration gives `home` only then), so its record exists. Nothing
      // is started there while the other host, not proven clean, may hold a copy.
      const restored =
        settlement.restore === "none" ||
        (unclean === null &&
          home !== null &&
          (await restoreHome(deps, home, instance, settlement.restore, ranBefore)));
      const vmState = restored ? endingVmState(f, instance, ranBefore) : "error";
      const ending = await end(
        deps,
        f,
        instance,
        migration,
        { vmState, uncleanHost: unclean },
        restored ? null : "the guest could not be started again on its host",
      );
      return { ...ending, seen, settlement };
    }
    case "unclean-away": {
      const vmState = settlement.homeRuns ? endingVmState(f, instance, ranBefore) : "error";
      const ending = await end(deps, f, instance, migration, { vmState, uncleanHost: away.name });
      return { ...ending, seen, settlement };
    }
    case "home-unreachable": {
      if (settlement.cleanAway) {
        try {
          await cleanTarget(deps, away, instance, { removeInstanceDir: false });
        } catch {
          const ending = await end(deps, f, instance, migration, {
            vmState: instance.vmState,
            uncleanHost: away.name,
          });
          return { ...ending, seen, settlement };
        }
      }
      // The record's host may be dead: its instance keeps its vm_state, and a host evacuation takes it.
      const ending = await end(deps, f, instance, migration, {
        vmState: endingVmState(f, instance, ranBefore),
        uncleanHost: null,
      });
      return { ...ending, seen, settlement };
    }
  }
}

/**
 * The migrate flow that holds `instance`'s task, read from the records (for those that end it without
 * its flow state: the sweeper, a host evacuation): its operation and its migration (a revert's is the
 * migration whose follow-ups name the task's request). null: no migrate flow holds it.
 */
export async function migrationOfTask(
  stores: StepDeps["stores"],
  instance: Instance,
): Promise<{ requestId: string; operation: MigrateOperation; migrationId: string } | null> {
  const requestId = instance.taskRequestId;
  if (!requestId || !isMigrationTask(instance.taskState)) return null;
  if (instance.taskState === "resize_reverting") {
    const all = await stores.migrations.listByInstance(instance.uuid);
    const undone = all.find((m) => m.followUps.some((u) => u.requestId === requestId));
    return undone ? { requestId, operation: "revert", migrationId: undone.id } : null;
  }
  const own = await stores.migrations.get(requestId);
  if (own?.type !== "live-migration" && own?.type !== "migration") return null;
  return { requestId, operation: own.type, migrationId: own.id };
}

function commitOf(f: MigrationFailure, to: string, powerState: Instance["powerState"]) {
  return {
    operation: f.operation,
    requestId: f.requestId,
    migrationId: f.migrationId,
    instanceUuid: f.instanceUuid,
    to,
    powerState,
  };
}

/** The vm_state the instance keeps where it stays: as it was; a revert's leaves VERIFY_RESIZE for good. */
function endingVmState(f: MigrationFailure, instance: Instance, ranBefore: boolean): VmState {
  if (f.operation !== "revert") return instance.vmState;
  return ranBefore ? "active" : "stopped";
}

/** What the host says of the guest's domain, `unknown` when it does not answer. */
async function look(deps: StepDeps, host: Host, instance: Instance): Promise<GuestSeen> {
  try {
    return await probeDomainState(deps.executor, hostTarget(host), instance.uuid, {
      comment: `where is ${instance.uuid} (migration ${instance.taskRequestId})`,
    });
  } catch {
    return "unknown";
  }
}

async function tryRun(deps: StepDeps, host: Host, command: HostCommand, comment: string): Promise<boolean> {
  try {
    await deps.executor.run(hostTarget(host), command, { comment });
    return true;
  } catch {
    return false;
  }
}

/** The guest at home as it was: resumed or started again, or defined again from the records. */
async function restoreHome(
  deps: StepDeps,
  home: Host,
  instance: Instance,
  restore: "none" | "start" | "define",
  ranBefore: boolean,
): Promise<boolean> {
  if (restore === "none") return true;
  if (restore === "start") return tryRun(deps, home, startDomain(instance.uuid), `restart ${instance.uuid}`);
  try {
    await defineGuest(deps, {
      instance,
      host: home,
      start: ranBefore,
      absent: false,
      lockRefusalIsCopy: false,
    });
    return true;
  } catch (e) {
    if (e instanceof LazarusError) return false;
    throw e;
  }
}

async function end(
  deps: StepDeps,
  f: MigrationFailure,
  instance: Instance,
  migration: Migration | null,
  how: { vmState: VmState; uncleanHost: string | null },
  why: string | null = null,
): Promise<MigrationEnding> {
  const failure = why ? { ...f.failure, message: `${f.failure.message}; then ${why}` } : f.failure;
  const outcome = await endFlow(deps, {
    requestId: f.requestId,
    instanceUuid: f.instanceUuid,
    recreate: false,
    failure,
    // nova: a live migration refused before it began (no host, a pre-check) is `error`, one that failed
    // under way `failed`; a cold migration's failure, and a revert's, `error`.
    migrationStatus:
      f.operation === "live-migration" && !REFUSED_BEFORE_START.includes(f.failure.error)
        ? "failed"
        : "error",
    uncleanHost: how.uncleanHost,
    keepVmState: true,
    attemptedHosts: f.attemptedHosts ?? [],
    migrateFlow: { migrationId: f.migrationId, action: f.operation, vmState: how.vmState },
  });
  // A revert that ends on the migration's target gives up the source's reserved claim: no revert follows.
  if (
    f.operation === "revert" &&
    migration &&
    migration.sourceHost !== instance.host &&
    migration.sourceHost !== how.uncleanHost
  ) {
    await deps.stores.hosts.release(migration.sourceHost, instance.uuid);
  }
  if (outcome === "not-owned") return { outcome: "not-owned", uncleanHost: how.uncleanHost };
  return { outcome: how.vmState === "error" ? "ended-in-error" : "ended", uncleanHost: how.uncleanHost };
}
