/**
 * Handout step 12: task_state := rebuilding (expecting rebuilding) with the power state as the target's
 * hypervisor reports it: for evacuate the instance is not there yet (nostate); for rebuild, ask the host.
 */
import type { PowerState } from "#shared/domain/states.js";
import type { FlowState } from "#shared/flow/contract.js";
import type { StepDeps } from "#shared/flow/deps.js";
import { requireScheduled } from "#shared/flow/flow-state.js";
import { advanceTaskState } from "#shared/flow/task-state.js";
import { hostTarget } from "#shared/hosts/layout.js";
import { domState } from "#shared/hosts/virsh.js";
import { parseDomState } from "#shared/hosts/virsh-parsers.js";
import { loadTarget } from "./target.js";

export async function updateInstanceState(deps: StepDeps, state: FlowState): Promise<FlowState> {
  const flow = requireScheduled(state);
  let powerState: PowerState = "nostate";
  if (!flow.recreate) {
    const { instance, host } = await loadTarget(deps, flow);
    const probe = await deps.executor.probe(hostTarget(host), domState(instance.uuid));
    powerState = probe.exitCode === 0 ? parseDomState(probe.stdout) : "nostate";
  }
  await advanceTaskState(deps, flow.instanceUuid, flow.requestId, "rebuilding", "rebuilding", { powerState });
  return state;
}
