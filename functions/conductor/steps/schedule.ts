/**
 * nova's conductor scheduling (`ComputeTaskManager.rebuild_instance` -> select_destinations) with the
 * compute claim (`rebuild_claim`) and the late group check made part of one atomic write. Rebuild stays on
 * its host and claims nothing. Evacuate first cleans any target an earlier flow left unproven (a copy of
 * the instance may still be there: no new host is tried while one might run it), then runs the filters,
 * weighs, and claims the best candidate; a claim whose host changed since it was weighed is weighed
 * again, so concurrent evacuations spread as a sequential run would. A retried Schedule finds the claim
 * it already made (by owner) and keeps it.
 */
import { errorMessage, TargetNotClean } from "#shared/domain/errors.js";
import { placementRequest, scheduleHosts } from "#shared/domain/scheduling.js";
import type { Host, Instance } from "#shared/domain/schemas.js";
import type { FlowState, ScheduledFlow } from "#shared/flow/contract.js";
import type { StepDeps } from "#shared/flow/deps.js";
import { claimBestHost, preferring } from "#shared/flow/placement.js";
import { cleanTarget, uncleanTargets } from "#shared/flow/target-cleanup.js";

export async function schedule(deps: StepDeps, flow: FlowState): Promise<ScheduledFlow> {
  const { instances, hosts, migrations } = deps.stores;
  const instance = await instances.require(flow.instanceUuid);

  if (!flow.recreate) {
    await migrations.transition(flow.migrationId, "pre-migrating", {
      set: { destHost: instance.host, destNode: instance.node },
    });
    return { ...flow, destHost: instance.host };
  }

  let all = await hosts.list();
  const own = all.find(
    (h) => h.claims[instance.uuid]?.owner === flow.migrationId && !flow.attemptedHosts.includes(h.name),
  );
  if (own) {
    // A retry after the claim was made (before or after the migration recorded it): keep that claim.
    await recordTarget(deps, flow, own.name);
    return { ...flow, destHost: own.name };
  }

  if (await cleanEarlierTargets(deps, all, instance, flow.migrationId)) all = await hosts.list();

  const claimed = await claimBestHost(
    deps,
    {
      instanceUuid: instance.uuid,
      resources: instance.flavor,
      owner: flow.migrationId,
      serverGroup: instance.serverGroup,
    },
    all,
    (hosts, rejected) => {
      const source = hosts.find((h) => h.name === flow.sourceHost);
      return flow.force
        ? forcedCandidates(hosts, flow, rejected)
        : filtered(deps, hosts, flow, instance, source, rejected);
    },
    { attemptedHosts: flow.attemptedHosts },
  );
  await recordTarget(deps, flow, claimed);
  return { ...flow, destHost: claimed };
}

async function recordTarget(deps: StepDeps, flow: FlowState, host: string): Promise<void> {
  await deps.stores.migrations.transition(flow.migrationId, "pre-migrating", {
    set: { destHost: host, destNode: host, attemptedHosts: flow.attemptedHosts },
  });
}

/**
 * Targets an earlier flow of this instance could not prove clean hold a claim of it: clean each (its
 * domain destroyed and undefined) and release that claim. One that cannot be cleaned stops the flow
 * with TargetNotClean before any other host is tried. Returns whether anything was released.
 */
async function cleanEarlierTargets(
  deps: StepDeps,
  all: readonly Host[],
  instance: Instance,
  migrationId: string,
): Promise<boolean> {
  const earlier = await uncleanTargets(deps, all, instance, migrationId);
  for (const host of earlier) {
    try {
      await cleanTarget(deps, host, instance, { removeInstanceDir: false });
    } catch (e) {
      throw new TargetNotClean(
        `Host ${host.name} may still hold a copy of instance ${instance.uuid} from an earlier attempt and could not be cleaned (${errorMessage(e)}). ` +
          `Make sure the domain is destroyed and undefined there (virsh destroy/undefine ${instance.uuid}), or bring the host back, then evacuate again.`,
        { host: host.name, instanceUuid: instance.uuid, cause: errorMessage(e) },
        { cause: e },
      );
    }
    const owner = host.claims[instance.uuid]?.owner;
    await deps.stores.hosts.release(host.name, instance.uuid, owner ? { owner } : {});
  }
  return earlier.length > 0;
}

function filtered(
  deps: StepDeps,
  all: Host[],
  flow: FlowState,
  instance: Instance,
  source: Host | undefined,
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
      sharedPoolId: flow.onSharedStorage === false ? null : source.storage.sharedPoolId,
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
