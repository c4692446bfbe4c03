/**
 * The local cloud. This part: hosts + SSM (see local/hosts/fleet.ts). DynamoDB and Step Functions
 * are composed in by their own starters.
 */
import { type Fleet, type FleetOptions, startFleet } from "./hosts/fleet.js";

export type LocalHostsOptions = FleetOptions;
export type LocalHosts = Fleet;

/** Starts the SSM endpoint and one LocalHost per spec; `stop()` removes every process, user and folder. */
export function startLocalHosts(opts: LocalHostsOptions): Promise<LocalHosts> {
  return startFleet(opts);
}
