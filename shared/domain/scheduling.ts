/**
 * The scheduler's policy, pure: filters (as nova's at boot) and one weigher (spread by free RAM).
 * It reads host records and decides; the atomic claim that makes a choice stick lives in the store.
 */
import { freeResources } from "./claim-policy.js";
import { isHostUp } from "./host-liveness.js";
import type { Flavor, Host, Instance, ServerGroup } from "./schemas.js";

export interface ScheduleRequest {
  instanceUuid: string;
  flavor: Flavor;
  /** The zone the instance must be in; null: any (a boot that asks for none). */
  availabilityZone: string | null;
  serverGroup: ServerGroup | null;
  /** The host an evacuation leaves (excluded; its virt type is required); null for a boot. */
  sourceHost: Host | null;
  /** "boot" places a new instance (no recreate support needed); default "evacuate". */
  purpose?: "evacuate" | "boot";
  /** A host the caller asked for: the only candidate, still checked by every filter. */
  requestedHost: string | null;
  /** Hosts already tried by this flow (claim refused, unreachable, spawn failed). */
  excludedHosts: readonly string[];
  /** The disk is on shared storage: the target must see the same pool. */
  sharedPoolId: string | null;
  /**
   * A live migration (issue 32): the target must take one (its libvirtd reachable by the source's) and see
   * the volumes where the source does (the running guest's definition moves as it is).
   */
  live?: boolean;
  now: Date;
  serviceDownSeconds?: number;
}

/**
 * The request of placing `instance` anywhere but `source` (an evacuation's Schedule, a migration's, an
 * evacuation or drain plan's placement): the instance's flavor, zone and server group, and the caller's
 * constraints.
 */
export function placementRequest(
  instance: Pick<Instance, "uuid" | "flavor" | "availabilityZone" | "serverGroup">,
  source: Host,
  opts: Pick<ScheduleRequest, "sharedPoolId" | "now" | "serviceDownSeconds" | "live"> &
    Partial<Pick<ScheduleRequest, "requestedHost" | "excludedHosts">>,
): ScheduleRequest {
  return {
    instanceUuid: instance.uuid,
    flavor: instance.flavor,
    availabilityZone: instance.availabilityZone,
    serverGroup: instance.serverGroup,
    sourceHost: source,
    requestedHost: opts.requestedHost ?? null,
    excludedHosts: opts.excludedHosts ?? [],
    sharedPoolId: opts.sharedPoolId,
    now: opts.now,
    ...(opts.live ? { live: true } : {}),
    ...(opts.serviceDownSeconds === undefined ? {} : { serviceDownSeconds: opts.serviceDownSeconds }),
  };
}

export interface ScheduleDecision {
  /** Hosts that passed every filter, best first. */
  candidates: Host[];
  /** host name -> why it was filtered out. */
  rejected: Record<string, string>;
}

type Filter = (host: Host, req: ScheduleRequest, hosts: readonly Host[]) => string | null;

/** Hosts holding a claim of another member of `group`. */
function groupMemberHosts(group: ServerGroup, selfUuid: string, hosts: readonly Host[]): Set<string> {
  const members = new Set<string>();
  for (const h of hosts) {
    for (const claim of Object.values(h.claims)) {
      if (claim.serverGroup?.id === group.id && claim.instanceUuid !== selfUuid) members.add(h.name);
    }
  }
  return members;
}

const FILTERS: ReadonlyArray<[string, Filter]> = [
  ["SourceHostFilter", (h, r) => (h.name === r.sourceHost?.name ? "is the source host" : null)],
  ["RetryFilter", (h, r) => (r.excludedHosts.includes(h.name) ? "already tried by this request" : null)],
  [
    "RequestedHostFilter",
    (h, r) => (r.requestedHost && h.name !== r.requestedHost ? "not the requested host" : null),
  ],
  [
    "ComputeFilter",
    (h) => (h.enabled ? null : `disabled${h.disabledReason ? ` (${h.disabledReason})` : ""}`),
  ],
  [
    "ServiceUpFilter",
    (h, r) =>
      isHostUp(h, r.now, r.serviceDownSeconds) ? null : h.forcedDown ? "forced down" : "compute service down",
  ],
  [
    "AvailabilityZoneFilter",
    (h, r) =>
      r.availabilityZone === null || h.availabilityZone === r.availabilityZone
        ? null
        : `in zone ${h.availabilityZone}`,
  ],
  [
    "ImagePropertiesFilter",
    (h, r) =>
      r.sourceHost === null || h.virtType === r.sourceHost.virtType
        ? null
        : `virt type ${h.virtType}, not ${r.sourceHost.virtType}`,
  ],
  [
    "RecreateFilter",
    (h, r) => (r.purpose === "boot" || h.supportsRecreate ? null : "driver does not support recreate"),
  ],
  [
    "SharedStorageFilter",
    (h, r) =>
      r.sharedPoolId === null || h.storage.sharedPoolId === r.sharedPoolId
        ? null
        : `not in shared pool ${r.sharedPoolId}`,
  ],
  [
    "LiveMigrationFilter",
    (h, r) => {
      if (!r.live || r.sourceHost === null) return null;
      if (h.liveMigration === null) return "takes no live migration";
      return h.storage.volumesPath === r.sourceHost.storage.volumesPath
        ? null
        : `volumes at ${h.storage.volumesPath}, not ${r.sourceHost.storage.volumesPath}`;
    },
  ],
  [
    "ResourceFilter",
    (h, r) => {
      const free = freeResources(h, r.instanceUuid);
      const short: string[] = [];
      if (free.vcpus < r.flavor.vcpus) short.push(`vcpus free ${free.vcpus} < ${r.flavor.vcpus}`);
      if (free.memoryMiB < r.flavor.memoryMiB)
        short.push(`RAM free ${free.memoryMiB} MiB < ${r.flavor.memoryMiB}`);
      if (free.diskGiB < r.flavor.diskGiB) short.push(`disk free ${free.diskGiB} GiB < ${r.flavor.diskGiB}`);
      return short.length ? short.join(", ") : null;
    },
  ],
  [
    "ServerGroupAntiAffinityFilter",
    (h, r) => {
      if (r.serverGroup?.policy !== "anti-affinity") return null;
      const member = h.antiAffinity[r.serverGroup.id];
      return member && member !== r.instanceUuid ? `hosts member ${member} of anti-affinity group` : null;
    },
  ],
  [
    "ServerGroupAffinityFilter",
    (h, r, hosts) => {
      if (r.serverGroup?.policy !== "affinity") return null;
      // As nova's ServerGroupAffinityFilter: the group runs where its members are, the dead source
      // included, so a group whose only host died has no valid host (NoValidHost), and parallel
      // evacuations cannot split it. A member alone in its group may go anywhere.
      const memberHosts = groupMemberHosts(r.serverGroup, r.instanceUuid, hosts);
      return memberHosts.size === 0 || memberHosts.has(h.name) ? null : "not where the affinity group runs";
    },
  ],
];

/** Members of `group` (other than the instance itself) that hold a claim on `host`. */
function groupMembersOn(host: Host, group: ServerGroup, selfUuid: string): number {
  return Object.values(host.claims).filter(
    (c) => c.serverGroup?.id === group.id && c.instanceUuid !== selfUuid,
  ).length;
}

/** A stable per-instance order among equal hosts, so racing placements do not all aim at one host. */
function tieBreak(instanceUuid: string, hostName: string): number {
  let h = 2166136261;
  for (const ch of `${instanceUuid}/${hostName}`) h = Math.imul(h ^ ch.charCodeAt(0), 16777619);
  return h >>> 0;
}

/**
 * The weighers, most important first: nova's ServerGroupSoftAffinityWeigher / SoftAntiAffinityWeigher
 * (more / fewer members of the group), then RAMWeigher with a positive multiplier (the most free RAM
 * first: spread), then a per-instance tie-break.
 */
function weigh(req: ScheduleRequest): (a: Host, b: Host) => number {
  const group = req.serverGroup;
  const members = (h: Host) => (group ? groupMembersOn(h, group, req.instanceUuid) : 0);
  return (a, b) =>
    (group?.policy === "soft-affinity" ? members(b) - members(a) : 0) ||
    (group?.policy === "soft-anti-affinity" ? members(a) - members(b) : 0) ||
    freeResources(b, req.instanceUuid).memoryMiB - freeResources(a, req.instanceUuid).memoryMiB ||
    tieBreak(req.instanceUuid, a.name) - tieBreak(req.instanceUuid, b.name);
}

export function scheduleHosts(hosts: readonly Host[], req: ScheduleRequest): ScheduleDecision {
  const rejected: Record<string, string> = {};
  const candidates: Host[] = [];
  for (const host of hosts) {
    let reason: string | null = null;
    for (const [name, filter] of FILTERS) {
      reason = filter(host, req, hosts);
      if (reason !== null) {
        rejected[host.name] = `${name}: ${reason}`;
        break;
      }
    }
    if (reason === null) candidates.push(host);
  }
  candidates.sort(weigh(req));
  return { candidates, rejected };
}

/** One line for a NoValidHost fault: every host and why it was refused. */
export function describeRejections(decision: ScheduleDecision): string {
  const parts = Object.entries(decision.rejected).map(([host, why]) => `${host}: ${why}`);
  return parts.length ? parts.join("; ") : "no hosts known";
}
