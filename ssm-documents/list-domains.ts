import type { HostDocument } from "./document.js";

/** Every domain defined on the host, active or not: one uuid per line. */
export const LIST_DOMAINS: HostDocument<never> = {
  id: "list-domains",
  description: "Lazarus: list the uuids of every domain defined on this host (virsh list --all --uuid).",
  parameters: {},
  script: () => ["virsh list --all --uuid"],
  executionTimeoutSeconds: 60,
};
