/**
 * Where every failed path of the migrate machine ends: the guest on exactly one host, running (or STOPPED)
 * as it was, no task held, no leaked claim, bindings on the instance's host (shared/flow/migration-ending.ts).
 * Like the rebuild flow's HandleFailure it returns the error instead of throwing it: the machine fails the
 * execution with it (a Fail state), or succeeds when the move turned out to have happened.
 */
import type { StepDeps } from "#shared/flow/deps.js";
import { describeFailure } from "#shared/flow/flow-state.js";
import {
  type FailedMigration,
  MIGRATE_STEPS_BEFORE_HOSTS,
  type MigrateFailureKey,
} from "#shared/flow/migration-contract.js";
import { endMigration } from "#shared/flow/migration-ending.js";

export interface HandledMigrationFailure {
  /** finished: the guest had moved, the move stands (the execution succeeds); failed: the Fail state. */
  outcome: "failed" | "finished";
  error: string;
  cause: string;
}

export async function handleMigrationFailure(
  deps: StepDeps,
  state: FailedMigration,
): Promise<HandledMigrationFailure> {
  const failure = describeFailure(state);
  const base = { error: failure.error, cause: failure.message };
  if (!state.requestId || !state.instanceUuid || !state.operation || !state.migrationId) {
    return { outcome: "failed", ...base };
  }
  const ending = await endMigration(deps, {
    requestId: state.requestId,
    instanceUuid: state.instanceUuid,
    operation: state.operation,
    migrationId: state.migrationId,
    failure,
    touchedHosts: !MIGRATE_STEPS_BEFORE_HOSTS.includes(failure.step as MigrateFailureKey),
    attemptedHosts: state.attemptedHosts ?? [],
    // Its own flow never takes the ending from a host evacuation or the sweeper: they end it instead.
    ender: { by: state.executionArn ?? `flow:${state.requestId}`, takeOver: false },
  });
  if (ending.outcome === "finished") return { outcome: "finished", ...base };
  if (ending.outcome === "held") {
    return {
      outcome: "failed",
      ...base,
      cause: `${failure.message}; the flow is being ended by ${ending.heldBy}`,
    };
  }
  if (ending.uncleanHost) {
    return {
      outcome: "failed",
      error: "TargetNotClean",
      cause: `${failure.message}; then ${ending.uncleanHost} could not be proven clean: it keeps its claim`,
    };
  }
  return { outcome: "failed", ...base };
}
