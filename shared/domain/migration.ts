/**
 * The migrate flows' decisions (issue 32), pure: whether an instance's disk lets it move without being
 * copied, the vm_state a guest's power state means, and, after a migrate flow failed at any point, where
 * the guest ends up, from what its two hosts say (`settleMigration`).
 *
 * The rule of a failed migration is the rebuild flow's first invariant, one copy: **a guest that runs stays
 * where it runs; one that runs nowhere goes back to the host its record names** (started again when it
 * ran before), and nothing is started while a host that did not answer may hold a copy.
 */
import type { Host, Instance } from "./schemas.js";
import type { PowerState, VmState } from "./states.js";

/** What a host said of the guest's domain (the domain-state probe), or `unknown`: it did not answer. */
export type GuestSeen = PowerState | "absent" | "unknown";

export type Settlement =
  /** The guest runs on the other host: the move stands (the flow commits there); a leftover at home goes. */
  | { kind: "moved"; removeAtHome: boolean }
  /**
   * The guest stays on (or goes back to) the host its record names: the other host is cleaned; at home it
   * is left as it is (`none`), resumed or started (`start`), or defined from the records (and started when
   * it ran before: `define`).
   */
  | { kind: "home"; cleanAway: boolean; restore: "none" | "start" | "define" }
  /**
   * The other host did not answer: a copy may be there, so it keeps its claim (TargetNotClean) and nothing
   * is started at home; `homeRuns`: the guest runs at home all the same.
   */
  | { kind: "unclean-away"; homeRuns: boolean }
  /** The record's host did not answer (it may be dead): nothing is done there; the other host is cleaned. */
  | { kind: "home-unreachable"; cleanAway: boolean };

const defined = (s: GuestSeen) => s !== "absent" && s !== "unknown";

/**
 * Where the guest of a failed migrate flow ends up. `home`: the host the instance record names (the
 * source of a migration, the target of the migration a revert undoes); `away`: the other one.
 * `ranBefore`: the guest ran when the flow took it (so it is started again where it stays).
 */
export function settleMigration(seen: { home: GuestSeen; away: GuestSeen }, ranBefore: boolean): Settlement {
  const { home, away } = seen;
  if (away === "running" && home !== "running") return { kind: "moved", removeAtHome: defined(home) };
  if (home === "running" || home === "paused") {
    if (away === "unknown") return { kind: "unclean-away", homeRuns: true };
    return {
      kind: "home",
      cleanAway: defined(away),
      restore: home === "paused" && ranBefore ? "start" : "none",
    };
  }
  if (home === "unknown") return { kind: "home-unreachable", cleanAway: defined(away) };
  if (away === "unknown") return { kind: "unclean-away", homeRuns: false };
  return {
    kind: "home",
    cleanAway: defined(away),
    restore: home === "absent" ? "define" : ranBefore ? "start" : "none",
  };
}

/**
 * Why an instance's disk cannot move without being copied (null: it can): a migration reuses the disk
 * where it is, so it must be on a shared pool (block migration is not supported).
 */
export function unmovableDisk(instance: Pick<Instance, "onSharedStorage">, source: Host): string | null {
  if (source.storage.sharedPoolId !== null && instance.onSharedStorage !== false) return null;
  return `its disk is on ${source.name}'s local storage: a migration moves only disks on a shared pool (block migration is not supported)`;
}

/** The vm_state a guest's power state means once it has moved (a confirm, a revert): ACTIVE if it runs. */
export function vmStateOfPower(powerState: PowerState): VmState {
  return powerState === "running" || powerState === "paused" ? "active" : "stopped";
}

/** Whether a guest in this vm_state migrates live (nova: ACTIVE, PAUSED) or cold (ACTIVE, STOPPED). */
export function migratableVmStates(live: boolean): readonly VmState[] {
  return live ? ["active", "paused"] : ["active", "stopped"];
}
