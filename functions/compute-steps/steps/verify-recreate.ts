/**
 * nova's `supports_evacuate` check in `ComputeManager.rebuild_instance`, evacuate only: the target's driver can
 * recreate. Decided on the target as Schedule's claim left it (FlowState `target`, read when absent): the
 * claim's write returned the host record as it was at the claim (and a scheduled claim is conditional on this
 * very field as the filters saw it), so no read of its own is needed.
 */
import { InstanceEvacuateNotSupported } from "#shared/domain/errors.js";
import type { FlowState } from "#shared/flow/contract.js";
import type { StepDeps } from "#shared/flow/deps.js";
import { requireScheduled } from "#shared/flow/flow-state.js";
import { targetHost } from "./load-target.js";

export async function verifyRecreate(deps: StepDeps, state: FlowState): Promise<FlowState> {
  const flow = requireScheduled(state);
  if (!flow.recreate) return state;
  const host = await targetHost(deps, flow);
  if (!host.supportsRecreate) {
    throw new InstanceEvacuateNotSupported(
      `The driver of host ${host.name} does not support evacuate (recreate).`,
      { host: host.name },
    );
  }
  return state;
}
