import { ABSOLUTE_PATH_LIST_PATTERN } from "#shared/domain/values.js";
import { SECTION_MARKER } from "#shared/hosts/script-sections.js";
import type { HostDocument } from "./document.js";

/** Most paths one command reads: the parameter's limit keeps it far below SSM's document size. */
export const DISK_CHAIN_PATHS_MAX_CHARS = 16_384;

/**
 * Adoption's read of a domain's disks: for each path, its backing chain (`qemu-img info --backing-chain`),
 * or `null` when the file does not exist, in section `disk-<i>` (compressed: a long chain's JSON must not be
 * cut by SSM's 24,000-character output).
 */
export const READ_DISK_CHAINS: HostDocument<"paths"> = {
  id: "read-disk-chains",
  description:
    "Lazarus: print the backing chain of each disk file (qemu-img info --backing-chain, compressed).",
  parameters: {
    paths: {
      description: "The disk files' absolute paths, separated by single spaces.",
      allowedPattern: ABSOLUTE_PATH_LIST_PATTERN,
      maxChars: DISK_CHAIN_PATHS_MAX_CHARS,
    },
  },
  script: () => [
    'read -r -a lz_paths <<< "$paths"',
    'for lz_i in "${!lz_paths[@]}"; do',
    '  lz_p="${lz_paths[$lz_i]}"',
    `  printf '\\n%s\\n' "${SECTION_MARKER} disk-$lz_i gz"`,
    '  ( if [ -e "$lz_p" ]; then qemu-img info --output=json -U --backing-chain "$lz_p"; else echo null; fi ) | gzip -c | base64 -w0',
    "  echo",
    "done",
    `printf '\\n%s\\n' '${SECTION_MARKER} end'`,
  ],
  executionTimeoutSeconds: 120,
};
