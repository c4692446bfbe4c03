/**
 * The commit of a migrate flow (issue 32): the guest runs (or is defined, when it was STOPPED) on `to`, so
 * the records follow it there. Ports and volume attachments first, then the one conditional write that
 * moves the instance record (host, task cleared, `lastRequestId`: the commit point), then the claims, the
 * migration status and the notification. Used by the Commit step, and by the failure handler and the
 * sweeper when they find the guest running where the flow was taking it (the move happened, a later step
 * failed). Safe to run again at any point: each part is idempotent, and the record is moved once.
 *
 *  - live migration: ACTIVE on the target; the source's claim released (the source holds nothing);
 *    migration `completed`.
 *  - cold migration: VERIFY_RESIZE (vm_state `resized`) on the target; the source keeps its claim (nova's
 *    resize reservation: a revert finds its room there) until the confirm; migration `finished`.
 *  - revert: back on the migration's source in the power state it had; the target's claim released;
 *    migration `reverted`.
 */
import { vmStateOfPower } from "../domain/migration.js";
import type { Instance } from "../domain/schemas.js";
import { MIGRATION_TASK_STATES, type MigrationStatus, type PowerState } from "../domain/states.js";
import { bindingsOn } from "./bindings.js";
import type { StepDeps } from "./deps.js";
import type { MigrateOperation } from "./migration-contract.js";
import { type FlowEvent, notifyFlow } from "./notify.js";

export interface MoveCommit {
  operation: MigrateOperation;
  requestId: string;
  migrationId: string;
  instanceUuid: string;
  /** Where the guest is now. */
  to: string;
  /** Its power state there. */
  powerState: PowerState;
}

/** Each operation's statuses in order, up to the one its commit ends in (the last). */
const STATUS_WALK: Record<MigrateOperation, readonly MigrationStatus[]> = {
  "live-migration": ["accepted", "preparing", "running", "completed"],
  migration: ["accepted", "pre-migrating", "migrating", "post-migrating", "finished"],
  revert: ["reverting", "reverted"],
};

const COMMIT_EVENT: Record<MigrateOperation, FlowEvent> = {
  "live-migration": "instance.live_migration_post.end",
  migration: "instance.resize_finish.end",
  revert: "instance.resize_revert.end",
};

/** Moves a migration along its operation's walk, from where it is to `to` (each step checked by states.ts). */
export async function walkMigration(
  deps: Pick<StepDeps, "stores">,
  operation: MigrateOperation,
  migrationId: string,
  to: MigrationStatus,
  set: { destHost?: string; destNode?: string } = {},
): Promise<void> {
  const walk = STATUS_WALK[operation];
  const current = (await deps.stores.migrations.require(migrationId)).status;
  const from = walk.indexOf(current);
  const until = walk.indexOf(to);
  if (from < 0 || until < 0) {
    // Not on the walk (already ended another way): the transition checks say why.
    await deps.stores.migrations.transition(migrationId, to, { set });
    return;
  }
  for (const status of walk.slice(from + 1, until + 1)) {
    await deps.stores.migrations.transition(migrationId, status, { set });
  }
}

export async function commitMove(deps: StepDeps, c: MoveCommit): Promise<Instance> {
  const { instances, migrations, hosts } = deps.stores;
  let instance = await instances.require(c.instanceUuid);
  const migration = await migrations.require(c.migrationId);
  if (instance.lastRequestId !== c.requestId) {
    await bindingsOn(deps, instance, c.to, c.requestId);
    instance = await instances.update(
      c.instanceUuid,
      {
        expectTaskState: [...MIGRATION_TASK_STATES],
        expectTaskRequestId: c.requestId,
        set: {
          host: c.to,
          node: c.to,
          vmState: c.operation === "migration" ? "resized" : vmStateOfPower(c.powerState),
          powerState: c.powerState,
          taskState: null,
          taskRequestId: null,
          taskExecutionArn: null,
          lastRequestId: c.requestId,
        },
      },
      instance,
    );
  }
  // The claim the instance no longer needs: the live migration's source, the reverted target's.
  const releaseOn =
    c.operation === "live-migration"
      ? migration.sourceHost
      : c.operation === "revert"
        ? migration.destHost
        : null;
  if (releaseOn && releaseOn !== c.to) await hosts.release(releaseOn, c.instanceUuid);
  const done = STATUS_WALK[c.operation].at(-1)!;
  await walkMigration(
    deps,
    c.operation,
    c.migrationId,
    done,
    c.operation === "revert" ? {} : { destHost: c.to, destNode: c.to },
  );
  await notifyFlow(
    deps,
    { requestId: c.requestId, instanceUuid: c.instanceUuid, migrationId: c.migrationId },
    COMMIT_EVENT[c.operation],
    { host: c.to, source_host: migration.sourceHost, dest_host: migration.destHost },
  );
  return instance;
}

/**
 * nova's confirmResize: the finished cold migration stands. The source's reserved claim is released and the
 * instance leaves VERIFY_RESIZE for the vm_state its guest's power state says (ACTIVE or STOPPED); the
 * migration `confirmed`. Moving the migration finished -> confirming comes first: it is what a racing
 * revert (finished -> reverting) loses to, and a confirm repeated after a crash resumes from it.
 */
export async function confirmResize(
  deps: Pick<StepDeps, "stores" | "notifier" | "now" | "sleep">,
  c: { instanceUuid: string; migrationId: string; requestId: string },
): Promise<Instance> {
  const { instances, migrations, hosts } = deps.stores;
  let migration = await migrations.require(c.migrationId);
  if (migration.status === "finished") {
    migration = await migrations.transition(c.migrationId, "confirming", {
      set: {
        followUps: [
          ...migration.followUps,
          { action: "confirmResize", requestId: c.requestId, at: deps.now().toISOString() },
        ],
      },
    });
  }
  let instance = await instances.require(c.instanceUuid);
  if (migration.status === "confirmed") return instance;
  if (instance.host !== migration.sourceHost) await hosts.release(migration.sourceHost, c.instanceUuid);
  if (instance.vmState === "resized") {
    instance = await instances.update(
      c.instanceUuid,
      {
        expectTaskState: [null],
        expectVmState: ["resized"],
        set: { vmState: vmStateOfPower(instance.powerState) },
      },
      instance,
    );
  }
  await migrations.transition(c.migrationId, "confirmed");
  await notifyFlow(
    deps,
    { requestId: c.requestId, instanceUuid: c.instanceUuid, migrationId: c.migrationId },
    "instance.resize_confirm.end",
    { host: instance.host, source_host: migration.sourceHost },
  );
  return instance;
}
