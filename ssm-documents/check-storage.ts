import { ABSOLUTE_PATH_LIST_PATTERN } from "#shared/domain/values.js";
import type { HostDocument } from "./document.js";
import { INSTANCES_PATH } from "./parameters.js";

/**
 * Registration's storage check: `missing PATH` for each folder that is not one, then the size of the
 * instances folder's file system (`df -B1`).
 */
export const CHECK_STORAGE: HostDocument<"instancesPath" | "folders"> = {
  id: "check-storage",
  description: "Lazarus: name the storage folders missing on this host and size the instances file system.",
  parameters: {
    instancesPath: INSTANCES_PATH,
    folders: {
      description: "The folders that must exist, separated by single spaces.",
      allowedPattern: ABSOLUTE_PATH_LIST_PATTERN,
      maxChars: 4096,
    },
  },
  script: () => [
    'read -r -a lz_folders <<< "$folders"',
    'for lz_f in "${lz_folders[@]}"; do',
    `  [ -d "$lz_f" ] || printf 'missing %s\\n' "$lz_f"`,
    "done",
    'if [ -d "$instancesPath" ]; then df -B1 --output=size -- "$instancesPath"; fi',
  ],
  executionTimeoutSeconds: 60,
};
