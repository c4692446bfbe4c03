/**
 * Handout steps 14-15 for volumes. Detach: on evacuate the dead host cannot be asked, so its attachments
 * are ended in the volume service's records; on rebuild the (powered-off) domain's disks are detached from
 * its persistent config as well. Attach: task_state := rebuild_block_device_mapping, then an attachment
 * per volume for the target host (ids derived from the migration, so a retry finds them in place). The
 * domain gets the volumes in its definition at spawn.
 */
import { deterministicUuid } from "#shared/domain/ids.js";
import type { FlowState } from "#shared/flow/contract.js";
import type { StepDeps } from "#shared/flow/deps.js";
import { requireScheduled } from "#shared/flow/flow-state.js";
import { advanceTaskState } from "#shared/flow/task-state.js";
import { hostTarget } from "#shared/hosts/layout.js";
import { detachDisk, domBlkList } from "#shared/hosts/virsh.js";
import { parseDomBlkList } from "#shared/hosts/virsh-parsers.js";
import { loadTarget } from "./target.js";

export async function detachVolumes(deps: StepDeps, state: FlowState): Promise<FlowState> {
  const flow = requireScheduled(state);
  const { instance, host } = await loadTarget(deps, flow);
  if (instance.volumes.length === 0) return state;
  if (!flow.recreate) {
    const listed = await deps.executor.probe(hostTarget(host), domBlkList(instance.uuid));
    const targets = new Set(listed.exitCode === 0 ? parseDomBlkList(listed.stdout).map((d) => d.target) : []);
    for (const bdm of instance.volumes) {
      if (!targets.has(bdm.device)) continue;
      await deps.executor.run(
        hostTarget(host),
        detachDisk(instance.uuid, { target: bdm.device, live: false, config: true }),
        {
          comment: `detach ${bdm.volumeId}`,
        },
      );
    }
  }
  for (const bdm of instance.volumes) {
    await deps.stores.volumes.endAttachments(bdm.volumeId, { instanceUuid: instance.uuid });
  }
  return state;
}

export async function attachVolumes(deps: StepDeps, state: FlowState): Promise<FlowState> {
  const flow = requireScheduled(state);
  const instance = await advanceTaskState(
    deps,
    flow.instanceUuid,
    flow.requestId,
    "rebuilding",
    "rebuild_block_device_mapping",
  );
  for (const bdm of instance.volumes) {
    await deps.stores.volumes.attach(bdm.volumeId, {
      attachmentId: deterministicUuid(flow.migrationId, flow.destHost, bdm.volumeId),
      instanceUuid: instance.uuid,
      host: flow.destHost,
      device: bdm.device,
    });
  }
  return state;
}
