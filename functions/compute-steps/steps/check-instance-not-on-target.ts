/**
 * nova's InstanceExists check in `_do_rebuild_instance`, evacuate only: the instance must not be defined on the
 * target's hypervisor. A probe that cannot answer (virsh failing) is ProbeFailed, never "absent".
 *
 * The same host command also looks for the instance's root disk and cached image on the target, which the
 * next step (CheckSharedStorage) decides on: one SSM command for both checks instead of two, on every
 * evacuated instance's critical path (bench/RESULTS.md §8, lever 1). Nothing is written to the target
 * between the two steps, so the answers are as fresh as a probe of their own would be.
 *
 * It reads no record: the probe needs the instance's uuid and image (the flow's own: `flowImage`) and the
 * target's folders and agent (as Schedule's claim left them: FlowState `target`), and the answer comes from
 * the target's hypervisor itself.
 */
import { InstanceExists } from "#shared/domain/errors.js";
import type { FlowState } from "#shared/flow/contract.js";
import type { StepDeps } from "#shared/flow/deps.js";
import { flowImage, requireScheduled } from "#shared/flow/flow-state.js";
import { baseImagePath, hostTarget, rootDiskPath } from "#shared/hosts/layout.js";
import { parseTargetProbe, targetProbe } from "#shared/hosts/probes.js";
import { targetHost } from "./load-target.js";

export async function checkInstanceNotOnTarget(deps: StepDeps, state: FlowState): Promise<FlowState> {
  const flow = requireScheduled(state);
  if (!flow.recreate) return state;
  const host = await targetHost(deps, flow);
  const uuid = flow.instanceUuid;
  const command = targetProbe({
    domain: uuid,
    disk: rootDiskPath(host, uuid),
    image: baseImagePath(host, flowImage(flow)),
  });
  const result = await deps.executor.probe(hostTarget(host), command, {
    comment: `instance-exists ${uuid}`,
  });
  const { domain, disk, image } = parseTargetProbe(host.name, ["domain", "disk", "image"], result);
  if (domain === "present") {
    throw new InstanceExists(`Instance ${uuid} already exists on host ${host.name}.`, {
      host: host.name,
    });
  }
  return { ...state, targetProbe: { host: host.name, disk, image } };
}
