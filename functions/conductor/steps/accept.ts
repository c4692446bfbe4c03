/**
 * The API's checks and the conductor's entry (handout steps 1-4): load the instance, check vm_state and
 * task_state, for evacuate prove the source is down and the target is sane, then take the instance with
 * `task_state := rebuilding` expecting none, and record the migration. A refusal here changes nothing.
 * The checks themselves are `assertAdmissible` (shared with the API, which runs them before it starts a flow).
 */
import { InstanceNotFound } from "#shared/domain/errors.js";
import type { Instance } from "#shared/domain/schemas.js";
import { assertAdmissible, readAdmissionFacts } from "#shared/flow/admission.js";
import type { AcceptedFlow, FlowState } from "#shared/flow/contract.js";
import type { StepDeps } from "#shared/flow/deps.js";
import { notifyFlow } from "#shared/flow/notify.js";

export async function accept(deps: StepDeps, req: FlowState): Promise<AcceptedFlow> {
  const { instances } = deps.stores;
  const instance = await instances.get(req.instanceUuid);
  if (!instance) throw new InstanceNotFound(`Instance ${req.instanceUuid} could not be found.`);

  if (instance.taskState !== null && instance.taskRequestId === req.requestId) {
    // This request already took the instance: Accept ran before and its result was lost (a retry).
    await ensureMigration(deps, req, instance);
    return accepted(req, instance);
  }

  const clock = { now: deps.now(), serviceDownSeconds: deps.serviceDownSeconds };
  assertAdmissible(req, await readAdmissionFacts(deps.stores, req, instance, clock));

  const taken = await instances.update(instance.uuid, {
    expectTaskState: [null],
    expectVersion: instance.version,
    set: { taskState: "rebuilding", taskRequestId: req.requestId },
  });
  await ensureMigration(deps, req, taken);
  await notifyFlow(deps, req, "start", { host: instance.host, target_host: req.targetHost });
  return accepted(req, taken);
}

function accepted(req: FlowState, instance: Instance): AcceptedFlow {
  return {
    ...req,
    migrationId: req.requestId,
    sourceHost: instance.host,
    originalImageRef: instance.imageRef,
    originalVmState: instance.vmState,
    originalPowerState: instance.powerState,
    attemptedHosts: req.attemptedHosts ?? [],
  };
}

/** The migration record (nova's tombstone of the request); its id is the request id, so a retry finds it. */
async function ensureMigration(deps: StepDeps, req: FlowState, instance: Instance): Promise<void> {
  if (await deps.stores.migrations.get(req.requestId)) return;
  const at = deps.now().toISOString();
  await deps.stores.migrations.create({
    id: req.requestId,
    instanceUuid: instance.uuid,
    type: req.recreate ? ("evacuation" as const) : ("rebuild" as const),
    sourceHost: instance.host,
    sourceNode: instance.node,
    destHost: req.recreate ? req.targetHost : instance.host,
    destNode: req.recreate ? req.targetHost : instance.node,
    status: "accepted" as const,
    attemptedHosts: [],
    error: null,
    createdAt: at,
    updatedAt: at,
    version: 0,
  });
}
