import type { HostDocument } from "./document.js";
import { DOMAIN_UUID } from "./parameters.js";
import { domainStateOrAbsent } from "./snippets.js";

/** The domain-state probe: `absent`, or the domain's `virsh domstate`; exit 2 when virsh cannot answer. */
export const PROBE_DOMAIN_STATE: HostDocument<"uuid"> = {
  id: "probe-domain-state",
  description: "Lazarus: print a domain's state (virsh domstate), or absent when it is not defined here.",
  parameters: { uuid: DOMAIN_UUID },
  script: () => domainStateOrAbsent("uuid"),
  executionTimeoutSeconds: 30,
};
