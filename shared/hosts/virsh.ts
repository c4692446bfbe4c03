/**
 * Builders of the domain operations' host commands (the documents in ssm-documents/ run virsh there).
 * Domains are addressed by instance uuid, lower-cased as virsh prints it. Every value is validated with its
 * schema here (InvalidInput naming the field) and again against the document's pattern.
 */

import { z } from "zod";
import { DETACH_VOLUME } from "#ssm-documents/detach-volume.js";
import { LIST_DOMAINS } from "#ssm-documents/list-domains.js";
import { CONSOLE_LOG_MAX_LINES, READ_CONSOLE_LOG } from "#ssm-documents/read-console-log.js";
import { READ_DOMAIN_DISKS } from "#ssm-documents/read-domain-disks.js";
import { REBOOT_DOMAIN } from "#ssm-documents/reboot-domain.js";
import { REMOVE_DOMAIN } from "#ssm-documents/remove-domain.js";
import { REMOVE_STALE_DOMAINS, STALE_UUIDS_PER_COMMAND } from "#ssm-documents/remove-stale-domains.js";
import { START_DOMAIN } from "#ssm-documents/start-domain.js";
import { STOP_DOMAIN } from "#ssm-documents/stop-domain.js";
import { AbsolutePath, DiskDevice, Uuid } from "../domain/values.js";
import { type HostCommand, hostCommand } from "./host-command.js";
import { validated } from "./validate.js";

export { EXIT_DOMAIN_ABSENT, EXIT_UNEXPECTED_STATE, EXIT_VIRSH_FAILED } from "./exit-codes.js";

export const DiskFormat = z.enum(["qcow2", "raw"]);
export type DiskFormat = z.infer<typeof DiskFormat>;

/** A clean shutdown's wait, whole seconds up to a day (0: destroy at once). */
export const ShutdownTimeoutSeconds = z.number().int().min(0).max(86_400);

/** Throws unless `value` is a domain uuid; returns it lower-cased (as virsh prints uuids). */
export function domainUuid(value: string): string {
  return validated(Uuid, "domain", value).toLowerCase();
}

/** Every domain defined on the host (`virsh list --all --uuid`) -> parseListUuids. */
export function listDomains(): HostCommand {
  return hostCommand(LIST_DOMAINS, {});
}

/** Start the domain unless it runs; exit EXIT_DOMAIN_ABSENT when it is not defined. */
export function startDomain(uuid: string): HostCommand {
  return hostCommand(START_DOMAIN, { uuid: domainUuid(uuid) });
}

/**
 * Clean power off: ACPI shutdown, then destroy after `shutdownTimeoutSeconds` (0 = at once). An absent or
 * already shut-off domain is powered off.
 */
export function stopDomain(uuid: string, shutdownTimeoutSeconds: number): HostCommand {
  const seconds = validated(ShutdownTimeoutSeconds, "shutdownTimeoutSeconds", shutdownTimeoutSeconds);
  return hostCommand(STOP_DOMAIN, { uuid: domainUuid(uuid), shutdownTimeoutSeconds: String(seconds) });
}

/**
 * Reboot in one command: a clean shutdown (destroyed after `shutdownTimeoutSeconds`), then started again;
 * 0 seconds is nova's HARD reboot (destroyed at once). EXIT_DOMAIN_ABSENT when it is not defined.
 */
export function rebootDomain(uuid: string, shutdownTimeoutSeconds: number): HostCommand {
  const seconds = validated(ShutdownTimeoutSeconds, "shutdownTimeoutSeconds", shutdownTimeoutSeconds);
  return hostCommand(REBOOT_DOMAIN, { uuid: domainUuid(uuid), shutdownTimeoutSeconds: String(seconds) });
}

/**
 * The end of the instance's serial console log on its host: its last `lines` lines, or all of it (null), at
 * most CONSOLE_LOG_MAX_BYTES either way. More lines than CONSOLE_LOG_MAX_LINES read as all of them.
 */
export function readConsoleLog(uuid: string, instancesPath: string, lines: number | null): HostCommand {
  const count = lines === null ? null : validated(z.number().int().min(0), "length", lines);
  return hostCommand(READ_CONSOLE_LOG, {
    uuid: domainUuid(uuid),
    instancesPath: validated(AbsolutePath, "instancesPath", instancesPath),
    lines: count === null || count > CONSOLE_LOG_MAX_LINES ? "" : String(count),
  });
}

/**
 * Destroy and undefine the domain (idempotent: an absent domain is removed); with `instancesPath`, its
 * folder `<instancesPath>/<uuid>` (the local root disk) goes too. The disk of a shared pool is never passed.
 */
export function removeDomain(uuid: string, opts: { instancesPath?: string } = {}): HostCommand {
  return hostCommand(REMOVE_DOMAIN, {
    uuid: domainUuid(uuid),
    ...(opts.instancesPath !== undefined
      ? { instancesPath: validated(AbsolutePath, "instancesPath", opts.instancesPath) }
      : {}),
  });
}

/**
 * A returning host's stale domains removed, a hundred per command; the folder `<instancesPath>/<uuid>` of
 * each one with `removeFiles` (its local disk) too.
 */
export function removeStaleDomains(
  domains: readonly { uuid: string; removeFiles: boolean }[],
  instancesPath: string,
): HostCommand[] {
  const path = validated(AbsolutePath, "instancesPath", instancesPath);
  const commands: HostCommand[] = [];
  for (let i = 0; i < domains.length; i += STALE_UUIDS_PER_COMMAND) {
    const batch = domains
      .slice(i, i + STALE_UUIDS_PER_COMMAND)
      .map((d) => ({ ...d, uuid: domainUuid(d.uuid) }));
    const filesOf = batch.filter((d) => d.removeFiles).map((d) => d.uuid);
    commands.push(
      hostCommand(REMOVE_STALE_DOMAINS, {
        uuids: batch.map((d) => d.uuid).join(" "),
        ...(filesOf.length > 0 ? { filesOf: filesOf.join(" "), instancesPath: path } : {}),
      }),
    );
  }
  return commands;
}

/** `virsh domblklist --details` of the domain -> parseDomBlkList (a probe: non-zero when virsh cannot say). */
export function readDomainDisks(uuid: string): HostCommand {
  return hostCommand(READ_DOMAIN_DISKS, { uuid: domainUuid(uuid) });
}

/** Detach a disk from the (powered-off) domain's persistent definition. */
export function detachVolume(uuid: string, device: string): HostCommand {
  return hostCommand(DETACH_VOLUME, {
    uuid: domainUuid(uuid),
    device: validated(DiskDevice, "device", device),
  });
}
