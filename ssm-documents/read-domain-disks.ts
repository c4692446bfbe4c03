import type { HostDocument } from "./document.js";
import { DOMAIN_UUID } from "./parameters.js";

/** A domain's disks as libvirt has them (`virsh domblklist --details`); non-zero when virsh cannot say. */
export const READ_DOMAIN_DISKS: HostDocument<"uuid"> = {
  id: "read-domain-disks",
  description: "Lazarus: list a domain's disks (virsh domblklist --details).",
  parameters: { uuid: DOMAIN_UUID },
  script: () => ['virsh domblklist "$uuid" --details'],
  executionTimeoutSeconds: 30,
};
