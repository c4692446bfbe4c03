/**
 * nova's conductor `live_migrate` / `migrate` task: select a destination with the scheduler's filters and
 * weighers (the same `scheduleHosts` an evacuation uses: enabled, up, zone, virt type, the source's shared
 * pool, room, server groups; a live migration also needs a target that takes one, LiveMigrationFilter) and
 * claim it in the same atomic write as the evacuation's (`claimBestHost`). A retried Schedule finds the
 * claim it made (by owner) and keeps it. A revert claims nothing: the migration's source kept its claim.
 */
import { placementRequest, scheduleHosts } from "#shared/domain/scheduling.js";
import type { StepDeps } from "#shared/flow/deps.js";
import type { MigrationFlow, ScheduledMigration } from "#shared/flow/migration-contract.js";
import { claimBestHost, preferring } from "#shared/flow/placement.js";

export async function scheduleMigration(deps: StepDeps, flow: MigrationFlow): Promise<ScheduledMigration> {
  if (flow.operation === "revert") return { ...flow, destHost: flow.destHost! };
  const instance = await deps.stores.instances.require(flow.instanceUuid);
  const all = await deps.stores.hosts.list();
  const own = all.find((h) => h.claims[instance.uuid]?.owner === flow.migrationId);
  const destHost =
    own?.name ??
    (await claimBestHost(
      deps,
      {
        instanceUuid: instance.uuid,
        resources: instance.flavor,
        owner: flow.migrationId,
        serverGroup: instance.serverGroup,
      },
      all,
      (hosts, rejected) => {
        const source = hosts.find((h) => h.name === instance.host);
        if (!source) {
          rejected[instance.host] = "source host record not found";
          return [];
        }
        const decision = scheduleHosts(
          hosts,
          placementRequest(instance, source, {
            requestedHost: flow.targetHost,
            excludedHosts: flow.attemptedHosts,
            // The disk stays where it is: the target must see the source's pool (admission refused a local disk).
            sharedPoolId: source.storage.sharedPoolId,
            live: flow.live,
            now: deps.now(),
            serviceDownSeconds: deps.serviceDownSeconds,
          }),
        );
        Object.assign(rejected, decision.rejected);
        return preferring(decision.candidates, flow.plannedHost);
      },
      { attemptedHosts: flow.attemptedHosts },
    ));
  await deps.stores.migrations.transition(flow.migrationId, flow.live ? "preparing" : "pre-migrating", {
    set: { destHost, destNode: destHost },
  });
  return { ...flow, destHost };
}
