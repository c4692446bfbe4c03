/**
 * The API's checks and the conductor's entry (handout steps 1-4): load the instance, check vm_state and
 * task_state, for evacuate prove the source is down and the target is sane, then take the instance with
 * `task_state := rebuilding` expecting none, and record the migration. A refusal here changes nothing.
 */
import {
  ComputeServiceInUse,
  ComputeServiceUnavailable,
  HostNotFound,
  InstanceInvalidState,
  InstanceNotFound,
  InvalidInput,
  InvalidTargetHost,
  PreserveEphemeralNotSupported,
} from "#shared/domain/errors.js";
import { isHostUp } from "#shared/domain/host-liveness.js";
import type { Instance } from "#shared/domain/schemas.js";
import { REBUILDABLE_VM_STATES } from "#shared/domain/states.js";
import type { AcceptedFlow, FlowState } from "#shared/flow/contract.js";
import type { StepDeps } from "#shared/flow/deps.js";
import { notificationAction } from "#shared/flow/flow-state.js";
import { notifyFlow } from "#shared/flow/notify.js";

export async function accept(deps: StepDeps, req: FlowState): Promise<AcceptedFlow> {
  const { instances, hosts } = deps.stores;
  const instance = await instances.get(req.instanceUuid);
  if (!instance) throw new InstanceNotFound(`Instance ${req.instanceUuid} could not be found.`);

  if (instance.taskState !== null && instance.taskRequestId === req.requestId) {
    // This request already took the instance: Accept ran before and its result was lost (a retry).
    await ensureMigration(deps, req, instance);
    return accepted(req, instance);
  }

  const action = notificationAction(req);
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
    if (req.targetHost !== null || req.force)
      throw new InvalidInput("rebuild runs on the instance's own host");
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
