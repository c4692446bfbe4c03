/**
 * nova's `network_api.setup_instance_network_on_host` in `_do_rebuild_instance`: bind the instance's ports to the target
 * host (neutron's binding:host_id), keeping their MACs, so the NICs defined at spawn carry the same
 * addresses. Idempotent. A failed flow binds them back to the host its record names.
 */
import type { Instance } from "#shared/domain/schemas.js";
import type { FlowState } from "#shared/flow/contract.js";
import type { StepDeps } from "#shared/flow/deps.js";
import { requireScheduled } from "#shared/flow/flow-state.js";

export async function rebindPorts(deps: StepDeps, state: FlowState): Promise<FlowState> {
  const flow = requireScheduled(state);
  await bindPorts(deps, await deps.stores.instances.require(flow.instanceUuid), flow.destHost);
  return state;
}

/** The phase itself, on an instance record the caller has read. */
export async function bindPorts(deps: StepDeps, instance: Instance, host: string): Promise<void> {
  for (const portId of instance.ports) await deps.stores.ports.bind(portId, host);
}
