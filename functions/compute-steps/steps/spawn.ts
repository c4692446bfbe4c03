/**
 * nova's REBUILD_SPAWNING phase and the libvirt driver's spawn: task_state := rebuild_spawning, then
 * define the domain (root disk, volumes, one NIC per port with its MAC; autostart off) and start it,
 * unless it ends STOPPED. A host command that fails is SpawnFailed; one that timed out may have run, so
 * the state machine cleans the target before anything else is tried. An evacuation's start refused because
 * another process holds the disk's write lock (qemu's image lock, virtlockd) is DiskLocked: the old copy
 * still runs, so no other host is tried either; the flow ends "fencing required".
 */
import type { FlowState } from "#shared/flow/contract.js";
import type { StepDeps } from "#shared/flow/deps.js";
import { endsStopped, flowImage, requireScheduled } from "#shared/flow/flow-state.js";
import { spawnDomain } from "#shared/flow/spawn-domain.js";
import { advanceTaskState } from "#shared/flow/task-state.js";
import { targetHost } from "./load-target.js";

export async function spawn(deps: StepDeps, state: FlowState): Promise<FlowState> {
  const flow = requireScheduled(state);
  const [instance, host] = await Promise.all([
    advanceTaskState(
      deps,
      flow.instanceUuid,
      flow.requestId,
      "rebuild_block_device_mapping",
      "rebuild_spawning",
    ),
    targetHost(deps, flow),
  ]);
  const [ports, volumes] = await Promise.all([
    Promise.all(instance.ports.map((id) => deps.stores.ports.require(id))),
    Promise.all(instance.volumes.map((bdm) => deps.stores.volumes.require(bdm.volumeId))),
  ]);
  await spawnDomain(
    deps,
    { instance, host, ports, volumes, imageRef: flowImage(flow) },
    // Evacuate: CheckInstanceNotOnTarget proved the domain not defined on this target (a reschedule picks
    // another host; a retry here is of a command never delivered), so the definition is a new one.
    { start: !endsStopped(flow), absent: flow.recreate, lockRefusalIsDiskLocked: flow.recreate },
  );
  return state;
}
