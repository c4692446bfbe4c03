/**
 * Defining (and starting) an instance's domain on a host from its records: Spawn's host command, also run
 * by a cold migration on its target and by a migration's revert or failure on its source. A command that
 * fails is SpawnFailed; one refused because another process holds the disk's write lock (qemu's image
 * lock, virtlockd) is DiskLocked when the caller counts that as a running copy elsewhere.
 */
import { DiskLocked, HostCommandFailed, SpawnFailed } from "../domain/errors.js";
import { isDiskLockRefusal } from "../domain/fencing.js";
import type { Host, Instance } from "../domain/schemas.js";
import { defineDomainScript } from "../hosts/instance-domain.js";
import { hostTarget } from "../hosts/layout.js";
import type { StepDeps } from "./deps.js";

export interface DefineGuest {
  instance: Instance;
  host: Host;
  /** The image the root disk was made from (a rebuild's new image before the record says so). */
  imageRef?: string;
  start: boolean;
  /** The caller proved the domain not defined on this host (see defineDomainScript). */
  absent: boolean;
  /** A lock refusal means a copy runs elsewhere (DiskLocked); otherwise it is a SpawnFailed like any other. */
  lockRefusalIsCopy: boolean;
}

export async function defineGuest(
  deps: Pick<StepDeps, "stores" | "executor">,
  d: DefineGuest,
): Promise<void> {
  const { instance, host } = d;
  const [ports, volumes] = await Promise.all([
    Promise.all(instance.ports.map((id) => deps.stores.ports.require(id))),
    Promise.all(instance.volumes.map((bdm) => deps.stores.volumes.require(bdm.volumeId))),
  ]);
  const script = defineDomainScript(
    { instance, host, ports, volumes, imageRef: d.imageRef ?? instance.imageRef },
    { start: d.start, absent: d.absent },
  );
  try {
    await deps.executor.run(hostTarget(host), script, { comment: `spawn ${instance.uuid}` });
  } catch (e) {
    if (!(e instanceof HostCommandFailed)) throw e;
    const stderr = String(e.details.stderr ?? e.message).trim();
    if (d.lockRefusalIsCopy && isDiskLockRefusal(stderr)) {
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
}
