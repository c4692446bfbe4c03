/**
 * nova's `_shutdown_instance` + `_cleanup_volumes` on the instance's host, per storage kind: the domain
 * destroyed and undefined, the instance folder removed (its root disk: on a shared pool too, the folder
 * is the instance's own), and the files of the volumes deleted with it (delete_on_termination). Volumes
 * kept stay as they are on the volume store. Each command an "ensure": a retry finds it done.
 */
import type { DeleteState } from "#shared/flow/boot-contract.js";
import type { StepDeps } from "#shared/flow/deps.js";
import { hostTarget, instanceDir, volumePath } from "#shared/hosts/layout.js";
import { shellQuote, shellScript } from "#shared/hosts/shell.js";
import { ensureDestroyed, ensureUndefined } from "#shared/hosts/virsh.js";

export async function destroyInstance(deps: StepDeps, state: DeleteState): Promise<DeleteState> {
  const [instance, host] = await Promise.all([
    deps.stores.instances.require(state.instanceUuid),
    deps.stores.hosts.require(state.host),
  ]);
  const goes = await Promise.all(
    instance.volumes.filter((b) => b.deleteOnTermination).map((b) => deps.stores.volumes.get(b.volumeId)),
  );
  const lines = [
    ensureDestroyed(instance.uuid),
    ensureUndefined(instance.uuid),
    `rm -rf -- ${shellQuote(instanceDir(host, instance.uuid))}`,
    ...goes.flatMap((v) => (v ? [`rm -f -- ${shellQuote(volumePath(host, v))}`] : [])),
  ];
  await deps.executor.run(hostTarget(host), shellScript(lines), { comment: `delete ${instance.uuid}` });
  return state;
}
