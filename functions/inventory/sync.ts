/**
 * Fleet sync: nova's `_sync_power_states` and resource audit, for every host that is up. Per host:
 *  - power state: an instance with no task whose domain's state differs gets the state recorded;
 *  - a domain with no record on this host is reported as unknown (or as a stale copy of an instance
 *    recorded elsewhere); a record whose domain is not defined is reported missing (power state nostate).
 *    Nothing is ever undefined, deleted or started: drift is for an operator to decide on;
 *  - usage: every placed instance has a claim of its flavor (missing ones are made); a claim whose
 *    instance is not placed here and whose owner is no running migration is released once it is older
 *    than the grace period (the source claim an evacuation leaves on a dead host, once it returns).
 *    So usage, the sum of claims, equals the sum of placed flavors plus in-flight migrations.
 * Instances in a task are left alone: a flow owns them.
 *
 * A run syncs at most `hostsPerRun` hosts (the scheduled run: SYNC_HOSTS_PER_RUN), walking the hosts table a
 * page per run from where the last run stopped (its cursor in the fleet table), so a run's cost is bounded
 * whatever the fleet's size and every host is synced once per fleet / hostsPerRun runs (docs/SCALE.md).
 * `hosts` names the hosts to sync instead (the API's sync of one host, the drift tool).
 */
import { z } from "zod";
import { ClaimRefused, errorMessage, isLazarusError } from "#shared/domain/errors.js";
import {
  type Claim,
  HOST_DRIFT_KEEP,
  type Host,
  type HostDrift,
  holdsNothing,
  type Instance,
  type Resources,
} from "#shared/domain/schemas.js";
import { isMigrationInFlight, type PowerState } from "#shared/domain/states.js";
import { listDomainStates, parseDomainStates } from "#shared/hosts/domain-inventory.js";
import { hostTarget } from "#shared/hosts/layout.js";
import { validated } from "#shared/hosts/validate.js";
import { mapWithConcurrency } from "#shared/lambda/concurrency.js";
import type { InventoryDeps } from "./deps.js";

/** Hosts a scheduled sync run looks at (one SSM command each). */
export const SYNC_HOSTS_PER_RUN = 50;
/**
 * Hosts synced at once: one after the other, a run of 50 waited 50 SSM round trips (about a second each in
 * AWS), which the Lambda bills; each host's sync touches only its own records and claims.
 */
export const SYNC_CONCURRENCY = 10;

export const SyncFleetRequest = z.object({
  /** false: report only, write nothing. */
  apply: z.boolean().default(true),
  /** Only these hosts (default: the next `hostsPerRun` hosts of the fleet, from where the last run stopped). */
  hosts: z.array(z.string()).optional(),
  /** Hosts a run without `hosts` syncs. */
  hostsPerRun: z.number().int().positive().max(1000).default(SYNC_HOSTS_PER_RUN),
  /** A claim younger than this is never released (a flow may be about to record its instance). */
  orphanClaimGraceSeconds: z.number().int().nonnegative().default(600),
});
export type SyncFleetRequest = z.input<typeof SyncFleetRequest>;

export interface PowerDrift {
  instanceUuid: string;
  name: string;
  recorded: PowerState;
  actual: PowerState;
  /** The record now says `actual` (false in a report-only run, or when a flow took the instance meanwhile). */
  recordedNow: boolean;
}

export interface HostSync {
  host: string;
  status: "synced" | "skipped" | "unreachable";
  /** Why skipped or unreachable. */
  reason?: string;
  powerDrift: PowerDrift[];
  /** Domains defined on the host that no record places here; `recordedHost` if a record places it elsewhere. */
  unknownDomains: { uuid: string; powerState: PowerState; recordedHost: string | null }[];
  /** Records placing an instance here whose domain is not defined. */
  missingDomains: { instanceUuid: string; name: string }[];
  claimsMade: string[];
  claimsReleased: string[];
  /** Claims that could not be made (no room), with why. */
  claimProblems: { instanceUuid: string; reason: string }[];
  /** Usage after the sync, and the sum of the flavors of the instances placed here. */
  usage: Resources | null;
  placed: Resources;
}

export interface FleetSyncReport {
  at: string;
  hosts: HostSync[];
  /** True when any host shows drift of any kind. */
  drift: boolean;
}

const ZERO: Resources = { vcpus: 0, memoryMiB: 0, diskGiB: 0 };

/** Where the fleet sync stopped (the fleet table's cursor of this job). */
const SYNC_CURSOR = "fleet-sync";

export async function syncFleet(deps: InventoryDeps, input: SyncFleetRequest = {}): Promise<FleetSyncReport> {
  const req = validated(SyncFleetRequest, "syncFleet", input);
  const hosts = req.hosts
    ? await deps.stores.hosts.getMany(req.hosts)
    : await nextHosts(deps, req.hostsPerRun);
  const results = await mapWithConcurrency(hosts, SYNC_CONCURRENCY, (host) => syncHost(deps, host, req));
  const drift = results.some(
    (h) =>
      h.powerDrift.length +
        h.unknownDomains.length +
        h.missingDomains.length +
        h.claimsMade.length +
        h.claimsReleased.length +
        h.claimProblems.length >
      0,
  );
  return { at: deps.now().toISOString(), hosts: results, drift };
}

/** The next page of the fleet after the last run's, each host read by key; the cursor moves on (or back to the start). */
async function nextHosts(deps: InventoryDeps, limit: number): Promise<Host[]> {
  const { fleet } = deps.stores.hosts;
  const start = await fleet.cursor(SYNC_CURSOR);
  const page = await deps.stores.hosts.namesPage({ limit, ...(start ? { start } : {}) });
  await fleet.setCursor(SYNC_CURSOR, page.next);
  return deps.stores.hosts.getMany(page.names);
}

function empty(host: string, status: HostSync["status"], reason?: string): HostSync {
  return {
    host,
    status,
    ...(reason ? { reason } : {}),
    powerDrift: [],
    unknownDomains: [],
    missingDomains: [],
    claimsMade: [],
    claimsReleased: [],
    claimProblems: [],
    usage: null,
    placed: { ...ZERO },
  };
}

async function syncHost(
  deps: InventoryDeps,
  host: Host,
  req: z.output<typeof SyncFleetRequest>,
): Promise<HostSync> {
  if (host.status !== "up" || host.forcedDown) {
    return empty(host.name, "skipped", host.forcedDown ? "forced down" : "compute service down");
  }
  let states: Map<string, PowerState>;
  try {
    states = parseDomainStates(
      (await deps.executor.run(hostTarget(host), listDomainStates(), { comment: "lazarus sync" })).stdout,
    );
  } catch (e) {
    if (!isLazarusError(e)) throw e;
    return empty(host.name, "unreachable", errorMessage(e));
  }
  const { instances: store } = deps.stores;
  const result = empty(host.name, "synced");
  // A build that failed and was undone holds nothing here: no domain is missing, no claim is owed.
  const placed = (await store.listByHost(host.name)).filter((i) => !holdsNothing(i));
  const placedIds = new Set(placed.map((i) => i.uuid));

  for (const inst of placed) {
    addTo(result.placed, inst.flavor);
    if (inst.taskState !== null) continue;
    const actual = states.get(inst.uuid);
    if (actual === undefined) {
      result.missingDomains.push({ instanceUuid: inst.uuid, name: inst.name });
      if (inst.powerState !== "nostate") await recordPower(deps, inst, "nostate", req.apply);
      continue;
    }
    if (actual !== inst.powerState) {
      const recordedNow = await recordPower(deps, inst, actual, req.apply);
      result.powerDrift.push({
        instanceUuid: inst.uuid,
        name: inst.name,
        recorded: inst.powerState,
        actual,
        recordedNow,
      });
    }
  }
  for (const [uuid, powerState] of states) {
    if (placedIds.has(uuid)) continue;
    const record = await store.get(uuid);
    // The by-host index lags on AWS: a record that does place it here is not drift.
    if (record?.host === host.name) continue;
    result.unknownDomains.push({ uuid, powerState, recordedHost: record?.host ?? null });
  }

  await auditClaims(deps, host, placed, req, result);
  result.usage = (await deps.stores.hosts.require(host.name)).usage;
  // What is left for an operator, on the host record (the console's work waiting); report-only writes nothing.
  if (req.apply) await deps.stores.hosts.recordDrift(host.name, driftLeft(result, deps.now()));
  return result;
}

/** The domains and instances a sync leaves for an operator (adopt, remove, rebuild), or null: none. */
function driftLeft(result: HostSync, at: Date): HostDrift | null {
  if (result.unknownDomains.length + result.missingDomains.length === 0) return null;
  return {
    at: at.toISOString(),
    unknownDomains: result.unknownDomains
      .slice(0, HOST_DRIFT_KEEP)
      .map((d) => ({ uuid: d.uuid, recordedHost: d.recordedHost })),
    missingDomains: result.missingDomains.slice(0, HOST_DRIFT_KEEP),
  };
}

/** Records the power state if the instance is still as read (no task, same version). */
async function recordPower(
  deps: InventoryDeps,
  inst: Instance,
  actual: PowerState,
  apply: boolean,
): Promise<boolean> {
  if (!apply) return false;
  try {
    await deps.stores.instances.update(inst.uuid, {
      expectTaskState: [null],
      expectVersion: inst.version,
      set: { powerState: actual },
    });
    return true;
  } catch (e) {
    if (isLazarusError(e)) return false; // a flow took it, or it changed: the next sync looks again
    throw e;
  }
}

async function auditClaims(
  deps: InventoryDeps,
  host: Host,
  placed: readonly Instance[],
  req: z.output<typeof SyncFleetRequest>,
  result: HostSync,
): Promise<void> {
  const { hosts, instances, migrations } = deps.stores;
  for (const inst of placed) {
    if (host.claims[inst.uuid] || inst.taskState !== null) continue;
    if (!req.apply) {
      result.claimsMade.push(inst.uuid);
      continue;
    }
    try {
      await hosts.claim(host.name, {
        instanceUuid: inst.uuid,
        resources: inst.flavor,
        owner: `sync:${inst.uuid}`,
        serverGroup: inst.serverGroup,
      });
      result.claimsMade.push(inst.uuid);
    } catch (e) {
      if (!(e instanceof ClaimRefused)) throw e;
      result.claimProblems.push({ instanceUuid: inst.uuid, reason: e.message });
    }
  }
  const placedIds = new Set(placed.map((i) => i.uuid));
  const now = deps.now().getTime();
  for (const claim of Object.values(host.claims) as Claim[]) {
    if (placedIds.has(claim.instanceUuid)) continue;
    if (now - Date.parse(claim.claimedAt) < req.orphanClaimGraceSeconds * 1000) continue;
    const migration = /^[0-9a-f-]{36}$/.test(claim.owner) ? await migrations.get(claim.owner) : null;
    if (migration && isMigrationInFlight(migration.status)) continue;
    // Consistent read: the by-host index may not show an instance that just arrived here. A cold migration
    // waiting for its confirm keeps its source's claim (the reservation a revert needs).
    const owner = await instances.get(claim.instanceUuid);
    if (owner?.host === host.name || owner?.vmState === "resized") continue;
    if (req.apply) await hosts.release(host.name, claim.instanceUuid, { owner: claim.owner });
    result.claimsReleased.push(claim.instanceUuid);
  }
}

function addTo(sum: Resources, r: Resources): void {
  sum.vcpus += r.vcpus;
  sum.memoryMiB += r.memoryMiB;
  sum.diskGiB += r.diskGiB;
}
