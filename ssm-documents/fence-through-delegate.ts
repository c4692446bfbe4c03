import type { HostDocument } from "./document.js";

/** Exit code of a document whose operation is not built yet. */
export const EXIT_NOT_BUILT = 78;

/**
 * RESERVED for issue 28 (IPMI/Redfish fencing): a healthy peer host runs the standard fence agent against
 * another host's BMC. The parameter contract is set here; the script is not written yet and refuses to run
 * (no role may send this document yet). The BMC's credentials never travel as a parameter: `credential`
 * names a Secrets Manager secret or an SSM SecureString parameter, read on the delegate with its own
 * credentials and handed to the agent on standard input (never on a command line).
 */
export const FENCE_THROUGH_DELEGATE: HostDocument<"agent" | "address" | "port" | "action" | "credential"> = {
  id: "fence-through-delegate",
  description: "Lazarus (reserved, not built yet): power-fence another host through its BMC from this host.",
  parameters: {
    agent: {
      description: "The fence agent: fence_ipmilan or fence_redfish.",
      allowedPattern: "^(fence_ipmilan|fence_redfish)$",
      maxChars: 13,
    },
    address: {
      description: "The BMC's host name or IPv4 address.",
      allowedPattern:
        "^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$",
      maxChars: 253,
    },
    port: {
      description: "The BMC's port.",
      allowedPattern:
        "^([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$",
      maxChars: 5,
    },
    action: { description: "off, on or status.", allowedPattern: "^(off|on|status)$", maxChars: 6 },
    credential: {
      description:
        "A Secrets Manager secret ARN or an SSM SecureString parameter name holding the BMC's login.",
      allowedPattern:
        "^(arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+|/[A-Za-z0-9/_.-]{1,1010})$",
      maxChars: 2048,
    },
  },
  script: () => [
    `echo "fencing through a delegate is not built yet (issue 28): no power action was taken on $address" >&2`,
    `exit ${EXIT_NOT_BUILT}`,
  ],
  executionTimeoutSeconds: 60,
};
