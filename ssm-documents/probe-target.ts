import {
  ABSOLUTE_PATH_MAX_CHARS,
  OPTIONAL_ABSOLUTE_PATH_PATTERN,
  OPTIONAL_DOMAIN_UUID_PATTERN,
} from "#shared/domain/values.js";
import type { HostDocument } from "./document.js";
import { domainPresence, pathPresence } from "./snippets.js";

/**
 * The target probe: is the domain defined here, is the instance's disk here, is the image in the cache?
 * `key=present|absent` per question asked (an empty parameter asks nothing); exit 2 when the host cannot
 * tell (virsh or stat failing): never read as "absent".
 */
export const PROBE_TARGET: HostDocument<"domainUuid" | "disk" | "image"> = {
  id: "probe-target",
  description: "Lazarus: say whether a domain, a disk and an image are on this host (key=present|absent).",
  parameters: {
    domainUuid: {
      description: "A domain uuid to look for (empty: do not ask).",
      allowedPattern: OPTIONAL_DOMAIN_UUID_PATTERN,
      maxChars: 36,
      default: "",
    },
    disk: {
      description: "An instance disk's path to look for (empty: do not ask).",
      allowedPattern: OPTIONAL_ABSOLUTE_PATH_PATTERN,
      maxChars: ABSOLUTE_PATH_MAX_CHARS,
      default: "",
    },
    image: {
      description: "A cached image's path to look for (empty: do not ask).",
      allowedPattern: OPTIONAL_ABSOLUTE_PATH_PATTERN,
      maxChars: ABSOLUTE_PATH_MAX_CHARS,
      default: "",
    },
  },
  script: () => [
    'if [ -n "$domainUuid" ]; then',
    ...domainPresence("domainUuid"),
    "fi",
    'if [ -n "$disk" ]; then',
    ...pathPresence("disk", "disk"),
    "fi",
    'if [ -n "$image" ]; then',
    ...pathPresence("image", "image"),
    "fi",
  ],
  executionTimeoutSeconds: 30,
};
