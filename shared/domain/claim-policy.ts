/**
 * The one claim policy: how much of a host an instance may use, and whether a claim fits. The scheduler's
 * ResourceFilter and the store's atomic claim both decide with these functions, so a host the scheduler
 * offers is a host the claim accepts (and the other way round), whatever the capacities and ratios.
 */

import { z } from "zod";
import { ClaimRefused } from "./errors.js";
import {
  type Claim,
  type Host,
  type Resources,
  Resources as ResourcesSchema,
  ServerGroup,
} from "./schemas.js";
import { Uuid } from "./values.js";

export const RESOURCE_KINDS = ["vcpus", "memoryMiB", "diskGiB"] as const;
export type ResourceKind = (typeof RESOURCE_KINDS)[number];

const RATIO_OF: Record<ResourceKind, keyof Host["allocationRatios"]> = {
  vcpus: "cpu",
  memoryMiB: "ram",
  diskGiB: "disk",
};

/** The allocation ratio that applies to a resource kind (nova's cpu/ram/disk_allocation_ratio). */
export function ratioKey(kind: ResourceKind): keyof Host["allocationRatios"] {
  return RATIO_OF[kind];
}

export function allocationRatio(host: Pick<Host, "allocationRatios">, kind: ResourceKind): number {
  return host.allocationRatios[RATIO_OF[kind]];
}

/** floor(capacity × ratio); the epsilon absorbs float error (10 × 1.1 = 11.000000000000002 -> 11, 4 × 0.7 -> 2). */
export function resourceLimit(host: Pick<Host, "capacity" | "allocationRatios">, kind: ResourceKind): number {
  return Math.floor(host.capacity[kind] * allocationRatio(host, kind) + 1e-9);
}

export function usageLimit(host: Pick<Host, "capacity" | "allocationRatios">): Resources {
  return {
    vcpus: resourceLimit(host, "vcpus"),
    memoryMiB: resourceLimit(host, "memoryMiB"),
    diskGiB: resourceLimit(host, "diskGiB"),
  };
}

/**
 * What is left on the host for `instanceUuid`: the limit minus usage, not counting the instance's own
 * claim there (a retried placement must not be refused by the claim it already holds).
 */
export function freeResources(host: Host, instanceUuid?: string): Resources {
  const limit = usageLimit(host);
  const own = instanceUuid ? host.claims[instanceUuid]?.resources : undefined;
  return {
    vcpus: limit.vcpus - host.usage.vcpus + (own?.vcpus ?? 0),
    memoryMiB: limit.memoryMiB - host.usage.memoryMiB + (own?.memoryMiB ?? 0),
    diskGiB: limit.diskGiB - host.usage.diskGiB + (own?.diskGiB ?? 0),
  };
}

export const ClaimRequest = z.object({
  instanceUuid: Uuid,
  resources: ResourcesSchema,
  /** The migration (or boot) making the claim: a retry with the same owner is a no-op success. */
  owner: z.string().min(1),
  serverGroup: ServerGroup.nullable(),
});
export type ClaimRequest = z.infer<typeof ClaimRequest>;

export type ClaimVerdict =
  | { kind: "ok" }
  | { kind: "already"; claim: Claim }
  | { kind: "refused"; error: ClaimRefused };

/** Whether `request` fits on `host` as it is: pure; the store evaluates it before its conditional write. */
export function evaluateClaim(host: Host, request: ClaimRequest): ClaimVerdict {
  const { instanceUuid, resources, owner, serverGroup } = request;
  const existing = host.claims[instanceUuid];
  if (existing) {
    if (existing.owner === owner) return { kind: "already", claim: existing };
    return {
      kind: "refused",
      error: new ClaimRefused(
        `instance ${instanceUuid} already has a claim on host ${host.name} owned by ${existing.owner}`,
        {
          host: host.name,
          instanceUuid,
          reason: "claimed-by-other-owner",
          owner,
          existingOwner: existing.owner,
        },
      ),
    };
  }
  const shortfalls = RESOURCE_KINDS.flatMap((resource) => {
    const limit = resourceLimit(host, resource);
    const used = host.usage[resource];
    const requested = resources[resource];
    return used + requested > limit
      ? [
          {
            resource,
            requested,
            used,
            limit,
            capacity: host.capacity[resource],
            allocationRatio: allocationRatio(host, resource),
          },
        ]
      : [];
  });
  const first = shortfalls[0];
  if (first) {
    return {
      kind: "refused",
      error: new ClaimRefused(
        `host ${host.name} has not enough ${first.resource} for instance ${instanceUuid}: requested ${first.requested}, used ${first.used}, limit ${first.limit} (capacity ${first.capacity} x allocation ratio ${first.allocationRatio})`,
        { host: host.name, instanceUuid, reason: "insufficient-resources", ...first, shortfalls },
      ),
    };
  }
  if (serverGroup?.policy === "anti-affinity") {
    const member = host.antiAffinity[serverGroup.id];
    if (member !== undefined && member !== instanceUuid) {
      return {
        kind: "refused",
        error: new ClaimRefused(
          `anti-affinity server group ${serverGroup.id} already has member ${member} on host ${host.name}`,
          { host: host.name, instanceUuid, reason: "anti-affinity", serverGroup: serverGroup.id, member },
        ),
      };
    }
  }
  return { kind: "ok" };
}
