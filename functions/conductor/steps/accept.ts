/**
 * nova's API checks and the conductor's entry (`compute/api.py` rebuild/evacuate): parse the request
 * (strict: only request fields), load the instance, check vm_state, task_state, lock and launch, for
 * evacuate prove the source is down and the target sane, then take the instance with
 * `task_state := rebuilding` expecting none, record the migration (nova's tombstone) and publish
 * `instance.rebuild.start`. A refusal changes nothing; a failure after the take is caught by the state
 * machine and ended by HandleFailure, so no task is ever left held.
 */
import {
  ComputeServiceInUse,
  ComputeServiceUnavailable,
  HostNotFound,
  InstanceInvalidState,
  InstanceIsLocked,
  InstanceNotFound,
  InvalidInput,
  InvalidTargetHost,
  PreserveEphemeralNotSupported,
} from "#shared/domain/errors.js";
import { isHostUp } from "#shared/domain/host-liveness.js";
import type { Instance } from "#shared/domain/schemas.js";
import { REBUILDABLE_VM_STATES } from "#shared/domain/states.js";
import { type AcceptInput, type FlowState, RebuildRequest } from "#shared/flow/contract.js";
import type { StepDeps } from "#shared/flow/deps.js";
import { flowAction } from "#shared/flow/flow-state.js";
import { notifyFlow } from "#shared/flow/notify.js";
import { parseOrInvalid } from "#shared/flow/parse.js";

export async function accept(deps: StepDeps, input: AcceptInput): Promise<FlowState> {
  const req = parseOrInvalid(RebuildRequest, input.request, "request");
  const { instances, hosts } = deps.stores;
  const instance = await instances.get(req.instanceUuid);
  if (!instance) throw new InstanceNotFound(`Instance ${req.instanceUuid} could not be found.`);

  if (instance.taskState !== null && instance.taskRequestId === req.requestId) {
    // This request already took the instance: Accept ran before and its result was lost (a retry).
    await ensureMigration(deps, req, instance, input.executionArn);
    return accepted(req, instance, input.executionArn);
  }

  const action = flowAction(req);
  if (!REBUILDABLE_VM_STATES.includes(instance.vmState)) {
    throw new InstanceInvalidState(
      `Cannot '${action}' instance ${instance.uuid} while it is in vm_state ${instance.vmState}`,
      { vmState: instance.vmState },
    );
  }
  if (instance.taskState !== null) {
    throw new InstanceInvalidState(
      `Cannot '${action}' instance ${instance.uuid} while it is in task_state ${instance.taskState}`,
      { taskState: instance.taskState },
    );
  }
  if (instance.launchedAt === null) {
    // nova: an instance that never launched has nothing to rebuild or recreate.
    throw new InstanceInvalidState(`Cannot '${action}' instance ${instance.uuid}: it was never launched`, {
      launchedAt: null,
    });
  }
  if (!req.recreate && instance.locked) {
    throw new InstanceIsLocked(`Instance ${instance.uuid} is locked`, { instanceUuid: instance.uuid });
  }
  if (req.preserveEphemeral) {
    throw new PreserveEphemeralNotSupported(
      "preserve_ephemeral is not supported by the default rebuild path",
    );
  }

  const source = await hosts.get(instance.host);
  if (!source) throw new HostNotFound(`Compute host ${instance.host} not found.`);
  const now = deps.now();
  if (req.recreate) {
    if (req.imageRef !== null) throw new InvalidInput("evacuate does not take a new image");
    if (isHostUp(source, now, deps.serviceDownSeconds)) {
      throw new ComputeServiceInUse(`Compute service of ${source.name} is still in use.`, {
        host: source.name,
      });
    }
    if (req.force && req.targetHost === null) throw new InvalidInput("force needs a target host");
    if (req.targetHost !== null) {
      if (req.targetHost === instance.host)
        throw new InvalidTargetHost("The target host can't be the same one.");
      if (!(await hosts.get(req.targetHost)))
        throw new HostNotFound(`Compute host ${req.targetHost} not found.`);
    }
  } else {
    if (req.targetHost !== null || req.force || req.targetStopped)
      throw new InvalidInput("rebuild runs on the instance's own host and keeps its power state");
    if (!isHostUp(source, now, deps.serviceDownSeconds)) {
      throw new ComputeServiceUnavailable(
        `Compute service of ${source.name} is down: cannot rebuild there.`,
        {
          host: source.name,
        },
      );
    }
  }

  const taken = await instances.update(instance.uuid, {
    expectTaskState: [null],
    expectVersion: instance.version,
    set: { taskState: "rebuilding", taskRequestId: req.requestId, taskExecutionArn: input.executionArn },
  });
  await ensureMigration(deps, req, taken, input.executionArn);
  await notifyFlow(
    deps,
    { requestId: req.requestId, instanceUuid: instance.uuid },
    "instance.rebuild.start",
    {
      action,
      host: instance.host,
      target_host: req.targetHost,
    },
  );
  return accepted(req, taken, input.executionArn);
}

function accepted(req: RebuildRequest, instance: Instance, executionArn: string): FlowState {
  return {
    ...req,
    executionArn,
    migrationId: req.requestId,
    sourceHost: instance.host,
    originalImageRef: instance.imageRef,
    originalVmState: instance.vmState,
    originalPowerState: instance.powerState,
    destHost: null,
    attemptedHosts: [],
    previousFailures: [],
  };
}

/** The migration record (nova's tombstone of the request); its id is the request id, so a retry finds it. */
async function ensureMigration(
  deps: StepDeps,
  req: RebuildRequest,
  instance: Instance,
  executionArn: string,
): Promise<void> {
  if (await deps.stores.migrations.get(req.requestId)) return;
  const at = deps.now().toISOString();
  await deps.stores.migrations.create({
    id: req.requestId,
    instanceUuid: instance.uuid,
    type: req.recreate ? "evacuation" : "rebuild",
    sourceHost: instance.host,
    sourceNode: instance.node,
    destHost: req.recreate ? req.targetHost : instance.host,
    destNode: req.recreate ? req.targetHost : instance.node,
    status: "accepted",
    attemptedHosts: [],
    error: null,
    executionArn,
    createdAt: at,
    updatedAt: at,
    version: 0,
  });
}
