/**
 * The boot's root disk on its host (the libvirt driver's `_create_image`): a copy-on-write disk on the
 * image in the host's cache, made only when absent (a retry after a timed-out attempt reuses it). The
 * image missing from this host's cache is ImageNotCached (nothing was made).
 */
import { HostCommandFailed, ImageNotCached } from "#shared/domain/errors.js";
import { type BootState, requirePlaced } from "#shared/flow/boot-contract.js";
import type { StepDeps } from "#shared/flow/deps.js";
import { hostTarget } from "#shared/hosts/layout.js";
import { createRootDisk } from "#shared/hosts/qemu-img.js";
import { EXIT_IMAGE_NOT_CACHED } from "#ssm-documents/create-root-disk.js";

export async function bootRootDisk(deps: StepDeps, state: BootState): Promise<BootState> {
  const flow = requirePlaced(state);
  const [instance, host] = await Promise.all([
    deps.stores.instances.require(flow.build.instanceUuid),
    deps.stores.hosts.require(flow.host),
  ]);
  const command = createRootDisk(host, {
    instanceUuid: instance.uuid,
    imageRef: instance.imageRef,
    sizeGiB: instance.flavor.diskGiB,
    replace: false,
  });
  try {
    await deps.executor.run(hostTarget(host), command, {
      comment: `root disk of ${instance.uuid} from ${instance.imageRef}`,
    });
  } catch (e) {
    if (e instanceof HostCommandFailed && e.details.exitCode === EXIT_IMAGE_NOT_CACHED) {
      throw new ImageNotCached(`Image ${instance.imageRef} is not in the image cache of ${host.name}.`, {
        host: host.name,
        imageRef: instance.imageRef,
      });
    }
    throw e;
  }
  return state;
}
