/** What every compute step starts from: the instance and the host the step acts on. */
import type { Instance } from "#shared/domain/schemas.js";
import type { ScheduledFlow, TargetHost } from "#shared/flow/contract.js";
import type { StepDeps } from "#shared/flow/deps.js";

export interface TargetContext {
  instance: Instance;
  /** The target host: the scheduled destination (evacuate) or the instance's own host (rebuild). */
  host: TargetHost;
}

export async function loadTarget(deps: StepDeps, flow: ScheduledFlow): Promise<TargetContext> {
  const [instance, host] = await Promise.all([
    deps.stores.instances.require(flow.instanceUuid),
    targetHost(deps, flow),
  ]);
  return { instance, host };
}

/**
 * The target host as Schedule carried it from its claim (FlowState `target`: why that copy is as good as a
 * read is said there), or, when the flow carries none for this host (a rebuild, whose target is the
 * instance's own host; a flow scheduled before the copy was carried), read by key.
 */
export async function targetHost(deps: StepDeps, flow: ScheduledFlow): Promise<TargetHost> {
  if (flow.target?.name === flow.destHost) return flow.target;
  return deps.stores.hosts.require(flow.destHost);
}
