/**
 * nova's shared-storage check (`_do_rebuild_instance`, the driver's `instance_on_disk`), evacuate only: is the instance's root
 * disk visible on the target? It must agree with the caller's `onSharedStorage` when given. When the disk
 * is not there, the root disk will be made from the image, so the image must be in the target's cache:
 * checked here, in the same probe, before anything is created (ImageNotCached lets the flow try another
 * host). A probe that cannot answer is ProbeFailed, never "absent". The answers usually come from
 * CheckInstanceNotOnTarget's probe of the same target (`targetProbe`); without them this step probes. Like
 * that step it reads no record (the flow's image, the target as Schedule's claim left it).
 */
import { ImageNotCached, InvalidSharedStorage } from "#shared/domain/errors.js";
import type { FlowState } from "#shared/flow/contract.js";
import type { StepDeps } from "#shared/flow/deps.js";
import { flowImage, requireScheduled } from "#shared/flow/flow-state.js";
import { baseImagePath, hostTarget, rootDiskPath } from "#shared/hosts/layout.js";
import { parseTargetProbe, targetProbe } from "#shared/hosts/probes.js";
import { targetHost } from "./load-target.js";

export async function checkSharedStorage(deps: StepDeps, state: FlowState): Promise<FlowState> {
  const flow = requireScheduled(state);
  if (!flow.recreate) return state;
  const host = await targetHost(deps, flow);
  const uuid = flow.instanceUuid;
  const imageRef = flowImage(flow);
  const disk = rootDiskPath(host, uuid);
  const image = baseImagePath(host, imageRef);
  const { targetProbe: probed, ...rest } = state;
  const answers =
    probed?.host === host.name
      ? probed
      : parseTargetProbe(
          host.name,
          ["disk", "image"],
          await deps.executor.probe(hostTarget(host), targetProbe({ disk, image }), {
            comment: `instance-on-disk ${uuid}`,
          }),
        );
  const onDisk = answers.disk === "present";
  if (flow.onSharedStorage !== null && flow.onSharedStorage !== onDisk) {
    throw new InvalidSharedStorage(
      `Invalid state of instance files on shared storage: told ${flow.onSharedStorage ? "shared" : "not shared"}, ` +
        `but ${disk} ${onDisk ? "exists" : "does not exist"} on ${host.name}.`,
      { host: host.name, path: disk, hint: flow.onSharedStorage, onDisk },
    );
  }
  if (!onDisk && answers.image === "absent") {
    throw new ImageNotCached(
      `Image ${imageRef} is not in the image cache of ${host.name}: cannot recreate the root disk there.`,
      { host: host.name, imageRef, path: image },
    );
  }
  return { ...rest, sharedStorage: onDisk };
}
