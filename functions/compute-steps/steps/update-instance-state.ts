/**
 * nova's `_do_rebuild_instance`: task_state := rebuilding (expecting rebuilding) with the power state as the
 * target's hypervisor reports it. For evacuate the instance is not there yet (nostate). For rebuild the
 * same probe also checks that the image to re-image from is in the host's cache, so a rebuild is refused
 * (ImageNotCached) before PowerOff and Destroy take anything down.
 */
import { ImageNotCached } from "#shared/domain/errors.js";
import type { Instance } from "#shared/domain/schemas.js";
import type { PowerState } from "#shared/domain/states.js";
import type { FlowState, ScheduledFlow } from "#shared/flow/contract.js";
import type { StepDeps } from "#shared/flow/deps.js";
import { flowImage, requireScheduled } from "#shared/flow/flow-state.js";
import { advanceTaskState } from "#shared/flow/task-state.js";
import { baseImagePath, hostTarget } from "#shared/hosts/layout.js";
import { parseTargetProbe, probeDomainState, targetProbe } from "#shared/hosts/probes.js";
import { loadTarget } from "./load-target.js";

export async function updateInstanceState(deps: StepDeps, state: FlowState): Promise<FlowState> {
  const flow = requireScheduled(state);
  let powerState: PowerState = "nostate";
  if (!flow.recreate) {
    const { instance, host } = await loadTarget(deps, flow);
    const imageRef = flowImage(flow);
    const image = baseImagePath(host, imageRef);
    const checked = await deps.executor.probe(
      hostTarget(host),
      targetProbe({ domain: instance.uuid, image }),
      { comment: `rebuild checks ${instance.uuid}` },
    );
    const answers = parseTargetProbe(host.name, ["domain", "image"], checked);
    if (answers.image === "absent") {
      throw new ImageNotCached(
        `Image ${imageRef} is not in the image cache of ${host.name}: the rebuild was refused before anything was changed.`,
        { host: host.name, imageRef, path: image },
      );
    }
    if (answers.domain === "present") {
      const state = await probeDomainState(deps.executor, hostTarget(host), instance.uuid, {
        comment: `power state ${instance.uuid}`,
      });
      // Undefined between the two probes: the domain is not there to report a power state.
      powerState = state === "absent" ? "nostate" : state;
    }
  }
  await markRebuilding(deps, flow, powerState);
  return state;
}

/**
 * task_state := rebuilding (expecting rebuilding) with the target's power state (evacuate: nostate, the
 * instance is not there yet). `known`: the instance as the caller last read it. Returns it as written.
 */
export function markRebuilding(
  deps: StepDeps,
  flow: ScheduledFlow,
  powerState: PowerState,
  known?: Instance,
): Promise<Instance> {
  return advanceTaskState(
    deps,
    flow.instanceUuid,
    flow.requestId,
    "rebuilding",
    "rebuilding",
    { powerState },
    known,
  );
}
