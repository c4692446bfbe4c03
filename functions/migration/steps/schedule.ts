/**
 * nova's conductor `live_migrate` / `migrate` task: select a destination with the scheduler's filters and
 * weighers (the same `scheduleHosts` an evacuation uses: enabled, up, zone, virt type, the source's shared
 * pool, room, server groups; a live migration also needs a target that takes one, LiveMigrationFilter) and
 * claim it in the same atomic write as the evacuation's, from the same bounded reads (`claimFromIndex`: the
 * index of the zone's hosts on the source's pool, the requested, planned and group members' hosts). The
 * migration names each host before its claim (write-ahead, status still `accepted`), so a retried Schedule
 * finds the claim it made by key and keeps it, and the flow's end releases it there. The transition is where
 * the placement commits: an attempt that stalled and woke while its retry scheduled the migration names
 * nothing once it moved on (`nameTarget`), and one whose transition lost to another attempt's gives its own
 * claim up. A revert claims nothing: the migration's source kept its claim.
 */
import { placementRequest, scheduleHosts } from "#shared/domain/scheduling.js";
import type { StepDeps } from "#shared/flow/deps.js";
import type { MigrationFlow, ScheduledMigration } from "#shared/flow/migration-contract.js";
import {
  claimFromIndex,
  groupMemberHosts,
  groupNeedsClaims,
  preferring,
  releaseStrayClaim,
} from "#shared/flow/placement.js";

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
    const claimed = await claimFromIndex(deps, {
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
      planned: flow.plannedHost,
      nameTarget: (host) => migrations.nameTarget(flow.migrationId, host).then(() => {}),
      details: { attemptedHosts: flow.attemptedHosts },
    });
    destHost = claimed.name;
  }
  const scheduled = flow.live ? "preparing" : "pre-migrating";
  const claimedOn = destHost;
  // Named when the transition replaced it: another host than this attempt's when an attempt of this step
  // stalled, woke, named and claimed there, and died. Once the transition names this one, that claim goes.
  let namedBefore: string | null = null;
  const committedOn = await migrations
    .transition(flow.migrationId, scheduled, {
      set: { destHost, destNode: destHost },
      replaced: (previous) => {
        namedBefore = previous.destHost;
      },
    })
    .then(
      async () => {
        if (namedBefore !== null && namedBefore !== claimedOn)
          await releaseStrayClaim(deps.stores, namedBefore, instance.uuid, flow.migrationId);
        return claimedOn;
      },
      async (e: unknown) => {
        // Another attempt of this step (one that stalled, or ran at once) moved the migration on first, to
        // another host: that placement stands, this attempt's claim goes. (On the same host the claim is
        // that placement's, or the flow's end decided about it: an unclean target keeps it.)
        const now = await migrations.require(flow.migrationId);
        if (now.status === "accepted") throw e;
        if (now.destHost !== claimedOn)
          await releaseStrayClaim(deps.stores, claimedOn, instance.uuid, flow.migrationId);
        if (now.status !== scheduled || now.destHost === null) throw e;
        return now.destHost;
      },
    );
  return { ...flow, destHost: committedOn };
}
