/** What every migrate step starts from: the instance, the host it is on and the host it goes to. */
import { InvalidInput } from "#shared/domain/errors.js";
import type { Host, Instance } from "#shared/domain/schemas.js";
import type { StepDeps } from "#shared/flow/deps.js";
import type { MigrationFlow } from "#shared/flow/migration-contract.js";

export interface MigrationHosts {
  instance: Instance;
  /** Where the flow takes the instance from (a revert: the migration's target). */
  source: Host;
  /** Where it goes (a revert: the migration's source). */
  target: Host;
}

export async function requireTarget(
  deps: Pick<StepDeps, "stores">,
  flow: MigrationFlow,
): Promise<MigrationHosts> {
  if (!flow.destHost) {
    throw new InvalidInput("migration flow state has no target host", { requestId: flow.requestId });
  }
  const [instance, source, target] = await Promise.all([
    deps.stores.instances.require(flow.instanceUuid),
    deps.stores.hosts.require(flow.sourceHost),
    deps.stores.hosts.require(flow.destHost),
  ]);
  return { instance, source, target };
}
