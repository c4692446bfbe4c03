/**
 * nova's API checks of `live_migrate`, `migrate` (a resize to the same flavor), `confirmResize` and
 * `revertResize` (compute/api.py), as pure functions over the records they read. The migrate machine's
 * Accept runs them right before the conditional write that takes the instance; the API runs them before
 * it starts a flow (or confirms), so a request that would be refused is refused synchronously.
 */
import {
  ComputeServiceUnavailable,
  HostNotFound,
  InstanceInvalidState,
  InstanceIsLocked,
  InvalidTargetHost,
  MigrationNotFound,
  MigrationPreCheckFailed,
} from "../domain/errors.js";
import { isHostUp } from "../domain/host-liveness.js";
import { migratableVmStates, unmovableDisk } from "../domain/migration.js";
import type { Host, Instance, Migration } from "../domain/schemas.js";
import type { Stores } from "../store/index.js";
import { assertInstanceCan } from "./admission.js";
import type { MigrateRequest } from "./migration-contract.js";

export type MigrationAsk = Pick<MigrateRequest, "live" | "targetHost">;

export interface MigrationFacts {
  instance: Instance;
  /** The instance's host record (null: it does not exist). */
  source: Host | null;
  /** The requested target's record; null when none was requested or it does not exist. */
  target: Host | null;
  now: Date;
  serviceDownSeconds: number;
}

export async function readMigrationFacts(
  stores: Pick<Stores, "hosts">,
  ask: MigrationAsk,
  instance: Instance,
  clock: { now: Date; serviceDownSeconds: number },
): Promise<MigrationFacts> {
  const wantsTarget = ask.targetHost !== null && ask.targetHost !== instance.host;
  const [source, target] = await Promise.all([
    stores.hosts.get(instance.host),
    wantsTarget ? stores.hosts.get(ask.targetHost!) : Promise.resolve(null),
  ]);
  return { instance, source, target, ...clock };
}

/** Throws the refusal nova would answer with; returns when the migration may take the instance. */
export function assertMigratable(ask: MigrationAsk, facts: MigrationFacts): void {
  const { instance, source } = facts;
  const action = ask.live ? "live_migrate" : "migrate";
  assertInstanceCan(action, instance, migratableVmStates(ask.live));
  if (instance.locked)
    throw new InstanceIsLocked(`Instance ${instance.uuid} is locked`, { instanceUuid: instance.uuid });
  if (!source) throw new HostNotFound(`Compute host ${instance.host} not found.`);
  if (!isHostUp(source, facts.now, facts.serviceDownSeconds)) {
    // A migration needs its source to act (stop the guest, send it); a dead host's instances are evacuated.
    throw new ComputeServiceUnavailable(
      `Compute service of ${source.name} is down: its instances are evacuated, not migrated.`,
      { host: source.name },
    );
  }
  const disk = unmovableDisk(instance, source);
  if (disk)
    throw new MigrationPreCheckFailed(`Migration pre-check error: instance ${instance.uuid}: ${disk}.`);
  if (ask.targetHost !== null) {
    if (ask.targetHost === instance.host)
      throw new InvalidTargetHost(
        `Unable to migrate instance (${instance.uuid}) to current host (${instance.host}).`,
      );
    if (!facts.target) throw new HostNotFound(`Compute host ${ask.targetHost} not found.`);
    if (ask.live && facts.target.liveMigration === null) {
      throw new MigrationPreCheckFailed(
        `Migration pre-check error: host ${facts.target.name} takes no live migration (it has no live-migration settings).`,
        { host: facts.target.name },
      );
    }
  }
}

/**
 * confirmResize / revertResize: the instance waits in VERIFY_RESIZE (vm_state resized, no task) and
 * `migration` is its finished cold migration. Returns that migration.
 */
export function assertResizeFollowUp(
  action: "confirmResize" | "revertResize",
  instance: Instance,
  migration: Migration | null,
): Migration {
  if (instance.vmState !== "resized" || instance.taskState !== null) {
    // Not (or no longer) waiting for a confirm or revert.
    throw new InstanceInvalidState(
      `Cannot '${action}' instance ${instance.uuid} while it is in vm_state ${instance.vmState}${instance.taskState ? ` and task_state ${instance.taskState}` : ""}`,
      { vmState: instance.vmState, taskState: instance.taskState },
    );
  }
  if (!migration || migration.instanceUuid !== instance.uuid || migration.type !== "migration") {
    throw new MigrationNotFound(`Instance ${instance.uuid} has no finished migration to ${action}.`, {
      instanceUuid: instance.uuid,
    });
  }
  // A confirm repeated after a crash finds its own migration `confirming` and resumes it.
  const waiting = action === "confirmResize" ? ["finished", "confirming"] : ["finished"];
  if (!waiting.includes(migration.status)) {
    throw new InstanceInvalidState(
      `Cannot '${action}': migration ${migration.id} of instance ${instance.uuid} is ${migration.status}, not finished`,
      { migrationId: migration.id, status: migration.status },
    );
  }
  return migration;
}

/** The instance's cold migration that waits for a confirm or revert (the newest one), or null. */
export async function finishedMigrationOf(
  stores: Pick<Stores, "migrations">,
  instanceUuid: string,
): Promise<Migration | null> {
  const all = await stores.migrations.listByInstance(instanceUuid);
  return (
    all
      .filter((m) => m.type === "migration" && (m.status === "finished" || m.status === "confirming"))
      .at(-1) ?? null
  );
}
