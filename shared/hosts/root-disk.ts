/**
 * The libvirt driver's `_create_image` for the root disk: a copy-on-write qcow2 on the image in the host's
 * cache. `create-if-absent` never deletes or overwrites a disk that is there (an evacuation, as nova: bug
 * 1550919; a boot retried after a timed-out attempt reuses what it made); `replace` re-images (a rebuild).
 * The script exits IMAGE_NOT_CACHED_EXIT when the image is not in the host's cache, before touching anything.
 */
import type { Host } from "../domain/schemas.js";
import { baseImagePath, rootDiskPath } from "./layout.js";
import { createOverlay } from "./qemu-img.js";
import { shellQuote } from "./shell.js";

export const IMAGE_NOT_CACHED_EXIT = 2;

export function rootDiskLines(
  host: Host,
  instance: { uuid: string; flavor: { diskGiB: number } },
  imageRef: string,
  mode: "create-if-absent" | "replace",
): string[] {
  const disk = rootDiskPath(host, instance.uuid);
  const base = baseImagePath(host, imageRef);
  const noImage = `{ echo "image ${imageRef} is not in the image cache of ${host.name}" >&2; exit ${IMAGE_NOT_CACHED_EXIT}; }`;
  const create = createOverlay({ base, disk, sizeGiB: instance.flavor.diskGiB });
  return mode === "create-if-absent"
    ? [`test -f ${shellQuote(base)} || ${noImage}`, `if [ ! -e ${shellQuote(disk)} ]; then`, create, "fi"]
    : [`test -f ${shellQuote(base)} || ${noImage}`, `rm -f -- ${shellQuote(disk)}`, create];
}
