import type { HostDocument } from "./document.js";

/** The host's `uptime` line, what nova's libvirt driver reports for `/os-hypervisors/{id}/uptime`. */
export const READ_UPTIME: HostDocument<never> = {
  id: "read-uptime",
  description: "Lazarus: print the host's uptime (nova's hypervisor uptime).",
  parameters: {},
  script: () => ["uptime"],
  executionTimeoutSeconds: 10,
};
