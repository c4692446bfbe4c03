import { DOMAIN_UUID_LIST_PATTERN } from "#shared/domain/values.js";
import type { HostDocument } from "./document.js";

/** How many domains one command turns autostart off for. */
export const AUTOSTART_UUIDS_PER_COMMAND = 100;
/**
 * The parameter's length for that many: 36 characters a uuid and a space between. A literal: a document
 * must be an object of literals (ssm-documents/document.ts); test/unit/host-documents.test.ts checks it.
 */
export const AUTOSTART_UUIDS_MAX_CHARS = 3_699;

/**
 * Adoption's one change on the host: libvirt must never start a Lazarus domain by itself (a returning host
 * would otherwise boot stale copies of evacuated instances before the control plane removes them).
 */
export const DISABLE_AUTOSTART: HostDocument<"uuids"> = {
  id: "disable-autostart",
  description: "Lazarus: turn libvirt's autostart off for each domain named (virsh autostart --disable).",
  parameters: {
    uuids: {
      description: "Domain uuids, separated by single spaces.",
      allowedPattern: DOMAIN_UUID_LIST_PATTERN,
      maxChars: AUTOSTART_UUIDS_MAX_CHARS,
    },
  },
  script: () => [
    'read -r -a lz_uuids <<< "$uuids"',
    'for lz_u in "${lz_uuids[@]}"; do virsh autostart --disable "$lz_u"; done',
  ],
  executionTimeoutSeconds: 120,
};
