import { ABSOLUTE_PATH_MAX_CHARS, OPTIONAL_ABSOLUTE_PATH_PATTERN } from "#shared/domain/values.js";
import type { HostDocument } from "./document.js";
import { DOMAIN_UUID } from "./parameters.js";
import { ensureDestroyed, ensureUndefined } from "./snippets.js";

/**
 * A domain destroyed and undefined (a rebuild's destroy, a target's clean-up, a returning host's stale copy,
 * a relocation's source); with `instancesPath`, the instance's folder `<instancesPath>/<uuid>` removed too
 * (its local disk). Only a folder named after the domain's uuid can be removed.
 */
export const REMOVE_DOMAIN: HostDocument<"uuid" | "instancesPath"> = {
  id: "remove-domain",
  description:
    "Lazarus: destroy and undefine a domain; with instancesPath, also remove <instancesPath>/<uuid>.",
  parameters: {
    uuid: DOMAIN_UUID,
    instancesPath: {
      description: "The instances folder whose <uuid> folder is removed (empty: keep the files).",
      allowedPattern: OPTIONAL_ABSOLUTE_PATH_PATTERN,
      maxChars: ABSOLUTE_PATH_MAX_CHARS,
      default: "",
    },
  },
  script: () => [
    ...ensureDestroyed("uuid"),
    ...ensureUndefined("uuid"),
    'if [ -n "$instancesPath" ]; then rm -rf -- "${instancesPath%/}/$uuid"; fi',
  ],
  executionTimeoutSeconds: 120,
};
