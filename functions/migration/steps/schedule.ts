/**
 * nova's conductor `live_migrate` / `migrate` task: select a destination with the scheduler's filters and
 * weighers (the same `scheduleHosts` an evacuation uses: enabled, up, zone, virt type, the source's shared
 * pool, room, server groups; a live migration also needs a target that takes one, LiveMigrationFilter) and
 * claim it in the same atomic write as the evacuation's, from the same bounded reads (`claimFromIndex`: the
 * index of the zone's hosts on the source's pool, the requested, planned and group members' hosts). The
 * migration names each host before its claim (write-ahead, status still `accepted`), so a retried Schedule
 * finds the claim it made by key and keeps it, and the flow's end releases it there. A revert claims nothing:
 * the migration's source kept its claim.
 */
import { placementRequest, scheduleHosts } from "#shared/domain/scheduling.js";
import type { StepDeps } from "#shared/flow/deps.js";
import type { MigrationFlow, ScheduledMigration } from "#shared/flow/migration-contract.js";
import { claimFromIndex, groupMemberHosts, groupNeedsClaims, preferring } from "#shared/flow/placement.js";

export async function scheduleMigration(deps: StepDeps, flow: MigrationFlow): Promise<ScheduledMigration> {
  if (flow.operation === "revert") return { ...flow, destHost: flow.destHost! };
  const { instances, hosts, migrations } = deps.stores;
  const instance = await instances.require(flow.instanceUuid);
  const migration = await migrations.require(flow.migrationId);
  // A retry after the claim was made: the migration names the host (written before the claim). One read.
  const named =
    migration.destHost && !flow.attemptedHosts.includes(migration.destHost)
      ? await hosts.get(migration.destHost)
      : null;
  let destHost = named?.claims[instance.uuid]?.owner === flow.migrationId ? named.name : null;
  if (destHost === null) {
    const source = await hosts.get(instance.host);
    // The disk stays where it is: the target must see the source's pool (admission refused a local disk).
    const sharedPoolId = source?.storage.sharedPoolId ?? null;
    destHost = await claimFromIndex(deps, {
      scopes: flow.targetHost ? [] : [{ zone: instance.availabilityZone, pool: sharedPoolId }],
      named: [
        ...(flow.targetHost ? [flow.targetHost] : []),
        ...(flow.plannedHost ? [flow.plannedHost] : []),
        ...(await groupMemberHosts(deps.stores, instance)),
      ],
      withClaims: groupNeedsClaims(instance.serverGroup),
      candidates: (seen, rejected) => {
        if (!source) {
          rejected[instance.host] = "source host record not found";
          return [];
        }
        const decision = scheduleHosts(
          seen,
          placementRequest(instance, source, {
            requestedHost: flow.targetHost,
            excludedHosts: flow.attemptedHosts,
            sharedPoolId,
            live: flow.live,
            now: deps.now(),
            serviceDownSeconds: deps.serviceDownSeconds,
          }),
        );
        Object.assign(rejected, decision.rejected);
        return preferring(decision.candidates, flow.plannedHost);
      },
      spec: {
        instanceUuid: instance.uuid,
        resources: instance.flavor,
        owner: flow.migrationId,
        serverGroup: instance.serverGroup,
      },
      nameTarget: (host) => migrations.nameTarget(flow.migrationId, host).then(() => {}),
      details: { attemptedHosts: flow.attemptedHosts },
    });
  }
  await migrations.transition(flow.migrationId, flow.live ? "preparing" : "pre-migrating", {
    set: { destHost, destNode: destHost },
  });
  return { ...flow, destHost };
}
