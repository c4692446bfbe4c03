/**
 * nova's InstanceExists check in `_do_rebuild_instance`, evacuate only: the instance must not be defined on the
 * target's hypervisor. A probe that cannot answer (virsh failing) is ProbeFailed, never "absent".
 */
import { InstanceExists } from "#shared/domain/errors.js";
import type { FlowState } from "#shared/flow/contract.js";
import type { StepDeps } from "#shared/flow/deps.js";
import { requireScheduled } from "#shared/flow/flow-state.js";
import { hostTarget } from "#shared/hosts/layout.js";
import { parseTargetProbe, targetProbeScript } from "#shared/hosts/probes.js";
import { loadTarget } from "./load-target.js";

export async function checkInstanceNotOnTarget(deps: StepDeps, state: FlowState): Promise<FlowState> {
  const flow = requireScheduled(state);
  if (!flow.recreate) return state;
  const { instance, host } = await loadTarget(deps, flow);
  const result = await deps.executor.probe(hostTarget(host), targetProbeScript({ domain: instance.uuid }), {
    comment: `instance-exists ${instance.uuid}`,
  });
  const { domain } = parseTargetProbe(host.name, ["domain"], result);
  if (domain === "present") {
    throw new InstanceExists(`Instance ${instance.uuid} already exists on host ${host.name}.`, {
      host: host.name,
    });
  }
  return state;
}
