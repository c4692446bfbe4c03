/**
 * The libvirt driver's `_create_image` before spawn. Evacuate: a disk found on shared storage is reused
 * as it is; otherwise a copy-on-write root disk is made from the image in the target's cache, only if no
 * disk is there (as nova: an evacuation never deletes or overwrites an existing root disk, so a retry
 * after a timed-out attempt reuses what that attempt made). Rebuild re-images: the old root disk is
 * replaced by one from the (new) image; the image was checked before anything was taken down.
 */
import type { FlowState } from "#shared/flow/contract.js";
import type { StepDeps } from "#shared/flow/deps.js";
import { flowImage, requireScheduled } from "#shared/flow/flow-state.js";
import { hostTarget } from "#shared/hosts/layout.js";
import { createRootDisk as rootDiskCommand } from "#shared/hosts/qemu-img.js";
import { loadTarget, type TargetContext } from "./load-target.js";

export async function prepareRootDisk(deps: StepDeps, state: FlowState): Promise<FlowState> {
  const flow = requireScheduled(state);
  if (flow.recreate && flow.sharedStorage) return { ...state, createdRootDisk: false };
  return createRootDisk(deps, state, await loadTarget(deps, flow));
}

/** The phase itself, on the records the caller has read (a disk on shared storage is the caller's to skip). */
export async function createRootDisk(
  deps: StepDeps,
  state: FlowState,
  target: TargetContext,
): Promise<FlowState> {
  const flow = requireScheduled(state);
  const { instance, host } = target;
  const imageRef = flowImage(flow);
  // Evacuate: only where no disk is (a retry after a timed-out attempt reuses what it made); rebuild re-images.
  const command = rootDiskCommand(host, {
    instanceUuid: instance.uuid,
    imageRef,
    sizeGiB: instance.flavor.diskGiB,
    replace: !flow.recreate,
  });
  await deps.executor.run(hostTarget(host), command, { comment: `root disk from ${imageRef}` });
  return { ...state, createdRootDisk: true };
}
