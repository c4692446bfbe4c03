/**
 * The boot's spawn (nova's SPAWNING): task networking -> spawning, then the domain defined (autostart off)
 * and started unless the build asks for a stopped server, through the same spawn as the rebuild flow's
 * (shared/flow/spawn-domain.ts). Retried only when never delivered: a timed-out spawn may have started it.
 */
import { type BootState, requirePlaced } from "#shared/flow/boot-contract.js";
import type { StepDeps } from "#shared/flow/deps.js";
import { spawnDomain } from "#shared/flow/spawn-domain.js";
import { advanceTaskState } from "#shared/flow/task-state.js";

export async function spawnBoot(deps: StepDeps, state: BootState): Promise<BootState> {
  const flow = requirePlaced(state);
  const [instance, host] = await Promise.all([
    advanceTaskState(deps, flow.build.instanceUuid, flow.requestId, "networking", "spawning"),
    deps.stores.hosts.require(flow.host),
  ]);
  const [ports, volumes] = await Promise.all([
    Promise.all(instance.ports.map((id) => deps.stores.ports.require(id))),
    Promise.all(instance.volumes.map((bdm) => deps.stores.volumes.require(bdm.volumeId))),
  ]);
  await spawnDomain(
    deps,
    { instance, host, ports, volumes },
    { start: !flow.build.stopped, absent: false, lockRefusalIsDiskLocked: false },
  );
  return state;
}
