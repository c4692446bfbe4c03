import type { HostDocument } from "./document.js";
import { DOMAIN_UUID, SHUTDOWN_TIMEOUT_SECONDS } from "./parameters.js";
import { powerOffClean } from "./snippets.js";

/** A clean power off (os-stop, a rebuild's power off): ACPI shutdown, destroy after the wait. */
export const STOP_DOMAIN: HostDocument<"uuid" | "shutdownTimeoutSeconds"> = {
  id: "stop-domain",
  description: "Lazarus: shut a domain down cleanly, destroying it if it has not stopped after the wait.",
  parameters: {
    uuid: DOMAIN_UUID,
    shutdownTimeoutSeconds: SHUTDOWN_TIMEOUT_SECONDS,
  },
  script: () => powerOffClean("uuid", "shutdownTimeoutSeconds"),
  executionTimeoutSeconds: 120,
};
