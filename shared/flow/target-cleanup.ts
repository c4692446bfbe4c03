/**
 * Making a target host hold nothing of an instance: its domain destroyed and undefined, and, when this
 * flow proved the disk absent there before creating it, the instance folder removed. Used by the
 * CleanUpTarget step (a target given up on), by Schedule (targets an earlier flow could not clean) and by
 * the sweeper. It refuses the host the instance record names: the instance lives there.
 */
import { InvalidInput } from "../domain/errors.js";
import type { Host, Instance } from "../domain/schemas.js";
import { hostTarget } from "../hosts/layout.js";
import { removeDomain } from "../hosts/virsh.js";
import type { StepDeps } from "./deps.js";

export async function cleanTarget(
  deps: Pick<StepDeps, "executor">,
  host: Host,
  instance: Instance,
  opts: { removeInstanceDir: boolean },
): Promise<void> {
  if (host.name === instance.host) {
    throw new InvalidInput(`refusing to clean ${host.name}: instance ${instance.uuid} lives there`, {
      host: host.name,
      instanceUuid: instance.uuid,
    });
  }
  const files = opts.removeInstanceDir ? { instancesPath: host.storage.instancesPath } : {};
  await deps.executor.run(hostTarget(host), removeDomain(instance.uuid, files), {
    comment: `clean up ${instance.uuid}`,
  });
}

/**
 * Targets an earlier flow of `instance` gave up on without proving them clean: hosts holding a claim of
 * the instance owned by a migration that ended failed/error with that host as its destination (or whose
 * flow the sweeper ended). The claim was kept because a copy may still be there. A claim on a host the
 * instance left by a *successful* evacuation (a dead source not yet back) is not one of these: that
 * copy cannot run until the host returns, and the host-recovery flow removes it first.
 */
export async function uncleanTargets(
  deps: Pick<StepDeps, "stores">,
  hosts: readonly Host[],
  instance: Instance,
  currentMigrationId: string,
): Promise<Host[]> {
  const out: Host[] = [];
  for (const h of hosts) {
    const claim = h.claims[instance.uuid];
    if (!claim || claim.owner === currentMigrationId || h.name === instance.host) continue;
    const migration = await deps.stores.migrations.get(claim.owner);
    if (
      migration?.instanceUuid === instance.uuid &&
      migration.destHost === h.name &&
      (migration.status === "failed" || migration.status === "error")
    ) {
      out.push(h);
    }
  }
  return out;
}
