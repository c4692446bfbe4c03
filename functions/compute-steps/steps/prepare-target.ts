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
 */
import { InvalidInput } from "#shared/domain/errors.js";
import type { FlowState } from "#shared/flow/contract.js";
import type { StepDeps } from "#shared/flow/deps.js";
import { requireScheduled } from "#shared/flow/flow-state.js";
import { attachVolumes } from "./attach-volumes.js";
import { detachVolumes } from "./detach-volumes.js";
import { prepareRootDisk } from "./prepare-root-disk.js";
import { rebindPorts } from "./rebind-ports.js";
import { updateInstanceState } from "./update-instance-state.js";

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
  // A retry that finds task_state already at rebuild_block_device_mapping (owned by this request) comes
  // after the attach phase began: the move to `rebuilding` and the detach are done. Both are skipped:
  // the first would be refused as an unexpected task state, and the detach ends the instance's
  // attachments by instance, so it would end the target's new ones too.
  const current = await deps.stores.instances.require(flow.instanceUuid);
  const attaching =
    current.taskState === "rebuild_block_device_mapping" && current.taskRequestId === flow.requestId;
  if (!attaching) await updateInstanceState(deps, state);
  await rebindPorts(deps, state);
  if (!attaching) await detachVolumes(deps, state);
  await attachVolumes(deps, state);
  return prepareRootDisk(deps, state);
}
