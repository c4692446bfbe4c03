/**
 * nova's conductor scheduling (`ComputeTaskManager.rebuild_instance` -> select_destinations) with the
 * compute claim (`rebuild_claim`) and the late group check made part of one atomic write. Rebuild stays on
 * its host and claims nothing. Evacuate first cleans any target an earlier flow left unproven (a copy of
 * the instance may still be there: no new host is tried while one might run it), then runs the filters,
 * weighs, and claims the best candidate; a claim whose host changed since it was weighed is weighed
 * again, so concurrent evacuations spread as a sequential run would.
 *
 * What it reads is bounded, whatever the fleet's size (shared/flow/placement.ts): the instance, its
 * migration, the source, the hosts the request names, a few pages of the scheduler's index (the zone's or
 * pool's schedulable hosts with the most free RAM; none while the plan's host takes the claim) and, for a
 * group policy, the members' hosts. Before each claim the migration names the host it is made on
 * (write-ahead), so a retried Schedule finds the claim it already made by key and keeps it, and the flow's
 * end knows where to release it. Each naming and each claim is decided on the record read here (and
 * conditional on it), not on a read of its own. The target's host record as the claim returned it goes on
 * in the flow (`target`), for the steps on the target.
 */
import { errorMessage, TargetNotClean } from "#shared/domain/errors.js";
import { placementRequest, scheduleHosts } from "#shared/domain/scheduling.js";
import type { Host, Instance, Migration } from "#shared/domain/schemas.js";
import { type FlowState, type ScheduledFlow, TargetHost } from "#shared/flow/contract.js";
import type { StepDeps } from "#shared/flow/deps.js";
import { claimFromIndex, groupMemberHosts, groupNeedsClaims, preferring } from "#shared/flow/placement.js";
import { cleanTarget } from "#shared/flow/target-cleanup.js";

export async function schedule(deps: StepDeps, flow: FlowState): Promise<ScheduledFlow> {
  const { instances, hosts, migrations } = deps.stores;
  let instance = await instances.require(flow.instanceUuid);

  if (!flow.recreate) {
    await migrations.transition(flow.migrationId, "pre-migrating", {
      set: { destHost: instance.host, destNode: instance.node },
    });
    return { ...flow, destHost: instance.host };
  }

  // The migration as this step last read or wrote it: each naming of a target is decided on it (and
  // conditional on its version), not on a read of its own.
  let migration = await migrations.require(flow.migrationId);
  const kept = await claimAlreadyMade(deps, flow, instance, migration);
  if (kept) return scheduledOn(flow, kept);

  instance = await cleanEarlierTargets(deps, instance, flow);
  const source = await hosts.get(flow.sourceHost);
  // The hosts the request names, and where the group's other members are: read in full every round.
  const named = [
    ...(flow.targetHost ? [flow.targetHost] : []),
    ...(flow.plannedHost ? [flow.plannedHost] : []),
    ...(flow.force ? [] : await groupMemberHosts(deps.stores, instance)),
  ];
  const sharedPoolId = flow.onSharedStorage === false ? null : (source?.storage.sharedPoolId ?? null);
  const claimed = await claimFromIndex(deps, {
    // A requested host is the only candidate: no index is read for it (nor for a forced one).
    scopes: flow.targetHost ? [] : [{ zone: instance.availabilityZone, pool: sharedPoolId }],
    named,
    withClaims: groupNeedsClaims(instance.serverGroup),
    candidates: (seen, rejected) =>
      flow.force
        ? forcedCandidates(seen, flow, rejected)
        : filtered(deps, seen, flow, instance, source, sharedPoolId, rejected),
    spec: {
      instanceUuid: instance.uuid,
      resources: instance.flavor,
      owner: flow.migrationId,
      serverGroup: instance.serverGroup,
    },
    forced: flow.force,
    planned: flow.plannedHost,
    // Write-ahead: the migration names the host before the claim, so nothing can hold a claim of this flow
    // that the flow does not know of (a crash right after the claim leaves it named).
    nameTarget: async (host) => {
      migration = await migrations.setDestination(flow.migrationId, host, flow.attemptedHosts, migration);
    },
    details: { attemptedHosts: flow.attemptedHosts },
  });
  return scheduledOn(flow, claimed);
}

/** The flow scheduled on `host`, with what its target steps use of the host (FlowState `target`). */
function scheduledOn(flow: FlowState, host: Host): ScheduledFlow {
  return { ...flow, destHost: host.name, target: TargetHost.parse(host) };
}

/**
 * A retry after the claim was made: the migration names the host (written before the claim); if the
 * claim is there, keep it. One read of one host.
 */
async function claimAlreadyMade(
  deps: StepDeps,
  flow: FlowState,
  instance: Instance,
  migration: Migration,
): Promise<Host | null> {
  const named = migration.status === "pre-migrating" ? migration.destHost : null;
  if (!named || flow.attemptedHosts.includes(named)) return null;
  const host = await deps.stores.hosts.get(named);
  return host?.claims[instance.uuid]?.owner === flow.migrationId ? host : null;
}

/**
 * Targets an earlier flow of this instance could not prove clean (`Instance.uncleanTargets`, each still
 * holding that flow's claim): clean each (its domain destroyed and undefined), release that claim and strike
 * it from the record. One that cannot be cleaned stops the flow with TargetNotClean before any other host is
 * tried. Returns the instance as it is now.
 */
async function cleanEarlierTargets(deps: StepDeps, instance: Instance, flow: FlowState): Promise<Instance> {
  let current = instance;
  for (const earlier of instance.uncleanTargets) {
    const host = await deps.stores.hosts.get(earlier.host);
    if (host && host.name !== current.host) {
      try {
        await cleanTarget(deps, host, current, { removeInstanceDir: false });
      } catch (e) {
        throw new TargetNotClean(
          `Host ${host.name} may still hold a copy of instance ${instance.uuid} from an earlier attempt and could not be cleaned (${errorMessage(e)}). ` +
            `Make sure the domain is destroyed and undefined there (virsh destroy/undefine ${instance.uuid}), or bring the host back, then evacuate again.`,
          { host: host.name, instanceUuid: instance.uuid, cause: errorMessage(e) },
          { cause: e },
        );
      }
      await deps.stores.hosts.release(host.name, instance.uuid, { owner: earlier.requestId });
    }
    current = await deps.stores.instances.update(
      instance.uuid,
      {
        expectTaskRequestId: flow.requestId,
        set: { uncleanTargets: current.uncleanTargets.filter((t) => t.host !== earlier.host) },
      },
      current,
    );
  }
  return current;
}

function filtered(
  deps: StepDeps,
  all: Host[],
  flow: FlowState,
  instance: Instance,
  source: Host | null,
  sharedPoolId: string | null,
  rejected: Record<string, string>,
): Host[] {
  if (!source) {
    rejected[flow.sourceHost] = "source host record not found";
    return [];
  }
  const decision = scheduleHosts(
    all,
    placementRequest(instance, source, {
      requestedHost: flow.targetHost,
      excludedHosts: flow.attemptedHosts,
      // A disk on the source's shared pool must stay in that pool, unless the caller says it is not shared.
      sharedPoolId,
      now: deps.now(),
      serviceDownSeconds: deps.serviceDownSeconds,
    }),
  );
  Object.assign(rejected, decision.rejected);
  // The host-evacuation plan's placement first, when it still passes the filters (see `plannedHost`).
  return preferring(decision.candidates, flow.plannedHost);
}

/** force: the requested host is taken without filters (nova API 2.29-2.67); it must still accept the claim. */
function forcedCandidates(all: Host[], flow: FlowState, rejected: Record<string, string>): Host[] {
  const host = all.find((h) => h.name === flow.targetHost);
  if (!host) return [];
  if (flow.attemptedHosts.includes(host.name)) {
    rejected[host.name] = "already tried by this request";
    return [];
  }
  return [host];
}
