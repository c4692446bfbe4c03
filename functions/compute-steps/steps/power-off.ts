/**
 * nova's `_rebuild_default_impl`, rebuild only: a clean shutdown first, then power off if the guest does
 * not comply in time. An absent domain counts as powered off (nova), so a domain-less instance can be
 * rebuilt.
 */
import type { FlowState } from "#shared/flow/contract.js";
import type { StepDeps } from "#shared/flow/deps.js";
import { requireScheduled } from "#shared/flow/flow-state.js";
import { hostTarget } from "#shared/hosts/layout.js";
import { stopDomain } from "#shared/hosts/virsh.js";
import { loadTarget } from "./load-target.js";

export async function powerOff(deps: StepDeps, state: FlowState): Promise<FlowState> {
  const flow = requireScheduled(state);
  const { instance, host } = await loadTarget(deps, flow);
  await deps.executor.run(hostTarget(host), stopDomain(instance.uuid, deps.shutdownTimeoutSeconds), {
    comment: `power-off ${instance.uuid}`,
    executionTimeoutSeconds: deps.shutdownTimeoutSeconds + 30,
  });
  return state;
}
