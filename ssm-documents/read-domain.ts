import { sectionLines } from "#shared/hosts/script-sections.js";
import type { HostDocument } from "./document.js";
import { DOMAIN_UUID } from "./parameters.js";

/** Adoption's read of one domain: dominfo (state, autostart, persistence) and its persistent definition. */
export const READ_DOMAIN: HostDocument<"uuid"> = {
  id: "read-domain",
  description:
    "Lazarus: print a domain's dominfo and its persistent definition (dumpxml --inactive, compressed).",
  parameters: { uuid: DOMAIN_UUID },
  script: () =>
    sectionLines([
      { name: "dominfo", lines: ['virsh dominfo "$uuid"'] },
      { name: "xml", lines: ['virsh dumpxml "$uuid" --inactive'], compressed: true },
    ]),
  executionTimeoutSeconds: 60,
};
