/**
 * The scheduler's placement loop, shared by every flow that places an instance on another host (an
 * evacuation's Schedule, a migration's): take the candidates the filters and weighers give, best first,
 * and claim the first that accepts the claim (resources and server group in one conditional write). A
 * claim whose host changed since it was weighed (PlacementRaced) sends the loop back to the filters with
 * fresh records, so concurrent placements spread as a sequential run would.
 */
import { ClaimRefused, NoValidHost, PlacementRaced } from "../domain/errors.js";
import { describeRejections } from "../domain/scheduling.js";
import type { Host, Instance } from "../domain/schemas.js";
import type { StepDeps } from "./deps.js";

/** How often a placement is weighed again after racing another one before the step gives up (and is retried). */
const MAX_PLACEMENT_ROUNDS = 40;

export interface Placement {
  instance: Instance;
  /** The claim's owner (the migration): a retried claim by the same owner is a no-op. */
  owner: string;
  /** Hosts already tried by this flow, named in the NoValidHost fault. */
  attemptedHosts: readonly string[];
  /** The candidates among `hosts`, best first; each host filtered out is named in `rejected` with why. */
  candidates: (hosts: Host[], rejected: Record<string, string>) => Host[];
}

/** Claims the best candidate that accepts the claim and returns its name; NoValidHost when none does. */
export async function claimBestHost(
  deps: Pick<StepDeps, "stores" | "sleep">,
  placement: Placement,
  known?: Host[],
): Promise<string> {
  const { instance } = placement;
  let all = known ?? (await deps.stores.hosts.list());
  for (let round = 1; ; round++) {
    const rejected: Record<string, string> = {};
    let raced = false;
    for (const host of placement.candidates(all, rejected)) {
      try {
        await deps.stores.hosts.claim(
          host.name,
          {
            instanceUuid: instance.uuid,
            resources: instance.flavor,
            owner: placement.owner,
            serverGroup: instance.serverGroup,
          },
          { expectUsage: host.usage },
        );
        return host.name;
      } catch (e) {
        if (e instanceof PlacementRaced) {
          raced = true;
          break;
        }
        if (!(e instanceof ClaimRefused)) throw e;
        rejected[host.name] = `claim refused: ${e.message}`;
      }
    }
    if (!raced || round >= MAX_PLACEMENT_ROUNDS) {
      const reason = describeRejections({ candidates: [], rejected });
      throw new NoValidHost(`No valid host was found. ${reason}`, {
        rejected,
        attemptedHosts: placement.attemptedHosts,
      });
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
