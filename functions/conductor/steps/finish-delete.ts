/**
 * The end of a delete (nova's `_delete_instance`, `_complete_deletion`): with the domain and its disks gone
 * from the host, every record of the instance is let go: its ports (made ones deleted, given ones unbound),
 * its volume attachments ended (volumes deleted with it removed, the others available), its claims released
 * wherever it may hold one (its own host, an unclean target, and the hosts its migrations name: one it was
 * evacuated away from keeps its claim until that host returns), never by reading every host; then the record is DELETED
 * (kept, as nova keeps deleted rows: `GET` answers 404). `instance.delete.end`. Every part idempotent.
 */
import { HostNotFound } from "#shared/domain/errors.js";
import type { Instance } from "#shared/domain/schemas.js";
import type { DeleteState } from "#shared/flow/boot-contract.js";
import type { StepDeps } from "#shared/flow/deps.js";
import { notifyFlow } from "#shared/flow/notify.js";

export async function finishDelete(
  deps: StepDeps,
  state: DeleteState,
): Promise<{ instanceUuid: string; deleted: true }> {
  const { instances, hosts, ports, volumes, actions } = deps.stores;
  const instance = await instances.require(state.instanceUuid);
  if (instance.vmState !== "deleted") {
    for (const portId of instance.ports) await ports.releaseFrom(portId, instance.uuid);
    for (const bdm of instance.volumes) {
      if (!(await volumes.get(bdm.volumeId))) continue;
      await volumes.endAttachments(bdm.volumeId, { instanceUuid: instance.uuid });
      if (bdm.deleteOnTermination) await volumes.delete(bdm.volumeId);
    }
    for (const h of await claimHostsOf(deps, instance)) {
      try {
        await hosts.release(h, instance.uuid);
      } catch (e) {
        if (!(e instanceof HostNotFound)) throw e; // deregistered meanwhile: nothing of it to release
      }
    }
    await instances.update(instance.uuid, {
      expectTaskState: ["deleting"],
      expectTaskRequestId: state.requestId,
      set: {
        vmState: "deleted",
        powerState: "nostate",
        taskState: null,
        taskRequestId: null,
        taskExecutionArn: null,
        lastRequestId: state.requestId,
      },
    });
  }
  await actions.update(state.requestId, () => ({ message: null }));
  await notifyFlow(deps, { requestId: state.requestId, instanceUuid: instance.uuid }, "instance.delete.end", {
    action: "delete",
    host: instance.host,
  });
  return { instanceUuid: instance.uuid, deleted: true };
}

/** Every host where `instance` may hold a claim: its own, its unclean targets, its migrations' ends. */
async function claimHostsOf(deps: StepDeps, instance: Instance): Promise<string[]> {
  const out = new Set<string>([instance.host, ...instance.uncleanTargets.map((t) => t.host)]);
  for (const m of await deps.stores.migrations.listByInstance(instance.uuid)) {
    out.add(m.sourceHost);
    if (m.destHost) out.add(m.destHost);
    for (const h of m.attemptedHosts) out.add(h);
  }
  return [...out];
}
