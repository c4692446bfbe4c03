/**
 * The steps that act on the target's hypervisor (nova's `_rebuild_default_impl` and the libvirt driver):
 * power off and destroy (rebuild only), prepare the root disk, spawn, and clean up a target given up on.
 * Disks on shared storage are never deleted or rewritten by an evacuation (nova bug 1550919).
 */
import { HostCommandFailed, SpawnFailed } from "#shared/domain/errors.js";
import type { FlowState } from "#shared/flow/contract.js";
import type { StepDeps } from "#shared/flow/deps.js";
import { endsStopped, requireScheduled } from "#shared/flow/flow-state.js";
import { advanceTaskState } from "#shared/flow/task-state.js";
import { defineDomainScript } from "#shared/hosts/instance-domain.js";
import { baseImagePath, hostTarget, instanceDir, rootDiskPath } from "#shared/hosts/layout.js";
import { createOverlay } from "#shared/hosts/qemu-img.js";
import { shellQuote, shellScript } from "#shared/hosts/shell.js";
import { ensureDestroyed, ensureUndefined, fileExists, powerOffClean } from "#shared/hosts/virsh.js";
import { loadTarget } from "./target.js";

/** Rebuild: a clean shutdown first, then power off if the guest does not comply in time. */
export async function powerOff(deps: StepDeps, state: FlowState): Promise<FlowState> {
  const flow = requireScheduled(state);
  const { instance, host } = await loadTarget(deps, flow);
  await deps.executor.run(hostTarget(host), powerOffClean(instance.uuid, deps.shutdownTimeoutSeconds), {
    comment: `power-off ${instance.uuid}`,
    executionTimeoutSeconds: deps.shutdownTimeoutSeconds + 30,
  });
  return state;
}

/** Rebuild: destroy and undefine the old domain; its disks and volumes stay. */
export async function destroy(deps: StepDeps, state: FlowState): Promise<FlowState> {
  const flow = requireScheduled(state);
  const { instance, host } = await loadTarget(deps, flow);
  await deps.executor.run(
    hostTarget(host),
    shellScript([ensureDestroyed(instance.uuid), ensureUndefined(instance.uuid)]),
    { comment: `destroy ${instance.uuid}` },
  );
  return state;
}

/**
 * Evacuate onto shared storage: the disk is reused as it is. Otherwise (evacuate to local disk, or any
 * rebuild, which re-images) a copy-on-write root disk is made from the image in the target's cache.
 */
export async function prepareRootDisk(deps: StepDeps, state: FlowState): Promise<FlowState> {
  const flow = requireScheduled(state);
  const { instance, host } = await loadTarget(deps, flow);
  const disk = rootDiskPath(host, instance.uuid);
  if (flow.recreate && flow.sharedStorage) {
    await deps.executor.run(hostTarget(host), fileExists(disk), { comment: `reuse ${disk}` });
    return { ...state, createdRootDisk: false };
  }
  const imageRef = flow.imageRef ?? instance.imageRef;
  const base = baseImagePath(host, imageRef);
  await deps.executor.run(
    hostTarget(host),
    shellScript([
      `test -f ${shellQuote(base)} || { echo "image ${imageRef} is not in the image cache of ${host.name}" >&2; exit 2; }`,
      `rm -f ${shellQuote(disk)}`,
      createOverlay({ base, disk, sizeGiB: instance.flavor.diskGiB }),
    ]),
    { comment: `root disk from ${imageRef}` },
  );
  return { ...state, createdRootDisk: true };
}

/**
 * task_state := rebuild_spawning, then define the domain (root disk, volumes, one NIC per port with its
 * MAC) and start it, unless it ends STOPPED (`endsStopped`): then it stays defined and shut off.
 */
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
    deps.stores.hosts.require(flow.destHost),
  ]);
  const [ports, volumes] = await Promise.all([
    Promise.all(instance.ports.map((id) => deps.stores.ports.require(id))),
    Promise.all(instance.volumes.map((bdm) => deps.stores.volumes.require(bdm.volumeId))),
  ]);
  const script = defineDomainScript(
    { instance, host, ports, volumes, imageRef: flow.imageRef ?? instance.imageRef },
    { start: !endsStopped(flow) },
  );
  try {
    await deps.executor.run(hostTarget(host), script, { comment: `spawn ${instance.uuid}` });
  } catch (e) {
    if (e instanceof HostCommandFailed) {
      throw new SpawnFailed(
        `Spawn of ${instance.uuid} failed on ${host.name}: ${String(e.details.stderr ?? e.message).trim()}`,
        {
          host: host.name,
          ...e.details,
        },
        { cause: e },
      );
    }
    throw e;
  }
  return state;
}

/**
 * Undo what this flow did on a target it gives up on (before a reschedule, or after a failure): the domain
 * it defined is destroyed and undefined, the root disk it created on local storage removed. Only a spawn
 * defines a domain, so after an earlier failure (e.g. InstanceExists: someone else's domain) none is touched.
 */
export async function cleanUpTarget(deps: StepDeps, state: FlowState): Promise<FlowState> {
  const flow = requireScheduled(state);
  if (!flow.recreate) return state;
  const failedAtSpawn = Object.hasOwn(flow.failure ?? {}, "spawn");
  const removeDisk = flow.createdRootDisk === true && flow.sharedStorage === false;
  if (!failedAtSpawn && !removeDisk) return state;
  const { instance, host } = await loadTarget(deps, flow);
  const lines: string[] = [];
  if (failedAtSpawn) lines.push(ensureDestroyed(instance.uuid), ensureUndefined(instance.uuid));
  if (removeDisk) lines.push(`rm -rf ${shellQuote(instanceDir(host, instance.uuid))}`);
  await deps.executor.run(hostTarget(host), shellScript(lines), { comment: `clean up ${instance.uuid}` });
  return state;
}
