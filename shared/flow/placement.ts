/**
 * What the scheduler reads of the fleet: a bounded set of candidate hosts, never the hosts table (nova asks
 * placement for at most `max_placement_results` candidates the same way). The candidates are the schedulable
 * hosts of the instance's zone (and of its shared pool, when its disk must stay there) with the most free
 * RAM, a page at a time from an index (shared/store/host-index.ts), plus the hosts the request names (the
 * requested host, the plan's host) and, for a server group policy that looks at where the other members run,
 * those members' hosts. The index may lag in AWS: the claim that follows is conditional on the host item as
 * the filters saw it (hosts-store.ts `expect`), so a stale candidate is refused, never overcommitted.
 *
 * Claiming a host for an instance, after the scheduler has filtered and weighed the fleet: the best
 * candidate's claim is tried first, a refused one (the room or the group slot went meanwhile) moves on to
 * the next, and a claim whose host changed since it was weighed (PlacementRaced) weighs the fleet again,
 * so concurrent placements spread as a sequential run would. The boot flow's ScheduleBoot and the migrate
 * flow's ScheduleMigration claim this way from the hosts they read (`claimBestHost`); the rebuild flow's
 * Schedule (evacuation) claims page by page from the index, with the same rounds
 * (functions/conductor/steps/schedule.ts).
 */
import { ClaimRefused, NoValidHost, PlacementRaced } from "../domain/errors.js";
import { describeRejections } from "../domain/scheduling.js";
import type { Flavor, Host, Instance, ServerGroup } from "../domain/schemas.js";
import { freeRamMiB } from "../store/host-index.js";
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

/** Pages of the scheduler's index, most free RAM first, until MAX_CANDIDATES were read or none are left. */
export class CandidatePages {
  private start: Record<string, unknown> | undefined;
  private done = false;
  /** Index entries read so far. */
  read = 0;

  constructor(
    private readonly stores: Pick<Stores, "hosts">,
    private readonly scope: PlacementScope,
    private readonly limits: { page: number; max: number } = { page: CANDIDATE_PAGE, max: MAX_CANDIDATES },
  ) {}

  /** Whether another page may hold more candidates. */
  get more(): boolean {
    return !this.done && this.read < this.limits.max;
  }

  /** The next page (empty when there is none), as the index projects the hosts (no claims). */
  async next(): Promise<Host[]> {
    if (!this.more) return [];
    const page = await this.stores.hosts.schedulablePage(this.scope, {
      limit: Math.min(this.limits.page, this.limits.max - this.read),
      ...(this.start ? { start: this.start } : {}),
    });
    this.read += page.hosts.length;
    this.start = page.next;
    if (!page.next) this.done = true;
    return page.hosts;
  }

  /** Why fewer hosts may have been considered than the zone has (for a NoValidHost message). */
  describe(): string {
    const where = this.scope.pool
      ? `pool ${this.scope.pool} of zone ${this.scope.zone}`
      : `zone ${this.scope.zone}`;
    return this.done
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
  instance: Instance,
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
 * One claim on `host` as it was weighed: "claimed"; "raced" when the host changed since (weigh again);
 * "refused" when its room or the group's slot went meanwhile (why, in `rejected`). Other failures throw.
 */
export async function tryClaim(
  stores: Pick<Stores, "hosts">,
  host: string,
  spec: ClaimSpec,
  opts: Parameters<Stores["hosts"]["claim"]>[2],
  rejected: Record<string, string>,
): Promise<"claimed" | "raced" | "refused"> {
  try {
    await stores.hosts.claim(host, spec, opts);
    return "claimed";
  } catch (e) {
    if (e instanceof PlacementRaced) return "raced";
    if (!(e instanceof ClaimRefused)) throw e;
    rejected[host] = `claim refused: ${e.message}`;
    return "refused";
  }
}

/**
 * Claims the first candidate that takes the claim and returns its name; NoValidHost (every host named
 * with why it was refused) when none does. `candidates` filters and weighs the hosts read, best first,
 * and records why each other host was refused.
 */
export async function claimBestHost(
  deps: StepDeps,
  spec: ClaimSpec,
  hosts: Host[],
  candidates: (hosts: Host[], rejected: Record<string, string>) => Host[],
  details: Record<string, unknown> = {},
): Promise<string> {
  let all = hosts;
  for (let round = 1; ; round++) {
    const rejected: Record<string, string> = {};
    let raced = false;
    for (const host of candidates(all, rejected)) {
      const attempt = await tryClaim(deps.stores, host.name, spec, { expectUsage: host.usage }, rejected);
      if (attempt === "claimed") return host.name;
      if (attempt === "raced") {
        raced = true;
        break;
      }
    }
    if (!raced || round >= MAX_PLACEMENT_ROUNDS) {
      const reason = describeRejections({ candidates: [], rejected });
      throw new NoValidHost(`No valid host was found. ${reason}`, { rejected, ...details });
    }
    await deps.sleep(Math.floor(Math.random() * 20));
    all = await deps.stores.hosts.list();
  }
}

/** `candidates` with `preferred` moved first when it is among them (a plan's placement, tried first). */
export function preferring(candidates: Host[], preferred: string | null): Host[] {
  const at = candidates.findIndex((h) => h.name === preferred);
  if (at <= 0) return candidates;
  return [candidates[at]!, ...candidates.filter((_, i) => i !== at)];
}
