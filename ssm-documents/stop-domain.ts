import { SECONDS_UP_TO_A_DAY_PATTERN } from "#shared/domain/values.js";
import type { HostDocument } from "./document.js";
import { DOMAIN_UUID } from "./parameters.js";
import { powerOffClean } from "./snippets.js";

/** A clean power off (os-stop, a rebuild's power off): ACPI shutdown, destroy after the wait. */
export const STOP_DOMAIN: HostDocument<"uuid" | "shutdownTimeoutSeconds"> = {
  id: "stop-domain",
  description: "Lazarus: shut a domain down cleanly, destroying it if it has not stopped after the wait.",
  parameters: {
    uuid: DOMAIN_UUID,
    shutdownTimeoutSeconds: {
      description: "Seconds the guest gets to shut down before the domain is destroyed (0: at once).",
      allowedPattern: SECONDS_UP_TO_A_DAY_PATTERN,
      maxChars: 5,
    },
  },
  script: () => powerOffClean("uuid", "shutdownTimeoutSeconds"),
  executionTimeoutSeconds: 120,
};
