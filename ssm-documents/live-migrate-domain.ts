import {
  BOOLEAN_PATTERN,
  LIBVIRT_URI_PATTERN,
  NETWORK_ADDRESS_PATTERN,
  SECONDS_1_TO_A_DAY_PATTERN,
} from "#shared/domain/values.js";
import { EXIT_UNEXPECTED_STATE, EXIT_VIRSH_FAILED } from "#shared/hosts/exit-codes.js";
import { EXIT_BAD_PARAMETER, type HostDocument } from "./document.js";
import { DOMAIN_UUID } from "./parameters.js";

/** Seconds a migration job of an earlier attempt (a retried step) is waited for before this one starts. */
export const EARLIER_JOB_WAIT_SECONDS = 600;

/**
 * On the source (issue 32): a running domain live-migrated peer to peer to the target's libvirtd (`uri`),
 * persistent there and undefined here once it runs there (`--persistent --undefinesource`), the stream to
 * the target's inbound address only (`tcp://<inboundAddress>`, an IPv6 address in brackets). `unsafe` only
 * for a pool that is a folder of one machine (the local cloud: libvirt cannot see it is shared).
 * Idempotent for a retried step: a domain no longer defined here has left (exit 0: the caller checks that
 * it runs on the target), and a migration job of an earlier attempt still running is waited for first. A
 * domain that is not running is refused (EXIT_UNEXPECTED_STATE). After `completionTimeoutSeconds` the job is
 * aborted (`virsh domjobabort`) and the command fails: the guest goes on running here.
 */
export const LIVE_MIGRATE_DOMAIN: HostDocument<
  "uuid" | "uri" | "inboundAddress" | "completionTimeoutSeconds" | "unsafe"
> = {
  id: "live-migrate-domain",
  description:
    "Lazarus: live-migrate a running domain to another host's libvirtd (virsh migrate --live --p2p).",
  parameters: {
    uuid: DOMAIN_UUID,
    uri: {
      description:
        "The target's libvirt URI (qemu[+tls|tcp|ssh|unix]://[host[:port]]/system|session[?socket=/path]).",
      allowedPattern: LIBVIRT_URI_PATTERN,
      maxChars: 512,
    },
    inboundAddress: {
      description: "The address the target takes the migration stream on (IPv4, IPv6 or a host name).",
      allowedPattern: NETWORK_ADDRESS_PATTERN,
      maxChars: 253,
    },
    completionTimeoutSeconds: {
      description: "Seconds before an unfinished migration is aborted (the guest stays here).",
      allowedPattern: SECONDS_1_TO_A_DAY_PATTERN,
      maxChars: 5,
    },
    unsafe: {
      description: "true: the pool is a folder of one machine (virsh migrate --unsafe).",
      allowedPattern: BOOLEAN_PATTERN,
      maxChars: 5,
      default: "false",
    },
  },
  script: () => [
    // The URI's pattern allows '.', so the script refuses a climb out of the socket's folder itself.
    `case "$uri" in *..*) echo "libvirt URI $uri contains .." >&2; exit ${EXIT_BAD_PARAMETER} ;; esac`,
    'if [[ "$inboundAddress" == *:* ]]; then lz_stream="tcp://[$inboundAddress]"; else lz_stream="tcp://$inboundAddress"; fi',
    'lz_unsafe=(); if [ "$unsafe" = true ]; then lz_unsafe=(--unsafe); fi',
    "lz_left() {",
    `  lz_uuids="$(virsh list --all --uuid)" || { echo "virsh list failed" >&2; exit ${EXIT_VIRSH_FAILED}; }`,
    `  if ! printf '%s\\n' "$lz_uuids" | grep -xiF -- "$uuid" >/dev/null; then echo "domain $uuid is not defined here: it has left"; exit 0; fi`,
    "}",
    "lz_left",
    `for ((lz_i = 0; lz_i < ${EARLIER_JOB_WAIT_SECONDS}; lz_i++)); do`,
    `  lz_job="$(virsh domjobinfo "$uuid" 2>/dev/null | sed -n 's/^Job type: *//p')" || lz_job=None`,
    '  [ "$lz_job" = Unbounded ] || break',
    "  sleep 1",
    "done",
    "lz_left",
    `lz_state="$(virsh domstate "$uuid")" || { echo "virsh domstate failed" >&2; exit ${EXIT_VIRSH_FAILED}; }`,
    `if [ "$lz_state" != running ]; then echo "domain $uuid is '$lz_state', not running: only a running guest migrates live" >&2; exit ${EXIT_UNEXPECTED_STATE}; fi`,
    'virsh migrate --live --p2p --persistent --undefinesource --abort-on-error "${lz_unsafe[@]}" --listen-address "$inboundAddress" "$uuid" "$uri" "$lz_stream" &',
    "lz_pid=$!",
    'for ((lz_i = 0; lz_i < completionTimeoutSeconds; lz_i++)); do kill -0 "$lz_pid" 2>/dev/null || break; sleep 1; done',
    'if kill -0 "$lz_pid" 2>/dev/null; then echo "live migration not complete after $completionTimeoutSeconds s: aborted" >&2; virsh domjobabort "$uuid" >&2 || true; fi',
    'wait "$lz_pid"',
  ],
  executionTimeoutSeconds: 86_400,
};
