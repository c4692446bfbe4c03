/**
 * Claiming a host for an instance, after the scheduler has filtered and weighed the fleet: the best
 * candidate's claim is tried first, a refused one (the room or the group slot went meanwhile) moves on to
 * the next, and a claim whose host changed since it was weighed (PlacementRaced) weighs the fleet again,
 * so concurrent placements spread as a sequential run would. Shared by the rebuild flow's Schedule
 * (evacuation), the boot flow's ScheduleBoot and the migrate flow's ScheduleMigration.
 */
import { ClaimRefused, NoValidHost, PlacementRaced } from "../domain/errors.js";
import { describeRejections } from "../domain/scheduling.js";
import type { Flavor, Host, ServerGroup } from "../domain/schemas.js";
import type { StepDeps } from "./deps.js";

/** How often a placement is weighed again after racing another one before the step gives up (and is retried). */
const MAX_PLACEMENT_ROUNDS = 40;

export interface ClaimSpec {
  instanceUuid: string;
  resources: Flavor;
  /** The migration or boot request making the claim: a retried claim with the same owner is a no-op. */
  owner: string;
  serverGroup: ServerGroup | null;
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
      try {
        await deps.stores.hosts.claim(host.name, spec, { expectUsage: host.usage });
      } catch (e) {
        if (e instanceof PlacementRaced) {
          raced = true;
          break;
        }
        if (!(e instanceof ClaimRefused)) throw e;
        rejected[host.name] = `claim refused: ${e.message}`;
        continue;
      }
      return host.name;
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
