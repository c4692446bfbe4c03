import type { HostDocument } from "./document.js";
import { DOMAIN_UUID, SHUTDOWN_TIMEOUT_SECONDS } from "./parameters.js";
import { ensureStarted, powerOffClean } from "./snippets.js";

/**
 * nova's reboot in one command (so it ends within the API's one host-command deadline): SOFT, a clean shut
 * down (destroyed after the wait), then started again; HARD (`shutdownTimeoutSeconds` 0), destroyed at once
 * and started again. A domain that is not defined is EXIT_DOMAIN_ABSENT (nothing to start).
 */
export const REBOOT_DOMAIN: HostDocument<"uuid" | "shutdownTimeoutSeconds"> = {
  id: "reboot-domain",
  description:
    "Lazarus: reboot a domain: shut it down (destroyed after the wait; 0: at once), then start it again.",
  parameters: {
    uuid: DOMAIN_UUID,
    shutdownTimeoutSeconds: SHUTDOWN_TIMEOUT_SECONDS,
  },
  script: () => [...powerOffClean("uuid", "shutdownTimeoutSeconds"), ...ensureStarted("uuid")],
  executionTimeoutSeconds: 120,
};
