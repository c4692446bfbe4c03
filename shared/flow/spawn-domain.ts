/**
 * The libvirt driver's spawn on a host: write the domain definition, define it (autostart off) and start
 * it unless it is to stay stopped. A host command that fails is SpawnFailed; one refused because another
 * process holds the disk's write lock (qemu's image lock, virtlockd) is DiskLocked where the caller says
 * a copy elsewhere may hold it (an evacuation). Shared by the rebuild flow's Spawn and the boot flow's.
 */
import { DiskLocked, HostCommandFailed, SpawnFailed } from "../domain/errors.js";
import { isDiskLockRefusal } from "../domain/fencing.js";
import { defineDomainScript, type InstanceDomainParts } from "../hosts/instance-domain.js";
import { hostTarget } from "../hosts/layout.js";
import type { StepDeps } from "./deps.js";

export async function spawnDomain(
  deps: Pick<StepDeps, "executor">,
  parts: InstanceDomainParts,
  opts: { start: boolean; absent: boolean; lockRefusalIsDiskLocked: boolean },
): Promise<void> {
  const { instance, host } = parts;
  const script = defineDomainScript(parts, { start: opts.start, absent: opts.absent });
  try {
    await deps.executor.run(hostTarget(host), script, { comment: `spawn ${instance.uuid}` });
  } catch (e) {
    if (e instanceof HostCommandFailed) {
      const stderr = String(e.details.stderr ?? e.message).trim();
      if (opts.lockRefusalIsDiskLocked && isDiskLockRefusal(stderr)) {
        throw new DiskLocked(
          `${host.name} refused the disk of ${instance.uuid}: another process holds its write lock, so the copy on ${instance.host} still runs (${stderr})`,
          { host: host.name, holder: instance.host, ...e.details },
          { cause: e },
        );
      }
      throw new SpawnFailed(
        `Spawn of ${instance.uuid} failed on ${host.name}: ${stderr}`,
        { host: host.name, ...e.details },
        { cause: e },
      );
    }
    throw e;
  }
}
