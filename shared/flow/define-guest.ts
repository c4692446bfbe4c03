/**
 * Defining (and starting) an instance's domain on a host from its records (its ports and volumes read):
 * spawnDomain as a cold migration runs it on its target and a migration's revert or failure on its source. A command that
 * fails is SpawnFailed; one refused because another process holds the disk's write lock (qemu's image
 * lock, virtlockd) is DiskLocked when the caller counts that as a running copy elsewhere.
 */
import type { Host, Instance } from "../domain/schemas.js";
import type { StepDeps } from "./deps.js";
import { spawnDomain } from "./spawn-domain.js";

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
  await spawnDomain(
    deps,
    { instance, host, ports, volumes, imageRef: d.imageRef ?? instance.imageRef },
    { start: d.start, absent: d.absent, lockRefusalIsDiskLocked: d.lockRefusalIsCopy },
  );
}
