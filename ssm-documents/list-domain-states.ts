import type { HostDocument } from "./document.js";

/**
 * Every defined domain with its state, one `UUID<TAB>STATE` line each (the fleet sync). A domain undefined
 * between the list and its domstate prints `absent`.
 */
export const LIST_DOMAIN_STATES: HostDocument<never> = {
  id: "list-domain-states",
  description: "Lazarus: list every domain defined on this host with its state (uuid, tab, virsh domstate).",
  parameters: {},
  script: () => [
    "virsh list --all --uuid | while read -r lz_u; do",
    '  [ -n "$lz_u" ] || continue',
    '  lz_s="$(virsh domstate "$lz_u" 2>/dev/null)" || lz_s=absent',
    `  printf '%s\\t%s\\n' "$lz_u" "$lz_s"`,
    "done",
  ],
  executionTimeoutSeconds: 120,
};
