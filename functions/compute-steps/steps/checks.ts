/**
 * The compute manager's checks before it touches anything (handout steps 9-11), evacuate only:
 * the target's driver supports recreate, the instance is not already defined there, and the caller's
 * shared-storage hint agrees with what the target sees (detected when not given).
 */
import { InstanceEvacuateNotSupported, InstanceExists, InvalidSharedStorage } from "#shared/domain/errors.js";
import type { FlowState } from "#shared/flow/contract.js";
import type { StepDeps } from "#shared/flow/deps.js";
import { requireScheduled } from "#shared/flow/flow-state.js";
import { hostTarget, rootDiskPath } from "#shared/hosts/layout.js";
import { domainExists, fileExists } from "#shared/hosts/virsh.js";
import { loadTarget } from "./target.js";

export async function verifyRecreate(deps: StepDeps, state: FlowState): Promise<FlowState> {
  const flow = requireScheduled(state);
  if (!flow.recreate) return state;
  const host = await deps.stores.hosts.require(flow.destHost);
  if (!host.supportsRecreate) {
    throw new InstanceEvacuateNotSupported(
      `The driver of host ${host.name} does not support evacuate (recreate).`,
      {
        host: host.name,
      },
    );
  }
  return state;
}

export async function checkInstanceNotOnTarget(deps: StepDeps, state: FlowState): Promise<FlowState> {
  const flow = requireScheduled(state);
  if (!flow.recreate) return state;
  const { instance, host } = await loadTarget(deps, flow);
  const probe = await deps.executor.probe(hostTarget(host), domainExists(instance.uuid), {
    comment: `instance-exists ${instance.uuid}`,
  });
  if (probe.exitCode === 0) {
    throw new InstanceExists(`Instance ${instance.uuid} already exists on host ${host.name}.`, {
      host: host.name,
    });
  }
  return state;
}

export async function checkSharedStorage(deps: StepDeps, state: FlowState): Promise<FlowState> {
  const flow = requireScheduled(state);
  if (!flow.recreate) return state;
  const { instance, host } = await loadTarget(deps, flow);
  const disk = rootDiskPath(host, instance.uuid);
  const probe = await deps.executor.probe(hostTarget(host), fileExists(disk), {
    comment: `instance-on-disk ${disk}`,
  });
  const onDisk = probe.exitCode === 0;
  if (flow.onSharedStorage !== null && flow.onSharedStorage !== onDisk) {
    throw new InvalidSharedStorage(
      `Invalid state of instance files on shared storage: told ${flow.onSharedStorage ? "shared" : "not shared"}, ` +
        `but ${disk} ${onDisk ? "exists" : "does not exist"} on ${host.name}.`,
      { host: host.name, path: disk, hint: flow.onSharedStorage, onDisk },
    );
  }
  return { ...state, sharedStorage: onDisk };
}
