import { SECONDS_UP_TO_A_DAY_PATTERN } from "#shared/domain/values.js";
import type { HostDocument } from "./document.js";
import { DOMAIN_UUID } from "./parameters.js";
import { ensureUndefined, powerOffClean } from "./snippets.js";

/**
 * A cold migration's source (issue 32), and a revert's target: the guest shut down cleanly (destroyed after
 * the wait), then its definition removed, the disk kept (shared storage: the other host defines the same
 * disk). Idempotent: an absent domain is already there.
 */
export const STOP_UNDEFINE_DOMAIN: HostDocument<"uuid" | "shutdownTimeoutSeconds"> = {
  id: "stop-undefine-domain",
  description:
    "Lazarus: shut a domain down cleanly (destroyed after the wait), then undefine it; its disk stays.",
  parameters: {
    uuid: DOMAIN_UUID,
    shutdownTimeoutSeconds: {
      description: "Seconds the guest gets to shut down before the domain is destroyed (0: at once).",
      allowedPattern: SECONDS_UP_TO_A_DAY_PATTERN,
      maxChars: 5,
    },
  },
  script: () => [...powerOffClean("uuid", "shutdownTimeoutSeconds"), ...ensureUndefined("uuid")],
  executionTimeoutSeconds: 300,
};
