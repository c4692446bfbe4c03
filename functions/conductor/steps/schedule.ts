/**
 * Conductor step 5 (+ compute step 8/8b made atomic): pick the target host and claim the instance's
 * resources there. Rebuild stays on its host and claims nothing. Evacuate runs the filters, walks the
 * candidates best first and keeps the first host whose claim the store accepts; the claim also carries
 * anti-affinity membership, so two parallel evacuations cannot both put group members on one host.
 */
import { ClaimRefused, HostNotFound, NoValidHost } from "#shared/domain/errors.js";
import { describeRejections, scheduleHosts } from "#shared/domain/scheduling.js";
import type { Host, Instance } from "#shared/domain/schemas.js";
import type { FlowState, ScheduledFlow } from "#shared/flow/contract.js";
import type { StepDeps } from "#shared/flow/deps.js";
import { requireAccepted } from "#shared/flow/flow-state.js";

export async function schedule(deps: StepDeps, state: FlowState): Promise<ScheduledFlow> {
  const flow = requireAccepted(state);
  const { instances, hosts, migrations } = deps.stores;
  const instance = await instances.require(flow.instanceUuid);

  if (!flow.recreate) {
    await migrations.transition(flow.migrationId, "pre-migrating", {
      set: { destHost: instance.host, destNode: instance.node },
    });
    return { ...flow, destHost: instance.host };
  }

  const migration = await migrations.require(flow.migrationId);
  if (migration.status === "pre-migrating" && migration.destHost) {
    // A retry after the claim was made: the claim is keyed by owner, so confirm it and go on.
    const claimed = await hosts.get(migration.destHost);
    if (claimed?.claims[instance.uuid]?.owner === flow.migrationId)
      return { ...flow, destHost: migration.destHost };
  }

  const all = await hosts.list();
  const source = all.find((h) => h.name === flow.sourceHost);
  if (!source) throw new HostNotFound(`Compute host ${flow.sourceHost} not found.`);
  const rejected: Record<string, string> = {};
  const candidates = flow.force
    ? forcedCandidates(all, flow, rejected)
    : filtered(deps, all, flow, instance, source, rejected);

  for (const host of candidates) {
    try {
      await hosts.claim(host.name, {
        instanceUuid: instance.uuid,
        resources: instance.flavor,
        owner: flow.migrationId,
        serverGroup: instance.serverGroup,
      });
    } catch (e) {
      if (!(e instanceof ClaimRefused)) throw e;
      rejected[host.name] = `claim refused: ${e.message}`;
      continue;
    }
    await migrations.transition(flow.migrationId, "pre-migrating", {
      set: { destHost: host.name, destNode: host.name, attemptedHosts: flow.attemptedHosts },
    });
    return { ...flow, destHost: host.name };
  }

  const reason = describeRejections({ candidates: [], rejected });
  throw new NoValidHost(`No valid host was found. ${reason}`, {
    rejected,
    attemptedHosts: flow.attemptedHosts,
  });
}

function filtered(
  deps: StepDeps,
  all: Host[],
  flow: ReturnType<typeof requireAccepted>,
  instance: Instance,
  source: Host,
  rejected: Record<string, string>,
): Host[] {
  const decision = scheduleHosts(all, {
    instanceUuid: instance.uuid,
    flavor: instance.flavor,
    availabilityZone: instance.availabilityZone,
    serverGroup: instance.serverGroup,
    sourceHost: source,
    requestedHost: flow.targetHost,
    excludedHosts: flow.attemptedHosts,
    // A disk on the source's shared pool must stay in that pool, unless the caller says it is not shared.
    sharedPoolId: flow.onSharedStorage === false ? null : source.storage.sharedPoolId,
    now: deps.now(),
    serviceDownSeconds: deps.serviceDownSeconds,
  });
  Object.assign(rejected, decision.rejected);
  return decision.candidates;
}

/** force: the requested host is taken without filters (nova API 2.29-2.67); it must still accept the claim. */
function forcedCandidates(
  all: Host[],
  flow: ReturnType<typeof requireAccepted>,
  rejected: Record<string, string>,
) {
  const host = all.find((h) => h.name === flow.targetHost);
  if (!host) return [];
  if (flow.attemptedHosts.includes(host.name)) {
    rejected[host.name] = "already tried by this request";
    return [];
  }
  return [host];
}
