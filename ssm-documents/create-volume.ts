import { DISK_GIB_PATTERN, FILE_NAME_PATTERN } from "#shared/domain/values.js";
import type { HostDocument } from "./document.js";
import { VOLUMES_PATH } from "./parameters.js";

/** Exit code when the volume's file exists already (never overwritten). */
export const EXIT_VOLUME_EXISTS = 17;

/** A new empty raw volume file `<volumesPath>/<fileName>`, group read-write; one that exists is refused. */
export const CREATE_VOLUME: HostDocument<"volumesPath" | "fileName" | "sizeGiB"> = {
  id: "create-volume",
  description:
    "Lazarus: create an empty raw volume file <volumesPath>/<fileName> (never over an existing one).",
  parameters: {
    volumesPath: VOLUMES_PATH,
    fileName: { description: "The volume's file name.", allowedPattern: FILE_NAME_PATTERN, maxChars: 128 },
    sizeGiB: { description: "The volume's size, GiB.", allowedPattern: DISK_GIB_PATTERN, maxChars: 5 },
  },
  script: () => [
    'lz_file="${volumesPath%/}/$fileName"',
    `if [ -e "$lz_file" ]; then echo "volume file $lz_file exists" >&2; exit ${EXIT_VOLUME_EXISTS}; fi`,
    'mkdir -p -- "${volumesPath%/}"',
    'qemu-img create -q -f raw "$lz_file" "${sizeGiB}G"',
    'chmod 0660 -- "$lz_file"',
  ],
  executionTimeoutSeconds: 300,
};
