/**
 * nova's API checks and the conductor's entry (`compute/api.py` rebuild/evacuate): parse the request
 * (strict: only request fields), run the admission checks (`assertAdmissible`, shared with the API,
 * which runs them before it starts a flow), then take the instance with `task_state := rebuilding`
 * expecting none, record the migration (nova's tombstone) and publish `instance.rebuild.start`. A
 * refusal changes nothing; a failure after the take is caught by the state machine and ended by
 * HandleFailure, so no task is ever left held.
 */
import { InstanceNotFound } from "#shared/domain/errors.js";
import type { Instance } from "#shared/domain/schemas.js";
import { type AdmittedProof, assertAdmissible, readAdmissionFacts } from "#shared/flow/admission.js";
import { type AcceptInput, type FlowState, RebuildRequest } from "#shared/flow/contract.js";
import type { StepDeps } from "#shared/flow/deps.js";
import { flowAction } from "#shared/flow/flow-state.js";
import { ensureMigrationRecord } from "#shared/flow/migration-record.js";
import { notifyFlow } from "#shared/flow/notify.js";
import { parseOrInvalid } from "#shared/flow/parse.js";

export async function accept(deps: StepDeps, input: AcceptInput): Promise<FlowState> {
  const req = parseOrInvalid(RebuildRequest, input.request, "request");
  const { instances } = deps.stores;
  const instance = await instances.get(req.instanceUuid);
  if (!instance) throw new InstanceNotFound(`Instance ${req.instanceUuid} could not be found.`);

  if (instance.taskState !== null && instance.taskRequestId === req.requestId) {
    // This request already took the instance: Accept ran before and its result was lost (a retry).
    await ensureMigration(deps, req, instance, input.executionArn, null);
    return accepted(req, instance, input.executionArn);
  }

  const clock = { now: deps.now(), serviceDownSeconds: deps.serviceDownSeconds };
  const proof = assertAdmissible(req, await readAdmissionFacts(deps.stores, req, instance, clock));

  // Decided on the record the checks read (the write is conditional on its version: a change meanwhile is
  // ConcurrentUpdate, and the retried Accept checks again).
  const taken = await instances.update(
    instance.uuid,
    {
      expectTaskState: [null],
      expectVersion: instance.version,
      set: { taskState: "rebuilding", taskRequestId: req.requestId, taskExecutionArn: input.executionArn },
    },
    instance,
  );
  await ensureMigration(deps, req, taken, input.executionArn, proof);
  await notifyFlow(
    deps,
    { requestId: req.requestId, instanceUuid: instance.uuid },
    "instance.rebuild.start",
    {
      action: flowAction(req),
      host: instance.host,
      target_host: req.targetHost,
    },
  );
  return accepted(req, taken, input.executionArn);
}

/** The FlowState Accept hands on: the request, and what the flow keeps of the instance as it took it. */
export function accepted(req: RebuildRequest, instance: Instance, executionArn: string): FlowState {
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

/**
 * The migration record (nova's tombstone of the request); its id is the request id, so a retry finds it.
 * An evacuation's records the proof that admitted it (`proof`).
 */
function ensureMigration(
  deps: StepDeps,
  req: RebuildRequest,
  instance: Instance,
  executionArn: string,
  proof: AdmittedProof | null,
): Promise<void> {
  return ensureMigrationRecord(deps, {
    id: req.requestId,
    instance,
    type: req.recreate ? "evacuation" : "rebuild",
    destHost: req.recreate ? req.targetHost : instance.host,
    destNode: req.recreate ? req.targetHost : instance.node,
    proof,
    executionArn,
  });
}
