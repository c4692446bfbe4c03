import {
  ABSOLUTE_PATH_MAX_CHARS,
  DOMAIN_UUID_LIST_PATTERN,
  OPTIONAL_ABSOLUTE_PATH_PATTERN,
  OPTIONAL_DOMAIN_UUID_LIST_PATTERN,
} from "#shared/domain/values.js";
import { EXIT_BAD_PARAMETER, type HostDocument } from "./document.js";
import { ensureDestroyed, ensureUndefined } from "./snippets.js";

/** How many domains one command removes. */
export const STALE_UUIDS_PER_COMMAND = 100;
/** The parameters' length for that many: 36 characters a uuid and a space between (a literal, checked). */
export const STALE_UUIDS_MAX_CHARS = 3_699;

/**
 * A returning host's clean-up (host-recovery): the stale copies of the instances evacuated from it, each
 * destroyed and undefined, in one command; the folders `<instancesPath>/<uuid>` of those in `filesOf` (their
 * local disks: the evacuation recreated them elsewhere) removed after. A folder is removed only for a uuid
 * of `uuids`, so the command can remove nothing but what it names.
 */
export const REMOVE_STALE_DOMAINS: HostDocument<"uuids" | "filesOf" | "instancesPath"> = {
  id: "remove-stale-domains",
  description:
    "Lazarus: destroy and undefine each domain named; remove <instancesPath>/<uuid> of those in filesOf.",
  parameters: {
    uuids: {
      description: "Domain uuids, separated by single spaces.",
      allowedPattern: DOMAIN_UUID_LIST_PATTERN,
      maxChars: STALE_UUIDS_MAX_CHARS,
    },
    filesOf: {
      description: "Of those, the ones whose <instancesPath>/<uuid> folder is removed (empty: none).",
      allowedPattern: OPTIONAL_DOMAIN_UUID_LIST_PATTERN,
      maxChars: STALE_UUIDS_MAX_CHARS,
      default: "",
    },
    instancesPath: {
      description: "The instances folder (needed when filesOf names any).",
      allowedPattern: OPTIONAL_ABSOLUTE_PATH_PATTERN,
      maxChars: ABSOLUTE_PATH_MAX_CHARS,
      default: "",
    },
  },
  script: () => [
    'read -r -a lz_uuids <<< "$uuids"',
    "lz_files=()",
    '[ -z "$filesOf" ] || read -r -a lz_files <<< "$filesOf"',
    'for lz_f in "${lz_files[@]}"; do',
    `  [ -n "$instancesPath" ] || { echo "filesOf needs instancesPath" >&2; exit ${EXIT_BAD_PARAMETER}; }`,
    `  case " $uuids " in *" $lz_f "*) ;; *) echo "$lz_f is in filesOf, not in uuids" >&2; exit ${EXIT_BAD_PARAMETER} ;; esac`,
    "done",
    'for uuid in "${lz_uuids[@]}"; do',
    ...ensureDestroyed("uuid").map((l) => `  ${l}`),
    ...ensureUndefined("uuid").map((l) => `  ${l}`),
    "done",
    'for lz_f in "${lz_files[@]}"; do rm -rf -- "${instancesPath%/}/$lz_f"; done',
  ],
  executionTimeoutSeconds: 600,
};
