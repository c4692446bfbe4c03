import { FILE_NAME_PATTERN } from "#shared/domain/values.js";
import type { HostDocument } from "./document.js";
import { VOLUMES_PATH } from "./parameters.js";

/**
 * A volume's file `<volumesPath>/<fileName>` removed (nova's delete_on_termination; a failed boot's made
 * volumes). A file name has no `/`, so only a file of the volumes folder can go. An absent file is removed.
 */
export const DELETE_VOLUME: HostDocument<"volumesPath" | "fileName"> = {
  id: "delete-volume",
  description: "Lazarus: remove a volume's file <volumesPath>/<fileName> (absent: nothing to do).",
  parameters: {
    volumesPath: VOLUMES_PATH,
    fileName: { description: "The volume's file name.", allowedPattern: FILE_NAME_PATTERN, maxChars: 128 },
  },
  script: () => ['rm -f -- "${volumesPath%/}/$fileName"'],
  executionTimeoutSeconds: 60,
};
