/**
 * Making a target host hold nothing of an instance: its domain destroyed and undefined, and, when this
 * flow proved the disk absent there before creating it, the instance folder removed. Used by the
 * CleanUpTarget step (a target given up on), by Schedule (the targets an earlier flow could not clean,
 * `Instance.uncleanTargets`) and by the sweeper. It refuses the host the instance record names: the instance lives there.
 */
import { InvalidInput } from "../domain/errors.js";
import type { Host, Instance } from "../domain/schemas.js";
import { hostTarget } from "../hosts/layout.js";
import { removeDomain } from "../hosts/virsh.js";
import type { StepDeps } from "./deps.js";

export async function cleanTarget(
  deps: Pick<StepDeps, "executor">,
  host: Pick<Host, "name" | "managedInstanceId" | "storage">,
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
