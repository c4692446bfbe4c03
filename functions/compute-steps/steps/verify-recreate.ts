/** nova's `supports_evacuate` check in `ComputeManager.rebuild_instance`, evacuate only: the target's driver can recreate. */
import { InstanceEvacuateNotSupported } from "#shared/domain/errors.js";
import type { FlowState } from "#shared/flow/contract.js";
import type { StepDeps } from "#shared/flow/deps.js";
import { requireScheduled } from "#shared/flow/flow-state.js";

export async function verifyRecreate(deps: StepDeps, state: FlowState): Promise<FlowState> {
  const flow = requireScheduled(state);
  if (!flow.recreate) return state;
  const host = await deps.stores.hosts.require(flow.destHost);
  if (!host.supportsRecreate) {
    throw new InstanceEvacuateNotSupported(
      `The driver of host ${host.name} does not support evacuate (recreate).`,
      { host: host.name },
    );
  }
  return state;
}
