/**
 * The attributes a host item carries for its indexes only, derived from the record (one definition, used by
 * every write of a host). They let each reader of the hosts table read what it looks for, never the whole
 * table:
 *  - `placementZone` / `placementPool` + `freeRamMiB` (indexes by-zone-free, by-pool-free): a host that
 *    may take instances (enabled, up, not forced down) under its zone, and under its zone's shared pool,
 *    sorted by free RAM as nova's RAMWeigher spreads: the scheduler reads the best few, then re-reads each
 *    by key before it claims (the claim stays one conditional write on the host item).
 *  - `suspect` + `suspectSince` (index by-suspect): a host that looks dead, as the mass-failure guard counts
 *    it (shared/domain/fencing.ts `suspectHosts`): its open suspect incident (since it opened), or its
 *    heartbeat alarm with no such incident (`~`, sorting after every time: always inside the window).
 *
 * Every write that changes what they derive from (enabled, status, forced down, incident, zone, pool,
 * capacity, ratios) is decided on the record it changes (conditional on its version) and sets them from the
 * record it makes (`indexTerms`); a claim or release, which is not conditional on the version, moves
 * `freeRamMiB` by its own amount (`freeRamTerm`), as it moves `usage`.
 */
import { resourceLimit } from "../domain/claim-policy.js";
import { OPEN_SUSPECT_INCIDENT_STATUSES } from "../domain/fencing.js";
import { Host } from "../domain/schemas.js";
import { type Expr, type Item, parseStored } from "./dynamo-util.js";
import { PLACEMENT_FIELDS } from "./tables.js";

/** The projected fields, typed as the host fields they are. */
const PLACEMENT_VIEW: readonly (keyof Host)[] = PLACEMENT_FIELDS;

/**
 * A host as the scheduler's index holds it: the placement fields, no claims (a group policy that counts its
 * members' claims reads the hosts by key instead), version 0. Never written back.
 */
export function placementView(item: Item): Host {
  const fields = Object.fromEntries(PLACEMENT_VIEW.map((f) => [f, item[f]]));
  return parseStored(Host, { ...fields, name: item.name, claims: {}, version: 0 }, "host (placement index)");
}

/** The partition key value of the by-suspect index (one partition: only suspect hosts are in it). */
export const SUSPECT_KEY = "suspect";
/** `suspectSince` of a host whose alarm is on with no suspect incident: after any time, so always counted. */
export const SUSPECT_NO_INCIDENT = "~";

/** Whether the scheduler may place anything on the host at all (the rest of its filters need the record). */
export function isSchedulable(h: Pick<Host, "enabled" | "forcedDown" | "status">): boolean {
  return h.enabled && !h.forcedDown && h.status === "up";
}

/** The pool partition of a host: its zone and shared pool. */
export function poolKey(availabilityZone: string, sharedPoolId: string): string {
  return `${availabilityZone}#${sharedPoolId}`;
}

export function freeRamMiB(h: Pick<Host, "capacity" | "allocationRatios" | "usage">): number {
  return resourceLimit(h, "memoryMiB") - h.usage.memoryMiB;
}

/** The index attributes of `h` (absent ones are left out: the indexes are sparse). */
export function hostIndexAttributes(h: Host): Item {
  const out: Item = { freeRamMiB: freeRamMiB(h) };
  if (isSchedulable(h)) {
    out.placementZone = h.availabilityZone;
    if (h.storage.sharedPoolId !== null)
      out.placementPool = poolKey(h.availabilityZone, h.storage.sharedPoolId);
  }
  const since = suspectSince(h);
  if (since !== null) {
    out.suspect = SUSPECT_KEY;
    out.suspectSince = since;
  }
  return out;
}

/** When the host started to look dead, for the guard's window; null when it does not. */
export function suspectSince(h: Pick<Host, "status" | "incident">): string | null {
  const inc = h.incident;
  if (inc !== null && OPEN_SUSPECT_INCIDENT_STATUSES.includes(inc.status)) return inc.openedAt;
  return h.status === "down" ? SUSPECT_NO_INCIDENT : null;
}

const DERIVED = ["freeRamMiB", "placementZone", "placementPool", "suspect", "suspectSince"] as const;

/** SET and REMOVE terms that make a host item's index attributes those of `after`, the record it becomes. */
export function indexTerms(x: Expr, after: Host): { sets: string[]; removes: string[] } {
  const attrs = hostIndexAttributes(after);
  const sets: string[] = [];
  const removes: string[] = [];
  for (const name of DERIVED) {
    if (attrs[name] === undefined) removes.push(x.name(name));
    else sets.push(`${x.name(name)} = ${x.value(attrs[name])}`);
  }
  return { sets, removes };
}

/**
 * The term a claim (`deltaMiB` < 0) or release (> 0) adds: `freeRamMiB` moves with `usage`, atomically. An
 * item written before the attribute existed starts from the value of the record the change was decided on.
 */
export function freeRamTerm(x: Expr, current: Host, deltaMiB: number): string {
  const attr = x.name("freeRamMiB");
  return `${attr} = if_not_exists(${attr}, ${x.value(freeRamMiB(current))}) + ${x.value(deltaMiB)}`;
}
