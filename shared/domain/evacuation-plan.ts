/**
 * Capacity for a failure, read-only: where each instance of a host would go if the host died now, and
 * which would not fit, decided by the scheduler's own filters and weighers (`scheduleHosts`) and the one
 * claim policy (`evaluateClaim`), in the order the host-evacuation flow evacuates them (`planEvacuation`:
 * HA priority tiers, then name). Each placement is applied to a copy of the records before the next one is
 * weighed, as the flow's atomic claims are. Nothing is written.
 */
import { evaluateClaim } from "./claim-policy.js";
import {
  type EvacuationPlan,
  type EvacuationPolicy,
  planEvacuation,
  type SkippedInstance,
} from "./host-failure.js";
import { unmovableDisk } from "./migration.js";
import { placementRequest, scheduleHosts } from "./scheduling.js";
import type { Host, Instance } from "./schemas.js";

export interface PlannedPlacement {
  instanceUuid: string;
  name: string;
  haPriority: number;
  target: string;
}

export interface UnplacedInstance {
  instanceUuid: string;
  name: string;
  /** Every host and why it was refused (the NoValidHost text the flow would record). */
  reason: string;
}

export interface HostEvacuationPreview {
  host: string;
  placements: PlannedPlacement[];
  unplaced: UnplacedInstance[];
  /** Not evacuated by the flow at all (ERROR, busy, not HA under "ha-only"). */
  skipped: SkippedInstance[];
}

/** The host as the flow leaves it before evacuating: disabled, forced down. */
function asFailed(host: Host): Host {
  return { ...host, enabled: false, forcedDown: true, status: "down", disabledReason: "host failure" };
}

/** The records after a claim of `instance` on `host` (usage, claim, anti-affinity slot), as the store writes it. */
export function withClaim(host: Host, instance: Instance, owner: string, at: Date): Host {
  const f = instance.flavor;
  const group = instance.serverGroup;
  return {
    ...host,
    usage: {
      vcpus: host.usage.vcpus + f.vcpus,
      memoryMiB: host.usage.memoryMiB + f.memoryMiB,
      diskGiB: host.usage.diskGiB + f.diskGiB,
    },
    claims: {
      ...host.claims,
      [instance.uuid]: {
        instanceUuid: instance.uuid,
        resources: { vcpus: f.vcpus, memoryMiB: f.memoryMiB, diskGiB: f.diskGiB },
        owner,
        serverGroup: group,
        claimedAt: at.toISOString(),
      },
    },
    antiAffinity:
      group?.policy === "anti-affinity"
        ? { ...host.antiAffinity, [group.id]: instance.uuid }
        : host.antiAffinity,
  };
}

/**
 * Where the scheduler would put `instance` (from `sourceName`) among `hosts`: the first candidate whose
 * claim would be accepted, or why none fits. The same order of checks as the Schedule step.
 */
export function placeOne(
  hosts: readonly Host[],
  sourceName: string,
  instance: Instance,
  now: Date,
  serviceDownSeconds?: number,
  opts: { live?: boolean } = {},
): { target: Host } | { reason: string } {
  const source = hosts.find((h) => h.name === sourceName);
  if (!source) return { reason: `source host ${sourceName} not found` };
  const decision = scheduleHosts(
    hosts,
    placementRequest(instance, source, {
      sharedPoolId: instance.onSharedStorage === false ? null : source.storage.sharedPoolId,
      ...(opts.live ? { live: true } : {}),
      now,
      ...(serviceDownSeconds === undefined ? {} : { serviceDownSeconds }),
    }),
  );
  const rejected = { ...decision.rejected };
  for (const candidate of decision.candidates) {
    const verdict = evaluateClaim(candidate, {
      instanceUuid: instance.uuid,
      resources: instance.flavor,
      owner: "evacuation-plan",
      serverGroup: instance.serverGroup,
    });
    if (verdict.kind !== "refused") return { target: candidate };
    rejected[candidate.name] = `claim refused: ${verdict.error.message}`;
  }
  const parts = Object.entries(rejected).map(([h, why]) => `${h}: ${why}`);
  return { reason: `No valid host was found. ${parts.length ? parts.join("; ") : "no hosts known"}` };
}

/** The evacuation plan for `hostName` if it died now. `instances`: the host's records (re-read by key). */
export function previewHostEvacuation(
  hostName: string,
  hosts: readonly Host[],
  instances: readonly Instance[],
  opts: { policy: EvacuationPolicy; now: Date; serviceDownSeconds?: number },
): HostEvacuationPreview {
  const plan = planEvacuation(hostName, "preview", instances, opts.policy);
  return { host: hostName, ...placePlan(hostName, hosts, plan, instances, opts), skipped: plan.skipped };
}

/**
 * Where each item of `plan` lands, in the plan's order (tiers, then name), each placement applied to a
 * copy of the records before the next is weighed. The preview's placements, and the host-evacuation
 * flow's `plannedHost` for each child.
 */
export function placePlan(
  hostName: string,
  hosts: readonly Host[],
  plan: Pick<EvacuationPlan, "tiers">,
  instances: readonly Instance[],
  opts: { now: Date; serviceDownSeconds?: number },
): Pick<HostEvacuationPreview, "placements" | "unplaced"> {
  const fleet = hosts.map((h) => (h.name === hostName ? asFailed(h) : h));
  return placeInOrder(fleet, plan, instances, opts.now, (current, instance) =>
    placeOne(current, hostName, instance, opts.now, opts.serviceDownSeconds),
  );
}

/** Where one instance goes among `fleet` (its target, and whether live), or why it goes nowhere. */
type Placer = (
  fleet: readonly Host[],
  instance: Instance,
) => { target: Host; live?: boolean } | { reason: string };

/** Each item of `plan` placed by `place`, in the plan's order, each placement applied before the next. */
function placeInOrder(
  fleet: Host[],
  plan: Pick<EvacuationPlan, "tiers">,
  instances: readonly Instance[],
  now: Date,
  place: Placer,
): { placements: (PlannedPlacement & { live?: boolean })[]; unplaced: UnplacedInstance[] } {
  const byUuid = new Map(instances.map((i) => [i.uuid, i]));
  const placements: (PlannedPlacement & { live?: boolean })[] = [];
  const unplaced: UnplacedInstance[] = [];
  for (const tier of plan.tiers) {
    for (const item of tier.items) {
      const instance = byUuid.get(item.instanceUuid);
      if (!instance) continue;
      const placed = place(fleet, instance);
      if ("reason" in placed) {
        unplaced.push({ instanceUuid: instance.uuid, name: instance.name, reason: placed.reason });
        continue;
      }
      const target = placed.target.name;
      placements.push({
        instanceUuid: instance.uuid,
        name: instance.name,
        haPriority: tier.haPriority,
        target,
        ...(placed.live !== undefined ? { live: placed.live } : {}),
      });
      fleet = fleet.map((h) => (h.name === target ? withClaim(h, instance, "evacuation-plan", now) : h));
    }
  }
  return { placements, unplaced };
}

export interface FleetCapacityCheck {
  /** Hosts whose loss alone the fleet could not absorb, with the instances that would find no room. */
  notAbsorbable: { host: string; unplaced: UnplacedInstance[] }[];
  checkedHosts: string[];
}

/** Every single-host failure the fleet could not absorb now (each host's preview against the others). */
export function checkFleetCapacity(
  hosts: readonly Host[],
  instances: readonly Instance[],
  opts: { policy: EvacuationPolicy; now: Date; serviceDownSeconds?: number },
): FleetCapacityCheck {
  const notAbsorbable: FleetCapacityCheck["notAbsorbable"] = [];
  const checked = hosts.filter((h) => instances.some((i) => i.host === h.name)).map((h) => h.name);
  for (const name of checked) {
    const preview = previewHostEvacuation(
      name,
      hosts,
      instances.filter((i) => i.host === name),
      opts,
    );
    if (preview.unplaced.length) notAbsorbable.push({ host: name, unplaced: preview.unplaced });
  }
  return { notAbsorbable, checkedHosts: checked };
}

/** Where a drain moves an instance, and whether live (the guest keeps running) or cold. */
export interface DrainPlacement extends PlannedPlacement {
  live: boolean;
}

export interface HostDrainPreview {
  host: string;
  /** Every instance of the host can be moved now: none left without room, none skipped. */
  drainable: boolean;
  placements: DrainPlacement[];
  /** Instances that would stay on the host, and why (no room anywhere, a disk on local storage). */
  unplaced: UnplacedInstance[];
  /** Not moved by a drain at all (ERROR, another flow's task, no longer on the host). */
  skipped: SkippedInstance[];
}

/**
 * "Can this host be drained now?" (issue 32), read-only, and the host-drain flow's own plan: the host's
 * instances in the flow's order (HA priority tiers, then name), each placed by the scheduler's filters and
 * weighers with the placements before it applied: an ACTIVE instance live where a target takes it, else
 * cold (a STOPPED one cold); an instance whose disk is on local storage, or that fits nowhere, is named
 * with the reason. The source counts as the drain makes it: disabled.
 */
export function previewHostDrain(
  hostName: string,
  hosts: readonly Host[],
  instances: readonly Instance[],
  opts: { now: Date; serviceDownSeconds?: number },
): HostDrainPreview {
  const plan = planEvacuation(hostName, "drain-preview", instances, "all");
  const fleet = hosts.map((h) => (h.name === hostName ? { ...h, enabled: false } : h));
  const { placements, unplaced } = placeInOrder(fleet, plan, instances, opts.now, (current, instance) => {
    const source = current.find((h) => h.name === hostName);
    const disk = source ? unmovableDisk(instance, source) : `source host ${hostName} not found`;
    if (disk) return { reason: disk };
    const place = (live: boolean) =>
      placeOne(current, hostName, instance, opts.now, opts.serviceDownSeconds, { live });
    const live = instance.vmState === "active" ? place(true) : null;
    if (live && "target" in live) return { target: live.target, live: true };
    const cold = place(false);
    return "target" in cold ? { target: cold.target, live: false } : cold;
  });
  return {
    host: hostName,
    drainable: unplaced.length === 0 && plan.skipped.filter((s) => s.reason !== "moved").length === 0,
    placements: placements.map((p) => ({ ...p, live: p.live === true })),
    unplaced,
    skipped: plan.skipped,
  };
}
