/**
 * nova's API checks (`compute/api.py` rebuild/evacuate) as one pure function over the records they read. The conductor's
 * Accept runs it right before the conditional write that takes the instance; the API runs it before it
 * starts an execution, so a request that would be refused is refused synchronously and starts nothing.
 *
 * An evacuation is admitted only with proof that no other copy of the instance runs or can start
 * (shared/domain/fencing.ts `instanceProof`, the same rule host-evacuation gates its plan with): its host's
 * proof of death recorded on the host record (power, lease, operator), or, for a disk in a shared pool whose
 * hosts enforce the image lock, the lock itself (the target is refused while the old copy holds the disk).
 * Otherwise it is refused with FencingRequired (409) naming the host and what would prove it dead, whoever
 * asks: the API at any microversion, the CLI, the rebuild machine started directly. Host-evacuation's own
 * children pass because its Fence step records the proof on the host before they start. Instance
 * recovery's relocation from a live host keeps its own proof (`relocateFromLiveHost`).
 */
import {
  ComputeServiceInUse,
  ComputeServiceUnavailable,
  FencingRequired,
  HostNotFound,
  InstanceInvalidState,
  InstanceIsLocked,
  InvalidInput,
  InvalidTargetHost,
  PreserveEphemeralNotSupported,
} from "../domain/errors.js";
import { diskOf, hostProofOfRecord, howToProveDead, instanceProof } from "../domain/fencing.js";
import { isHostUp } from "../domain/host-liveness.js";
import type { Host, Instance, MigrationProofKind, Recovery } from "../domain/schemas.js";
import { REBUILDABLE_VM_STATES, type VmState } from "../domain/states.js";
import type { Stores } from "../store/index.js";
import type { RebuildRequest } from "./contract.js";

export type AdmissionRequest = Pick<
  RebuildRequest,
  "recreate" | "targetHost" | "force" | "imageRef" | "preserveEphemeral" | "targetState"
> &
  Partial<Pick<RebuildRequest, "requestId" | "relocateFromLiveHost">>;

export interface AdmissionFacts {
  instance: Instance;
  /** The instance's host record (null: it does not exist). */
  source: Host | null;
  /** The requested target's record; null when none was requested or it does not exist. */
  target: Host | null;
  /** The recovery named by `relocateFromLiveHost` (null: none asked for, or it does not exist). */
  relocation?: Recovery | null;
  now: Date;
  serviceDownSeconds: number;
}

/** Reads the host records the checks need. */
export async function readAdmissionFacts(
  stores: Pick<Stores, "hosts" | "recoveries">,
  req: AdmissionRequest,
  instance: Instance,
  clock: { now: Date; serviceDownSeconds: number },
): Promise<AdmissionFacts> {
  const wantsTarget = req.recreate && req.targetHost !== null && req.targetHost !== instance.host;
  const relocation = req.recreate && req.relocateFromLiveHost ? req.relocateFromLiveHost : null;
  const [source, target, recovery] = await Promise.all([
    stores.hosts.get(instance.host),
    wantsTarget ? stores.hosts.get(req.targetHost!) : Promise.resolve(null),
    relocation ? stores.recoveries.get(relocation) : Promise.resolve(null),
  ]);
  return { instance, source, target, relocation: recovery, ...clock };
}

/**
 * nova's `check_instance_state` for `action`: the instance in one of `vmStates`, in no task, and launched
 * (one that never launched has nothing to rebuild, recreate or move).
 */
export function assertInstanceCan(action: string, instance: Instance, vmStates: readonly VmState[]): void {
  if (!vmStates.includes(instance.vmState)) {
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
    throw new InstanceInvalidState(`Cannot '${action}' instance ${instance.uuid}: it was never launched`, {
      launchedAt: null,
    });
  }
}

/** What admitted an evacuation (recorded on its migration): the proof that no other copy runs. */
export interface AdmittedProof {
  kind: MigrationProofKind;
  detail: string;
}

/**
 * Throws the refusal nova would answer with; returns when the request may take the instance, with the
 * proof an evacuation relies on (null for a rebuild).
 */
export function assertAdmissible(req: AdmissionRequest, facts: AdmissionFacts): AdmittedProof | null {
  const { instance, source, now, serviceDownSeconds } = facts;
  assertInstanceCan(req.recreate ? "evacuate" : "rebuild", instance, REBUILDABLE_VM_STATES);
  if (!req.recreate && instance.locked) {
    // nova's check_instance_lock is on rebuild, not on evacuate (an admin action on a dead host).
    throw new InstanceIsLocked(`Instance ${instance.uuid} is locked`, { instanceUuid: instance.uuid });
  }
  if (req.preserveEphemeral) {
    throw new PreserveEphemeralNotSupported(
      "preserve_ephemeral is not supported by the default rebuild path",
    );
  }
  if (!source) throw new HostNotFound(`Compute host ${instance.host} not found.`);
  if (req.recreate) {
    if (req.imageRef !== null) throw new InvalidInput("evacuate does not take a new image");
    if (req.relocateFromLiveHost) assertRelocationProof(req, facts);
    else if (isHostUp(source, now, serviceDownSeconds)) {
      throw new ComputeServiceInUse(`Compute service of ${source.name} is still in use.`, {
        host: source.name,
      });
    }
    if (req.force && req.targetHost === null) throw new InvalidInput("force needs a target host");
    if (req.targetHost !== null) {
      if (req.targetHost === instance.host)
        throw new InvalidTargetHost("The target host can't be the same one.");
      if (!facts.target) throw new HostNotFound(`Compute host ${req.targetHost} not found.`);
    }
    // Last: a well-formed request for a down host, refused only for want of proof, is a 409.
    return req.relocateFromLiveHost
      ? {
          kind: "relocation",
          detail: `recovery ${req.relocateFromLiveHost} removed the domain from ${instance.host}`,
        }
      : assertNoOtherCopy(instance, source);
  }
  if (req.targetHost !== null || req.force) throw new InvalidInput("rebuild runs on the instance's own host");
  if (req.targetState !== null) throw new InvalidInput("rebuild keeps the instance's power state");
  if (!isHostUp(source, now, serviceDownSeconds)) {
    throw new ComputeServiceUnavailable(`Compute service of ${source.name} is down: cannot rebuild there.`, {
      host: source.name,
    });
  }
  return null;
}

/**
 * The evacuation of an instance from a down host: `instanceProof` over the host's recorded proof and the
 * instance's disk, or FencingRequired naming the host and what would prove it dead.
 */
function assertNoOtherCopy(instance: Instance, source: Host): AdmittedProof {
  const p = instanceProof(hostProofOfRecord(source), diskOf(source, instance.onSharedStorage));
  if (p.proof) return { kind: p.proof, detail: p.reason };
  const waiting = instance.fencingRequired?.host === source.name ? ` It is "fencing required".` : "";
  throw new FencingRequired(
    `Fencing required: instance ${instance.uuid} cannot be evacuated from ${source.name}: ${p.reason}. ` +
      `Started elsewhere it could run twice.${waiting} ${howToProveDead(source.name)}`,
    { host: source.name, instanceUuid: instance.uuid, incidentId: source.incident?.id ?? null },
  );
}

/**
 * An evacuation from a live host (instance recovery's relocation) is admitted only when the named recovery
 * proves that this instance's domain was removed from the host its record names, for this very request:
 * then no copy can run on the source while the target starts one.
 */
function assertRelocationProof(req: AdmissionRequest, facts: AdmissionFacts): void {
  const { instance, relocation } = facts;
  const proof = relocation?.relocation;
  const ok =
    relocation &&
    proof &&
    relocation.instanceUuid === instance.uuid &&
    relocation.status === "relocating" &&
    proof.sourceHost === instance.host &&
    req.requestId !== undefined &&
    proof.requestId === req.requestId;
  if (!ok) {
    throw new ComputeServiceInUse(
      `Compute service of ${instance.host} is still in use and recovery ${req.relocateFromLiveHost} does not prove instance ${instance.uuid} gone from it for request ${req.requestId ?? "?"}.`,
      { host: instance.host, recoveryId: req.relocateFromLiveHost },
    );
  }
}
