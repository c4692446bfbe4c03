/**
 * The host operations of a migration (issue 32), one builder each, every value validated and quoted:
 *  - `liveMigrateScript` (on the source): `virsh migrate --live --p2p` of a running guest to the target's
 *    libvirtd, bounded by a completion timeout after which the job is aborted (nova's
 *    `live_migration_completion_timeout`, action abort); the guest keeps running on exactly one host;
 *  - `stopAndUndefineScript` (on the source, cold): clean shutdown (then destroy), then the definition
 *    removed; the disk stays (shared storage), so the target defines the same disk and nothing is left
 *    behind on the source.
 * Starting on the target (cold) and a revert on the source define the domain as Spawn does
 * (`defineDomainScript` in instance-domain.ts); a target given up on is cleaned as the rebuild flow cleans
 * one (`cleanTarget` in shared/flow/target-cleanup.ts); where a guest runs is asked with the domain-state
 * probe (probes.ts).
 */
import { z } from "zod";
import { type HostLiveMigration, HostLiveMigration as HostLiveMigrationSchema } from "../domain/schemas.js";
import { shellQuote, shellScript } from "./shell.js";
import { validated } from "./validate.js";
import {
  domainUuid,
  EXIT_UNEXPECTED_STATE,
  EXIT_VIRSH_FAILED,
  ensureRemoved,
  ensureStarted,
  ensureUndefined,
  powerOffClean,
} from "./virsh.js";

/** Seconds a migration job of an earlier attempt (a retried step) is waited for before this one starts. */
const EARLIER_JOB_WAIT_SECONDS = 600;

const CompletionTimeout = z.number().int().min(1).max(86_400);

/** qemu's migration URI for the target's inbound address (`tcp://ADDR`, an IPv6 address in brackets). */
export function migrationStreamUri(target: HostLiveMigration): string {
  const addr = validated(HostLiveMigrationSchema, "liveMigration", target).inboundAddress;
  return `tcp://${addr.includes(":") ? `[${addr}]` : addr}`;
}

/**
 * On the source: live-migrates a running domain to `target` (its libvirtd URI and inbound address),
 * persistent there and undefined here once it runs there (`--persistent --undefinesource`), the stream to
 * the target's inbound address only (`--listen-address`). `--unsafe` only for a pool that is a folder of
 * one machine (the local cloud: libvirt cannot see it is shared). Idempotent for a retried step: a domain
 * no longer defined here has left (exit 0: the caller checks that it runs on the target), and a migration
 * job of an earlier attempt still running is waited for first. A domain that is not running is refused
 * (EXIT_UNEXPECTED_STATE: only a running guest migrates live). After `completionTimeoutSeconds` the
 * migration is aborted (`virsh domjobabort`) and the command fails: the guest goes on running here.
 */
export function liveMigrateScript(
  uuid: string,
  target: HostLiveMigration,
  opts: { completionTimeoutSeconds: number },
): string {
  const q = shellQuote(domainUuid(uuid));
  const dest = validated(HostLiveMigrationSchema, "liveMigration", target);
  const timeout = validated(CompletionTimeout, "completionTimeoutSeconds", opts.completionTimeoutSeconds);
  const words = [
    "virsh migrate --live --p2p --persistent --undefinesource --abort-on-error",
    ...(dest.poolIsLocalFolder ? ["--unsafe"] : []),
    `--listen-address ${shellQuote(dest.inboundAddress)}`,
    q,
    shellQuote(dest.uri),
    shellQuote(migrationStreamUri(dest)),
  ];
  const defined = [
    `  lz_uuids="$(virsh list --all --uuid)" || { echo "virsh list failed" >&2; exit ${EXIT_VIRSH_FAILED}; }`,
    `  if ! printf '%s\\n' "$lz_uuids" | grep -xiF -- ${q} >/dev/null; then echo "domain "${q}" is not defined here: it has left"; exit 0; fi`,
  ];
  return shellScript([
    "(",
    ...defined,
    `  for ((lz_i = 0; lz_i < ${EARLIER_JOB_WAIT_SECONDS}; lz_i++)); do`,
    `    lz_job="$(virsh domjobinfo ${q} 2>/dev/null | sed -n 's/^Job type: *//p')" || lz_job=None`,
    `    [ "$lz_job" = Unbounded ] || break`,
    "    sleep 1",
    "  done",
    ...defined,
    `  lz_state="$(virsh domstate ${q})" || { echo "virsh domstate failed" >&2; exit ${EXIT_VIRSH_FAILED}; }`,
    `  if [ "$lz_state" != running ]; then echo "domain "${q}" is '$lz_state', not running: only a running guest migrates live" >&2; exit ${EXIT_UNEXPECTED_STATE}; fi`,
    `  ${words.join(" ")} &`,
    "  lz_pid=$!",
    `  for ((lz_i = 0; lz_i < ${timeout}; lz_i++)); do kill -0 "$lz_pid" 2>/dev/null || break; sleep 1; done`,
    `  if kill -0 "$lz_pid" 2>/dev/null; then echo "live migration not complete after ${timeout} s: aborted" >&2; virsh domjobabort ${q} >&2 || true; fi`,
    `  wait "$lz_pid"`,
    ")",
  ]);
}

/**
 * On the source, cold: the guest shut down cleanly (destroyed after `shutdownTimeoutSeconds`), then its
 * definition removed, the disk kept. Idempotent: an absent domain is already there.
 */
export function stopAndUndefineScript(uuid: string, shutdownTimeoutSeconds: number): string {
  return shellScript([powerOffClean(uuid, shutdownTimeoutSeconds), ensureUndefined(uuid)]);
}

/**
 * On the host a failed migration left a stopped or paused copy on while the guest runs elsewhere: the
 * domain destroyed and undefined, the disk kept (it is the running guest's). Idempotent.
 */
export function removeLeftoverScript(uuid: string): string {
  return shellScript([ensureRemoved(uuid)]);
}

/**
 * On the host a failed migration leaves the guest on: started again (or resumed) unless it runs.
 * Fails (EXIT_DOMAIN_ABSENT) when the domain is not defined there.
 */
export function restartGuestScript(uuid: string): string {
  return shellScript([ensureStarted(uuid)]);
}
