/**
 * What the scheduler reads of the fleet: a bounded set of candidate hosts, never the hosts table (nova asks
 * placement for at most `max_placement_results` candidates the same way). The candidates are the schedulable
 * hosts of the instance's zone (and of its shared pool, when its disk must stay there) with the most free
 * RAM, a page at a time from an index (shared/store/host-index.ts), plus the hosts the request names (the
 * requested host, the plan's host) and, for a server group policy that looks at where the other members run,
 * those members' hosts. The index may lag in AWS: the claim that follows is conditional on the host item as
 * the filters saw it (hosts-store.ts `expect`), so a stale candidate is refused, never overcommitted.
 *
 * Claiming a host for an instance (`claimFromIndex`, the one claim loop of every flow that places: the
 * evacuation's Schedule, the boot's ScheduleBoot, the migration's ScheduleMigration): page by page, the
 * scheduler's filters and weighers run over the hosts read so far, the best candidate's claim is tried first,
 * a refused one (the room or the group slot went meanwhile) moves on to the next, and a claim whose host
 * changed since it was weighed (PlacementRaced) reads and weighs again, so concurrent placements spread as a
 * sequential run would. Before each claim the flow's own record names the host (write-ahead): a retried step
 * finds the claim it made by key, and the flow's end releases its claims where they are named, never by
 * reading every host. The step's next write (the boot's instance record, the migration's transition) is
 * where the placement commits: of two attempts of one step at once, the one that lost it releases its own
 * claim (`releaseStrayClaim`).
 */
import { ClaimRefused, HostNotFound, NoValidHost, PlacementRaced } from "../domain/errors.js";
import { describeRejections } from "../domain/scheduling.js";
import type { Flavor, Host, Instance, ServerGroup } from "../domain/schemas.js";
import { freeRamMiB } from "../store/host-index.js";
import type { PlacementExpectation } from "../store/hosts-store.js";
import type { Stores } from "../store/index.js";
import type { StepDeps } from "./deps.js";

/** Hosts read per index page. */
export const CANDIDATE_PAGE = 16;
/** At most this many index candidates per placement (then NoValidHost names what was read). */
export const MAX_CANDIDATES = 64;

/** Where a placement may land: the instance's zone, and its shared pool when the disk stays in it. */
export interface PlacementScope {
  zone: string;
  pool: string | null;
}

/** Group policies that weigh or filter by where the other members are: they need the hosts' claims. */
export function groupNeedsClaims(group: ServerGroup | null): boolean {
  return group !== null && group.policy !== "anti-affinity";
}

/**
 * The scopes a placement reads the index in: the zone asked for (with the pool when the disk stays in it),
 * or, for a boot that asks for no zone, every zone hosts were registered in (one item per zone).
 */
export async function placementScopes(
  stores: Pick<Stores, "hosts">,
  zone: string | null,
  pool: string | null,
): Promise<PlacementScope[]> {
  const zones = zone !== null ? [zone] : await stores.hosts.fleet.zones();
  return zones.map((z) => ({ zone: z, pool }));
}

/**
 * Pages of the scheduler's index, most free RAM first, until MAX_CANDIDATES were read or none are left. With
 * several scopes (a boot in any zone), each call reads the next page of every scope that has more.
 */
export class CandidatePages {
  private readonly cursors: { scope: PlacementScope; start?: Record<string, unknown>; done: boolean }[];
  /** Index entries read so far. */
  read = 0;

  constructor(
    private readonly stores: Pick<Stores, "hosts">,
    scopes: PlacementScope | readonly PlacementScope[],
    private readonly limits: { page: number; max: number } = { page: CANDIDATE_PAGE, max: MAX_CANDIDATES },
  ) {
    this.cursors = (Array.isArray(scopes) ? scopes : [scopes]).map((scope) => ({ scope, done: false }));
  }

  /** Whether another page may hold more candidates. */
  get more(): boolean {
    return this.cursors.some((c) => !c.done) && this.read < this.limits.max;
  }

  /** The next page (empty when there is none), as the index projects the hosts (no claims). */
  async next(): Promise<Host[]> {
    const out: Host[] = [];
    for (const c of this.cursors) {
      if (c.done || this.read >= this.limits.max) continue;
      const page = await this.stores.hosts.schedulablePage(c.scope, {
        limit: Math.min(this.limits.page, this.limits.max - this.read),
        ...(c.start ? { start: c.start } : {}),
      });
      this.read += page.hosts.length;
      c.start = page.next;
      if (!page.next) c.done = true;
      out.push(...page.hosts);
    }
    return out;
  }

  /** Why fewer hosts may have been considered than the zone has (for a NoValidHost message). */
  describe(): string {
    if (this.cursors.length === 0) return "no availability zone has hosts";
    const where = this.cursors
      .map(({ scope }) => (scope.pool ? `pool ${scope.pool} of zone ${scope.zone}` : `zone ${scope.zone}`))
      .join(", ");
    return this.cursors.every((c) => c.done)
      ? `every schedulable host of ${where} was considered`
      : `the ${this.read} schedulable hosts of ${where} with the most free RAM were considered`;
  }
}

/**
 * The hosts where the other members of `instance`'s server group run, or are being placed (their flows'
 * destinations): for affinity and the soft policies, which count members per host. Bounded by the group's
 * size. Empty for no group and for anti-affinity (the host item's own slot decides that one).
 */
export async function groupMemberHosts(
  stores: Pick<Stores, "instances" | "migrations">,
  instance: Pick<Instance, "uuid" | "serverGroup">,
): Promise<string[]> {
  const group = instance.serverGroup;
  if (!groupNeedsClaims(group) || group === null) return [];
  const uuids = (await stores.instances.memberUuids(group.id)).filter((u) => u !== instance.uuid);
  const members = await stores.instances.getMany(uuids);
  const out = new Set<string>();
  for (const m of members) {
    if (m.serverGroup?.id !== group.id) continue;
    out.add(m.host);
    if (m.taskRequestId) {
      const flow = await stores.migrations.get(m.taskRequestId);
      if (flow?.destHost) out.add(flow.destHost);
    }
  }
  return [...out];
}

/**
 * Candidates enough to plan where `instances` (all of one host, `source`) would go: for each scope their
 * disks need, index pages until the hosts read have free RAM for all of them (or MAX_CANDIDATES, or twice
 * the instances, were read). The plan is a hint (each child's Schedule decides again), so reading the best
 * few is enough. Bounded by the host's instances, not by the fleet.
 */
export async function planCandidates(
  stores: Pick<Stores, "hosts">,
  source: Host,
  instances: readonly Instance[],
): Promise<Host[]> {
  const scopes = new Map<string, { scope: PlacementScope; needMiB: number; count: number }>();
  for (const i of instances) {
    const pool = i.onSharedStorage === false ? null : source.storage.sharedPoolId;
    const key = `${i.availabilityZone}/${pool ?? ""}`;
    const s = scopes.get(key) ?? { scope: { zone: i.availabilityZone, pool }, needMiB: 0, count: 0 };
    s.needMiB += i.flavor.memoryMiB;
    s.count += 1;
    scopes.set(key, s);
  }
  const found = new Map<string, Host>();
  for (const { scope, needMiB, count } of scopes.values()) {
    const pages = new CandidatePages(stores, scope, {
      page: CANDIDATE_PAGE,
      max: Math.max(MAX_CANDIDATES, 2 * count),
    });
    let freeMiB = 0;
    while (pages.more && freeMiB < needMiB) {
      for (const h of await pages.next()) {
        if (h.name === source.name || found.has(h.name)) continue;
        found.set(h.name, h);
        freeMiB += Math.max(0, freeRamMiB(h));
      }
    }
  }
  return [...found.values()];
}

/** How often a placement is weighed again after racing another one before the step gives up (and is retried). */
export const MAX_PLACEMENT_ROUNDS = 40;

export interface ClaimSpec {
  instanceUuid: string;
  resources: Flavor;
  /** The migration or boot request making the claim: a retried claim with the same owner is a no-op. */
  owner: string;
  serverGroup: ServerGroup | null;
}

/**
 * One claim on `host` as it was weighed: the host as the claim left it (a record as consistent as a read);
 * "raced" when the host changed since (weigh again); "refused" when its room or the group's slot went
 * meanwhile (why, in `rejected`). Other failures throw.
 */
export async function tryClaim(
  stores: Pick<Stores, "hosts">,
  host: string,
  spec: ClaimSpec,
  opts: Parameters<Stores["hosts"]["claim"]>[2],
  rejected: Record<string, string>,
): Promise<Host | "raced" | "refused"> {
  try {
    return (await stores.hosts.claim(host, spec, opts)).host;
  } catch (e) {
    if (e instanceof PlacementRaced) return "raced";
    if (!(e instanceof ClaimRefused)) throw e;
    rejected[host] = `claim refused: ${e.message}`;
    return "refused";
  }
}

/**
 * What a claim is conditional on: the host as the filters saw it, and (`weighed`, the default) the usage it
 * was weighed with (a change is PlacementRaced: weigh again). A forced host's claim is on room only.
 */
export function claimConditions(
  host: Host,
  { weighed = true }: { weighed?: boolean } = {},
): { expectUsage?: Host["usage"]; expect: PlacementExpectation } {
  return {
    ...(weighed ? { expectUsage: host.usage } : {}),
    expect: {
      availabilityZone: host.availabilityZone,
      virtType: host.virtType,
      supportsRecreate: host.supportsRecreate,
      sharedPoolId: host.storage.sharedPoolId,
    },
  };
}

export interface IndexPlacement {
  /** Where the index is read (placementScopes); none: only the named hosts (a requested host). */
  scopes: readonly PlacementScope[];
  /** Hosts read by key every round besides the index's: the requested host, the plan's, the group members'. */
  named: readonly string[];
  /** The group policy counts its members' claims: index pages are re-read by key (the index has no claims). */
  withClaims: boolean;
  /** The filters and weighers over the hosts read, best first; why each other host was refused in `rejected`. */
  candidates: (hosts: Host[], rejected: Record<string, string>) => Host[];
  spec: ClaimSpec;
  /** A forced host (nova 2.29-2.67): taken whatever its filters say, room only, one try. */
  forced?: boolean;
  /**
   * The host a plan placed this instance on (a host evacuation's or a drain's `plannedHost`: the scheduler's
   * own placement of all the host's instances, one after the other). While it passes the filters it is
   * claimed on room alone, not on the usage it was weighed with: its siblings planned there claim it at the
   * same moment, and the plan already weighed them, so a change of its usage is no reason to weigh again
   * (with the usage condition, N siblings took up to N rounds, one winner each). The claim stays conditional
   * on the room and on the host as the filters saw it. Not for a group policy that counts its members'
   * claims (`withClaims`): those are weighed on the usage, as without a plan.
   */
  planned?: string | null;
  /** Write-ahead: the flow's record names `host` before its claim is tried. */
  nameTarget: (host: string) => Promise<void>;
  /** Added to NoValidHost's details. */
  details?: Record<string, unknown>;
}

/**
 * Claims the best candidate that takes the claim and returns its host as the claim left it; NoValidHost (every
 * host named with why it was refused, and how much of the index was read) when none does. Bounded reads: the
 * named hosts and at most MAX_CANDIDATES index entries per round. Each claim is decided on the host as it was
 * read here (`known`: by key, or the index's entry), not on a read of its own: the claim's write is
 * conditional on all that decision rests on (hosts-store.ts `claim`).
 */
export async function claimFromIndex(deps: StepDeps, p: IndexPlacement): Promise<Host> {
  const { hosts } = deps.stores;
  for (let round = 1; ; round++) {
    const rejected: Record<string, string> = {};
    const seen = new Map<string, Host>((await hosts.getMany([...p.named])).map((h) => [h.name, h]));
    const pages = p.scopes.length > 0 ? new CandidatePages(deps.stores, p.scopes) : null;
    const tried = new Set<string>();
    let raced = false;
    for (let first = true; first || pages?.more; first = false) {
      // The plan's host is tried before any index page is read: whether it passes the filters is decided on
      // its own record (read by key above; no filter but the affinity group's, which counts claims and so
      // takes no shortcut, looks at other hosts), and one that passes is tried first whatever the weighers
      // say (`preferring`), so no index page could change that first try. Only when it is refused are the
      // pages read.
      const planOnly = first && pages !== null && plannedAlone(p, seen);
      const page = pages && !planOnly ? await pages.next() : [];
      const read = p.withClaims ? await hosts.getMany(page.map((h) => h.name)) : page;
      for (const h of read) if (!seen.has(h.name)) seen.set(h.name, h);
      const candidates = p.candidates([...seen.values()], rejected);
      for (const host of planOnly ? candidates.filter((h) => h.name === p.planned) : candidates) {
        if (tried.has(host.name)) continue;
        tried.add(host.name);
        await p.nameTarget(host.name);
        const conditions = p.forced
          ? {}
          : claimConditions(host, { weighed: host.name !== p.planned || p.withClaims });
        const attempt = await tryClaim(
          deps.stores,
          host.name,
          p.spec,
          { ...conditions, known: host },
          rejected,
        );
        if (attempt === "refused") continue;
        if (attempt === "raced") {
          raced = true;
          break;
        }
        return attempt;
      }
      if (raced || p.forced) break;
    }
    // An index page with no host at all may be a moment's view: the index is eventually consistent, and a
    // concurrent claim moves its host's entry (free RAM is the sort key; the local DynamoDB moves it as a
    // delete then a put). Read it again, as after a raced claim, before saying no host exists.
    if (pages && seen.size === 0) raced = true;
    if (!raced || round >= MAX_PLACEMENT_ROUNDS) {
      const considered = pages ? ` (${pages.describe()})` : "";
      const reason = describeRejections({ candidates: [], rejected });
      throw new NoValidHost(`No valid host was found. ${reason}${considered}`, { rejected, ...p.details });
    }
    await deps.sleep(Math.floor(Math.random() * 20));
  }
}

/** Whether the plan's host may be tried on its own record before the index is read (see claimFromIndex). */
function plannedAlone(p: IndexPlacement, seen: ReadonlyMap<string, Host>): boolean {
  return !!p.planned && !p.withClaims && !p.forced && seen.has(p.planned);
}

/**
 * Gives up `owner`'s claim of `instanceUuid` on `host`, a claim a placing step made where the placement did
 * not commit (another attempt of the same step committed elsewhere). By owner: never another flow's claim; a
 * host deregistered meanwhile holds nothing.
 */
export async function releaseStrayClaim(
  stores: Pick<Stores, "hosts">,
  host: string,
  instanceUuid: string,
  owner: string,
): Promise<void> {
  try {
    await stores.hosts.release(host, instanceUuid, { owner });
  } catch (e) {
    if (!(e instanceof HostNotFound)) throw e;
  }
}

/** `candidates` with `preferred` moved first when it is among them (a plan's placement, tried first). */
export function preferring(candidates: Host[], preferred: string | null): Host[] {
  const at = candidates.findIndex((h) => h.name === preferred);
  if (at <= 0) return candidates;
  return [candidates[at]!, ...candidates.filter((_, i) => i !== at)];
}
