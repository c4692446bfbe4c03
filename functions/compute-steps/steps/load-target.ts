/** What every compute step starts from: the instance and the host the step acts on. */
import type { Host, Instance } from "#shared/domain/schemas.js";
import type { ScheduledFlow } from "#shared/flow/contract.js";
import type { StepDeps } from "#shared/flow/deps.js";

export interface TargetContext {
  instance: Instance;
  /** The target host: the scheduled destination (evacuate) or the instance's own host (rebuild). */
  host: Host;
}

export async function loadTarget(deps: StepDeps, flow: ScheduledFlow): Promise<TargetContext> {
  const [instance, host] = await Promise.all([
    deps.stores.instances.require(flow.instanceUuid),
    deps.stores.hosts.require(flow.destHost),
  ]);
  return { instance, host };
}
