/**
 * nova's volume detach in `_rebuild_default_impl` (`detach_block_devices`). On evacuate the dead host cannot be
 * asked, so its attachments are ended in the volume service's records; on rebuild the powered-off
 * domain's disks are also detached from its persistent config. The target's attachments are made by
 * AttachVolumes; the domain gets the volumes in its definition at spawn.
 */
import type { Instance, Volume } from "#shared/domain/schemas.js";
import type { FlowState } from "#shared/flow/contract.js";
import type { StepDeps } from "#shared/flow/deps.js";
import { requireScheduled } from "#shared/flow/flow-state.js";
import { hostTarget } from "#shared/hosts/layout.js";
import { detachVolume, readDomainDisks } from "#shared/hosts/virsh.js";
import { parseDomBlkList } from "#shared/hosts/virsh-parsers.js";
import { loadTarget } from "./load-target.js";

export async function detachVolumes(deps: StepDeps, state: FlowState): Promise<FlowState> {
  const flow = requireScheduled(state);
  const { instance, host } = await loadTarget(deps, flow);
  if (instance.volumes.length === 0) return state;
  if (!flow.recreate) {
    const listed = await deps.executor.probe(hostTarget(host), readDomainDisks(instance.uuid));
    const targets = new Set(listed.exitCode === 0 ? parseDomBlkList(listed.stdout).map((d) => d.target) : []);
    for (const bdm of instance.volumes) {
      if (!targets.has(bdm.device)) continue;
      await deps.executor.run(hostTarget(host), detachVolume(instance.uuid, bdm.device), {
        comment: `detach ${bdm.volumeId}`,
      });
    }
  }
  await endVolumeAttachments(deps, instance);
  return state;
}

/**
 * The volume service's part: every live attachment of the instance ended. Returns each volume as written
 * (by id), for a step that changes it again (PrepareTarget's attach phase).
 */
export async function endVolumeAttachments(deps: StepDeps, instance: Instance): Promise<Map<string, Volume>> {
  const volumes = new Map<string, Volume>();
  for (const bdm of instance.volumes) {
    volumes.set(
      bdm.volumeId,
      await deps.stores.volumes.endAttachments(bdm.volumeId, { instanceUuid: instance.uuid }),
    );
  }
  return volumes;
}
