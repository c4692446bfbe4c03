/**
 * A new host record: what registration decides (name, agent, capacity, ratios, storage...) and the one set
 * of defaults for everything the control plane keeps itself (no usage, no claims, enabled, up, no incident).
 * Registration, the local cloud's seeding and the test fixtures all build hosts through it.
 */
import {
  type AllocationRatios,
  Host,
  type HostFencing,
  type HostLiveMigration,
  NO_FENCING,
} from "./schemas.js";

export type HostRegistrationFields = Pick<
  Host,
  "name" | "managedInstanceId" | "virtType" | "supportsRecreate" | "availabilityZone" | "capacity" | "storage"
> & {
  allocationRatios?: AllocationRatios;
  fencing?: HostFencing;
  liveMigration?: HostLiveMigration | null;
};

/** Overcommit when the operator says nothing: cpu 4 (nova 16 overcommits a lot), ram 1.5 (nova's), disk 1 (none). */
export const DEFAULT_ALLOCATION_RATIOS: AllocationRatios = { cpu: 4, ram: 1.5, disk: 1 };

export function newHostRecord(
  reg: HostRegistrationFields,
  opts: { lastHeartbeatAt?: string | null } = {},
): Host {
  return Host.parse({
    ...reg,
    allocationRatios: reg.allocationRatios ?? DEFAULT_ALLOCATION_RATIOS,
    usage: { vcpus: 0, memoryMiB: 0, diskGiB: 0 },
    claims: {},
    antiAffinity: {},
    enabled: true,
    disabledReason: null,
    forcedDown: false,
    status: "up",
    lastHeartbeatAt: opts.lastHeartbeatAt ?? null,
    incident: null,
    fencing: reg.fencing ?? NO_FENCING,
    liveMigration: reg.liveMigration ?? null,
    maintenance: null,
    version: 0,
  });
}
