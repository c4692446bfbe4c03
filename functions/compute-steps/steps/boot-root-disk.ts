/**
 * The boot's root disk on its host (the libvirt driver's `_create_image`): a copy-on-write disk on the
 * image in the host's cache, made only when absent (a retry after a timed-out attempt reuses it). The
 * image missing from this host's cache is ImageNotCached (nothing was made).
 */
import { HostCommandFailed, ImageNotCached } from "#shared/domain/errors.js";
import { type BootState, requirePlaced } from "#shared/flow/boot-contract.js";
import type { StepDeps } from "#shared/flow/deps.js";
import { hostTarget } from "#shared/hosts/layout.js";
import { IMAGE_NOT_CACHED_EXIT, rootDiskLines } from "#shared/hosts/root-disk.js";
import { shellScript } from "#shared/hosts/shell.js";

export async function bootRootDisk(deps: StepDeps, state: BootState): Promise<BootState> {
  const flow = requirePlaced(state);
  const [instance, host] = await Promise.all([
    deps.stores.instances.require(flow.build.instanceUuid),
    deps.stores.hosts.require(flow.host),
  ]);
  const lines = rootDiskLines(host, instance, instance.imageRef, "create-if-absent");
  try {
    await deps.executor.run(hostTarget(host), shellScript(lines), {
      comment: `root disk of ${instance.uuid} from ${instance.imageRef}`,
    });
  } catch (e) {
    if (e instanceof HostCommandFailed && e.details.exitCode === IMAGE_NOT_CACHED_EXIT) {
      throw new ImageNotCached(`Image ${instance.imageRef} is not in the image cache of ${host.name}.`, {
        host: host.name,
        imageRef: instance.imageRef,
      });
    }
    throw e;
  }
  return state;
}
