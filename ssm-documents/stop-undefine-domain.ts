import type { HostDocument } from "./document.js";
import { DOMAIN_UUID, SHUTDOWN_TIMEOUT_SECONDS } from "./parameters.js";
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
    shutdownTimeoutSeconds: SHUTDOWN_TIMEOUT_SECONDS,
  },
  script: () => [...powerOffClean("uuid", "shutdownTimeoutSeconds"), ...ensureUndefined("uuid")],
  executionTimeoutSeconds: 300,
};
