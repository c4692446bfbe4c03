/**
 * Evacuate only: the phases between the target checks and Spawn, in one Lambda instead of five (issue
 * 23: each hop is a state transition, an invoke and a re-read of the instance, and under a host
 * evacuation's load the hops, not the work, were most of the wait). They need no Retry or Catch of
 * their own: none of them asks the target anything except the last, on local disks only.
 *
 * nova's order is kept: task_state := rebuilding, ports bound to the target (`setup_instance_network_on_host`),
 * the dead host's volume attachments ended, task_state := rebuild_block_device_mapping and the target's
 * attachments made, then the root disk made from the image when it is not on shared storage. Each phase
 * is idempotent, so a retry of the whole step after a crash anywhere in it ends as a single run would.
 * A rebuild (same host) runs the same phases as separate states, with PowerOff and Destroy between them.
 *
 * Each record is read once (issue 27): the instance and the host at the start, each port and volume by the
 * phase that first changes it; a phase after that gets the record as the last conditional write returned
 * it. Every write stays conditional on the version it was decided on, so a record changed meanwhile is
 * refused, answered with the item as it is (ALL_OLD) and decided on again, as with a fresh read.
 */
import { InvalidInput } from "#shared/domain/errors.js";
import type { FlowState } from "#shared/flow/contract.js";
import type { StepDeps } from "#shared/flow/deps.js";
import { requireScheduled } from "#shared/flow/flow-state.js";
import { attachToTarget } from "./attach-volumes.js";
import { endVolumeAttachments } from "./detach-volumes.js";
import { loadTarget } from "./load-target.js";
import { createRootDisk } from "./prepare-root-disk.js";
import { bindPorts } from "./rebind-ports.js";
import { markRebuilding } from "./update-instance-state.js";

export async function prepareTarget(deps: StepDeps, state: FlowState): Promise<FlowState> {
  const flow = requireScheduled(state);
  if (!flow.recreate) {
    throw new InvalidInput(
      "PrepareTarget is the evacuate path; a rebuild runs these phases as separate states",
      {
        requestId: flow.requestId,
      },
    );
  }
  const { instance: read, host } = await loadTarget(deps, flow);
  // A retry that finds task_state already at rebuild_block_device_mapping (owned by this request) comes
  // after the attach phase began: the move to `rebuilding` and the detach are done. Both are skipped:
  // the first would be refused as an unexpected task state, and the detach ends the instance's
  // attachments by instance, so it would end the target's new ones too.
  const attaching =
    read.taskState === "rebuild_block_device_mapping" && read.taskRequestId === flow.requestId;
  const instance = attaching ? read : await markRebuilding(deps, flow, "nostate", read);
  await bindPorts(deps, instance, flow.destHost);
  const volumes = attaching ? undefined : await endVolumeAttachments(deps, instance);
  const attached = await attachToTarget(deps, flow, { instance, ...(volumes ? { volumes } : {}) });
  if (flow.sharedStorage) return { ...state, createdRootDisk: false };
  return createRootDisk(deps, state, { instance: attached, host });
}
