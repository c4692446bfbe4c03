/**
 * The end of a delete (nova's `_delete_instance`, `_complete_deletion`): with the domain and its disks gone
 * from the host, every record of the instance is let go: its ports (made ones deleted, given ones unbound),
 * its volume attachments ended (volumes deleted with it removed, the others available), its claims released
 * on every host (its own, and any left on a host it was evacuated away from), then the record is DELETED
 * (kept, as nova keeps deleted rows: `GET` answers 404). `instance.delete.end`. Every part idempotent.
 */
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
    for (const h of await hosts.list()) {
      if (h.claims[instance.uuid]) await hosts.release(h.name, instance.uuid);
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
