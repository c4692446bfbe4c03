/**
 * The host operations of a migration (issue 32), one builder each, every value validated here and again
 * against its document's pattern:
 *  - `liveMigrate` (on the source, the live-migrate-domain document): `virsh migrate --live --p2p` of a
 *    running guest to the target's libvirtd, bounded by a completion timeout after which the job is aborted
 *    (nova's `live_migration_completion_timeout`, action abort); the guest keeps running on exactly one host;
 *  - `stopAndUndefine` (on the source, cold: stop-undefine-domain): clean shutdown (then destroy), then the
 *    definition removed; the disk stays (shared storage), so the target defines the same disk.
 * Starting on the target (cold) and a revert on the source define the domain as Spawn does (`defineDomain`
 * in instance-domain.ts); a leftover copy is removed with `removeDomain` and a guest restarted with
 * `startDomain` (virsh.ts); a target given up on is cleaned as the rebuild flow cleans one (`cleanTarget`
 * in shared/flow/target-cleanup.ts); where a guest runs is asked with the domain-state probe (probes.ts).
 */
import { z } from "zod";
import { LIVE_MIGRATE_DOMAIN } from "#ssm-documents/live-migrate-domain.js";
import { STOP_UNDEFINE_DOMAIN } from "#ssm-documents/stop-undefine-domain.js";
import { type HostLiveMigration, HostLiveMigration as HostLiveMigrationSchema } from "../domain/schemas.js";
import { type HostCommand, hostCommand } from "./host-command.js";
import { validated } from "./validate.js";
import { domainUuid, ShutdownTimeoutSeconds } from "./virsh.js";

const CompletionTimeout = z.number().int().min(1).max(86_400);

/** On the source: live-migrates a running domain to `target` (see the live-migrate-domain document). */
export function liveMigrate(
  uuid: string,
  target: HostLiveMigration,
  opts: { completionTimeoutSeconds: number },
): HostCommand {
  const dest = validated(HostLiveMigrationSchema, "liveMigration", target);
  const timeout = validated(CompletionTimeout, "completionTimeoutSeconds", opts.completionTimeoutSeconds);
  return hostCommand(LIVE_MIGRATE_DOMAIN, {
    uuid: domainUuid(uuid),
    uri: dest.uri,
    inboundAddress: dest.inboundAddress,
    completionTimeoutSeconds: String(timeout),
    unsafe: String(dest.poolIsLocalFolder === true),
  });
}

/**
 * On the source, cold: the guest shut down cleanly (destroyed after `shutdownTimeoutSeconds`), then its
 * definition removed, the disk kept. Idempotent: an absent domain is already there.
 */
export function stopAndUndefine(uuid: string, shutdownTimeoutSeconds: number): HostCommand {
  const seconds = validated(ShutdownTimeoutSeconds, "shutdownTimeoutSeconds", shutdownTimeoutSeconds);
  return hostCommand(STOP_UNDEFINE_DOMAIN, {
    uuid: domainUuid(uuid),
    shutdownTimeoutSeconds: String(seconds),
  });
}
