/**
 * The returning host (nova's `_destroy_evacuated_instances`, done better). Run when the host's heartbeat is
 * back (ALARM -> OK) and only once its evacuation has ended (evacuated, or aborted part-way):
 *  1. every domain defined there whose instance record names another host (and that no flow holds) is
 *     destroyed and undefined, whatever its migration's status (nova bug 1713783); its disk is removed only
 *     from local storage (a shared disk is the evacuated copy's). Nothing can start these copies before:
 *     Lazarus defines domains with autostart off and the host's agent starts nothing by itself;
 *  2. the host's claims (and anti-affinity slots) of instances placed elsewhere are released, and the
 *     evacuation migrations of those instances set `completed`;
 *  3. the host stays disabled (an operator enables it; one whose evacuation aborted before disabling it
 *     stays enabled), no longer forced down (its proof of death is cleared: the host is back); the
 *     incident is closed.
 * Instances whose record still names this host (skipped, failed) are reported, not touched.
 */
import { InvalidInput, LazarusError, StaleDomainsRemain } from "#shared/domain/errors.js";
import {
  claimsToRelease,
  classifyDomains,
  migrationsToComplete,
  recoveryAction,
} from "#shared/domain/host-failure.js";
import type { Instance } from "#shared/domain/schemas.js";
import { hostTarget } from "#shared/hosts/layout.js";
import { listDomains, removeStaleDomains } from "#shared/hosts/virsh.js";
import { parseListUuids } from "#shared/hosts/virsh-parsers.js";
import type { HostFailureDeps } from "#shared/lambda/host-failure-runtime.js";
import type { HostRecoveryState } from "../contract.js";

async function recordsOf(
  deps: HostFailureDeps,
  uuids: readonly string[],
): Promise<Map<string, Instance | null>> {
  const unique = [...new Set(uuids)];
  const found = await Promise.all(unique.map((u) => deps.stores.instances.get(u)));
  return new Map(unique.map((u, i) => [u, found[i] ?? null]));
}

export async function checkRecovery(
  deps: HostFailureDeps,
  state: HostRecoveryState,
): Promise<HostRecoveryState> {
  const host = await deps.stores.hosts.require(state.host);
  return {
    ...state,
    incidentId: host.incident?.id ?? null,
    action: recoveryAction(host.incident),
    waitSeconds: deps.recoveryPollSeconds,
  };
}

export async function cleanStaleDomains(
  deps: HostFailureDeps,
  state: HostRecoveryState,
): Promise<HostRecoveryState> {
  const host = await deps.stores.hosts.require(state.host);
  const target = hostTarget(host);
  const listed = parseListUuids((await deps.executor.run(target, listDomains())).stdout);
  const verdicts = classifyDomains(host, listed, await recordsOf(deps, listed));
  if (verdicts.stale.length > 0) {
    const stale = verdicts.stale.map((s) => ({ uuid: s.instanceUuid, removeFiles: s.removeLocalDisk }));
    for (const command of removeStaleDomains(stale, host.storage.instancesPath)) {
      await deps.executor.run(target, command, { comment: `remove stale domains on ${host.name}` });
    }
    const after = parseListUuids((await deps.executor.run(target, listDomains())).stdout);
    const left = verdicts.stale.filter((s) => after.includes(s.instanceUuid));
    if (left.length > 0) {
      throw new StaleDomainsRemain(
        `stale domains still defined on ${host.name}: ${left.map((s) => s.instanceUuid).join(", ")}`,
        { host: host.name, instances: left.map((s) => s.instanceUuid) },
      );
    }
  }
  return {
    ...state,
    domains: {
      removed: verdicts.stale.map((s) => s.instanceUuid),
      localDisksRemoved: verdicts.stale.filter((s) => s.removeLocalDisk).map((s) => s.instanceUuid),
      kept: verdicts.kept.map((k) => k.instanceUuid),
      busy: verdicts.busy.map((b) => b.instanceUuid),
      unknown: verdicts.unknown,
    },
  };
}

export async function releaseHostRecords(
  deps: HostFailureDeps,
  state: HostRecoveryState,
): Promise<HostRecoveryState> {
  const host = await deps.stores.hosts.require(state.host);
  const migrations = await deps.stores.migrations.listBySourceHost(host.name);
  const records = await recordsOf(deps, [
    ...Object.keys(host.claims),
    ...migrations.map((m) => m.instanceUuid),
  ]);
  const releasedClaims: string[] = [];
  for (const claim of claimsToRelease(host, records)) {
    const r = await deps.stores.hosts.release(host.name, claim.instanceUuid, { owner: claim.owner });
    if (r.released) releasedClaims.push(claim.instanceUuid);
  }
  const completed: string[] = [];
  for (const m of migrationsToComplete(host.name, migrations, records)) {
    await deps.stores.migrations.transition(m.id, "completed");
    completed.push(m.id);
  }
  const fencingCleared = await clearFencingRequired(deps, host.name, [...records.values()]);
  return { ...state, released: { claims: releasedClaims, migrationsCompleted: completed, fencingCleared } };
}

/**
 * Instances still "fencing required" for this host (the evacuation gave up: the host came back before
 * proof of its death) are its own again: the mark and its fault are cleared, only while no flow holds them.
 */
async function clearFencingRequired(
  deps: HostFailureDeps,
  host: string,
  records: readonly (Instance | null)[],
): Promise<string[]> {
  const cleared: string[] = [];
  for (const i of records) {
    if (!i || i.host !== host || i.fencingRequired?.host !== host || i.taskState !== null) continue;
    try {
      await deps.stores.instances.update(i.uuid, {
        expectTaskState: [null],
        set: { fencingRequired: null, ...(i.fault?.error === "FencingRequired" ? { fault: null } : {}) },
      });
      cleared.push(i.uuid);
    } catch (e) {
      if (e instanceof LazarusError && (e.name === "UnexpectedTaskState" || e.name === "ConcurrentUpdate"))
        continue;
      throw e;
    }
  }
  return cleared;
}

export async function finishRecovery(
  deps: HostFailureDeps,
  state: HostRecoveryState,
): Promise<HostRecoveryState> {
  if (!state.incidentId) throw new InvalidInput("finishRecovery needs the incident id", { host: state.host });
  const host = await deps.stores.hosts.require(state.host);
  // An evacuation that aborted before it disabled the host moved nothing: the host stays in service.
  const keepsService = host.incident?.status === "aborted" && host.enabled;
  await deps.stores.hostIncidents.update(state.host, state.incidentId, "closed", {
    summary: { ...(host.incident?.summary ?? {}), recovery: { ...state.domains, ...state.released } },
    service: {
      // The proof of death held for the host as it was: once back and cleaned, it proves nothing.
      deathProof: null,
      status: "up",
      ...(keepsService
        ? {}
        : {
            enabled: false,
            disabledReason: `returned after host failure ${state.incidentId}; stale domains removed at ${deps.now().toISOString()}; an operator enables it`,
          }),
    },
  });
  return state;
}
