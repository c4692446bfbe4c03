/**
 * The migrate machine's entry (nova's compute/api.py `live_migrate`, `resize` without a new flavor,
 * `revertResize`): parse the request (strict), run the admission checks (shared with the API, which runs
 * them before it starts the flow), then take the instance with one conditional write expecting no task
 * (live: `migrating`; cold: `resize_prep`; revert: `resize_reverting`), record the migration (its id is
 * the request id; a revert moves the finished migration it undoes to `reverting`) and notify. A refusal
 * changes nothing; a failure after the take is caught by the machine and ended by HandleFailure.
 */
import { InstanceNotFound, InvalidInput } from "#shared/domain/errors.js";
import type { Instance, Migration } from "#shared/domain/schemas.js";
import type { TaskState } from "#shared/domain/states.js";
import type { AcceptInput } from "#shared/flow/contract.js";
import type { StepDeps } from "#shared/flow/deps.js";
import {
  assertMigratable,
  assertResizeFollowUp,
  readMigrationFacts,
} from "#shared/flow/migration-admission.js";
import { MigrateRequest, type MigrationFlow } from "#shared/flow/migration-contract.js";
import { ensureMigrationRecord } from "#shared/flow/migration-record.js";
import { notifyFlow } from "#shared/flow/notify.js";
import { parseOrInvalid } from "#shared/flow/parse.js";

export async function acceptMigration(deps: StepDeps, input: AcceptInput): Promise<MigrationFlow> {
  const req = parseOrInvalid(MigrateRequest, input.request, "request");
  const instance = await deps.stores.instances.get(req.instanceUuid);
  if (!instance) throw new InstanceNotFound(`Instance ${req.instanceUuid} could not be found.`);
  return req.action === "revert"
    ? acceptRevert(deps, req, instance, input.executionArn)
    : acceptMove(deps, req, instance, input.executionArn);
}

async function acceptMove(
  deps: StepDeps,
  req: MigrateRequest,
  instance: Instance,
  executionArn: string,
): Promise<MigrationFlow> {
  if (req.migrationId !== null)
    throw new InvalidInput("a migration names no earlier migration (that is a revert)");
  const operation = req.live ? "live-migration" : "migration";
  const retried = instance.taskState !== null && instance.taskRequestId === req.requestId;
  let taken = instance;
  if (!retried) {
    const clock = { now: deps.now(), serviceDownSeconds: deps.serviceDownSeconds };
    assertMigratable(req, await readMigrationFacts(deps.stores, req, instance, clock));
    taken = await take(deps, instance, req.requestId, req.live ? "migrating" : "resize_prep", executionArn);
  }
  await ensureMigrationRecord(deps, {
    id: req.requestId,
    instance,
    type: operation,
    destHost: req.targetHost,
    destNode: req.targetHost,
    executionArn,
  });
  if (!retried) {
    await notifyFlow(
      deps,
      { requestId: req.requestId, instanceUuid: instance.uuid },
      req.live ? "instance.live_migration_pre.start" : "instance.resize_prep.start",
      { host: instance.host, target_host: req.targetHost },
    );
  }
  return flowOf(req, taken, executionArn, { operation, migrationId: req.requestId, destHost: null });
}

/**
 * revertResize: the finished migration moves to `reverting` first (a racing confirm moves it to
 * `confirming`: one of the two wins), then the instance is taken. The flow goes from where the instance
 * is (the migration's target) back to the migration's source.
 */
async function acceptRevert(
  deps: StepDeps,
  req: MigrateRequest,
  instance: Instance,
  executionArn: string,
): Promise<MigrationFlow> {
  if (!req.migrationId) throw new InvalidInput("a revert names the migration it undoes (migrationId)");
  let migration: Migration | null = await deps.stores.migrations.get(req.migrationId);
  const retried = instance.taskState !== null && instance.taskRequestId === req.requestId;
  let taken = instance;
  if (!retried) {
    const mine = migration?.followUps.some((u) => u.requestId === req.requestId) ?? false;
    if (!(mine && migration?.status === "reverting")) {
      migration = assertResizeFollowUp("revertResize", instance, migration);
      migration = await deps.stores.migrations.transition(migration.id, "reverting", {
        set: {
          followUps: [
            ...migration.followUps,
            { action: "revertResize", requestId: req.requestId, at: deps.now().toISOString() },
          ],
        },
      });
    }
    taken = await take(deps, instance, req.requestId, "resize_reverting", executionArn);
    await notifyFlow(
      deps,
      { requestId: req.requestId, instanceUuid: instance.uuid, migrationId: req.migrationId },
      "instance.resize_revert.start",
      { host: instance.host, target_host: migration!.sourceHost },
    );
  }
  const m = migration ?? (await deps.stores.migrations.require(req.migrationId));
  return flowOf(req, taken, executionArn, {
    operation: "revert",
    migrationId: m.id,
    destHost: m.sourceHost,
  });
}

/** The conditional write that takes the instance: no task before, this request's task after. */
function take(
  deps: StepDeps,
  instance: Instance,
  requestId: string,
  taskState: TaskState,
  executionArn: string,
): Promise<Instance> {
  return deps.stores.instances.update(instance.uuid, {
    expectTaskState: [null],
    expectVersion: instance.version,
    set: { taskState, taskRequestId: requestId, taskExecutionArn: executionArn },
  });
}

function flowOf(
  req: MigrateRequest,
  instance: Instance,
  executionArn: string,
  f: Pick<MigrationFlow, "operation" | "migrationId" | "destHost">,
): MigrationFlow {
  return {
    ...req,
    ...f,
    executionArn,
    sourceHost: instance.host,
    originalVmState: instance.vmState,
    originalPowerState: instance.powerState,
    attemptedHosts: [],
  };
}
