import { HOST_CONFIG_ENV, HOST_CONFIG_PATH } from "#shared/definitions/host-config.js";
import { sectionLines } from "#shared/hosts/script-sections.js";
import type { HostDocument } from "./document.js";

/**
 * Registration's read of the host: CPUs and memory (nodeinfo), the virt types libvirt offers
 * (capabilities, compressed: it can be long), and the host's Lazarus settings file if there is one.
 */
export const READ_HOST_FACTS: HostDocument<never> = {
  id: "read-host-facts",
  description: "Lazarus: print this host's nodeinfo, libvirt capabilities and Lazarus settings file.",
  parameters: {},
  script: () =>
    sectionLines([
      { name: "nodeinfo", lines: ["virsh nodeinfo"] },
      { name: "capabilities", lines: ["virsh capabilities"], compressed: true },
      {
        name: "config",
        lines: [
          `lz_cfg="\${${HOST_CONFIG_ENV}:-${HOST_CONFIG_PATH}}"`,
          'if [ -r "$lz_cfg" ]; then cat -- "$lz_cfg"; fi',
        ],
      },
    ]),
  executionTimeoutSeconds: 60,
};
