/** nova's `_rebuild_default_impl`, rebuild only: destroy and undefine the old domain; disks and volumes stay. */
import type { FlowState } from "#shared/flow/contract.js";
import type { StepDeps } from "#shared/flow/deps.js";
import { requireScheduled } from "#shared/flow/flow-state.js";
import { hostTarget } from "#shared/hosts/layout.js";
import { removeDomain } from "#shared/hosts/virsh.js";
import { loadTarget } from "./load-target.js";

export async function destroy(deps: StepDeps, state: FlowState): Promise<FlowState> {
  const flow = requireScheduled(state);
  const { instance, host } = await loadTarget(deps, flow);
  await deps.executor.run(hostTarget(host), removeDomain(instance.uuid), {
    comment: `destroy ${instance.uuid}`,
  });
  return state;
}
