import {
  ABSOLUTE_PATH_MAX_CHARS,
  ABSOLUTE_PATH_PATTERN,
  BOOLEAN_PATTERN,
  DISK_GIB_PATTERN,
  IMAGE_REF_PATTERN,
} from "#shared/domain/values.js";
import { LAYOUT } from "#shared/hosts/layout.js";
import type { HostDocument } from "./document.js";
import { DOMAIN_UUID, INSTANCES_PATH } from "./parameters.js";

/** Exit code when the image is not in the host's cache. */
export const EXIT_IMAGE_NOT_CACHED = 2;

/**
 * The libvirt driver's `_create_image`: the instance's root disk, `<instancesPath>/<uuid>/disk`, made
 * copy-on-write on the cached image `<imageCachePath>/<imageRef>.qcow2`. `replace=false` (evacuate) makes it
 * only where none is (an evacuation never deletes or overwrites a root disk); `replace=true` (rebuild)
 * re-images. Group read-write: the hosts of a shared pool open each other's disks.
 */
export const CREATE_ROOT_DISK: HostDocument<
  "uuid" | "instancesPath" | "imageCachePath" | "imageRef" | "sizeGiB" | "replace"
> = {
  id: "create-root-disk",
  description:
    "Lazarus: create an instance's root disk <instancesPath>/<uuid>/disk on a cached image (qemu-img create -b).",
  parameters: {
    uuid: DOMAIN_UUID,
    instancesPath: INSTANCES_PATH,
    imageCachePath: {
      description: "The host's image cache folder.",
      allowedPattern: ABSOLUTE_PATH_PATTERN,
      maxChars: ABSOLUTE_PATH_MAX_CHARS,
    },
    imageRef: {
      description: "The image: the file <imageCachePath>/<imageRef>.qcow2.",
      allowedPattern: IMAGE_REF_PATTERN,
      maxChars: 128,
    },
    sizeGiB: { description: "The disk's virtual size, GiB.", allowedPattern: DISK_GIB_PATTERN, maxChars: 5 },
    replace: {
      description: "true: replace a disk that is there (rebuild); false: keep it (evacuate).",
      allowedPattern: BOOLEAN_PATTERN,
      maxChars: 5,
    },
  },
  script: () => [
    `lz_base="\${imageCachePath%/}/$imageRef${LAYOUT.imageSuffix}"`,
    'lz_dir="${instancesPath%/}/$uuid"',
    `lz_disk="$lz_dir/${LAYOUT.rootDisk}"`,
    `test -f "$lz_base" || { echo "image $imageRef is not in the image cache of $(hostname)" >&2; exit ${EXIT_IMAGE_NOT_CACHED}; }`,
    'if [ "$replace" = true ]; then rm -f -- "$lz_disk"; elif [ -e "$lz_disk" ]; then exit 0; fi',
    'mkdir -p -- "$lz_dir"',
    'qemu-img create -q -f qcow2 -b "$lz_base" -F qcow2 "$lz_disk" "${sizeGiB}G"',
    'chmod 0660 -- "$lz_disk"',
  ],
  executionTimeoutSeconds: 300,
};
