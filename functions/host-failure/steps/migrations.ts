/**
 * Migrations away from a host proven dead (issue 32): a drain (or any migration) was moving instances off
 * the host when it failed. Their migrate flows hold the instances' tasks, so the evacuation would skip
 * them as busy, and their own steps may wait on the dead host for as long as a live migration may take.
 * Once the host's death is proven (power off, or its lease expired: it runs nothing), each such flow is
 * ended here as its own failure handler would end it (shared/flow/migration-ending.ts): the target asked
 * where the guest is: running there, the move stands (committed, not evacuated); otherwise the task is
 * released and the instance stays on the dead host's record in its vm_state, for this evacuation to
 * plan. Without proof nothing is done here: the guest may still run, or still be on its way.
 * The flow itself, if it still runs, then finds the task no longer its own and ends with nothing to do.
 *
 * A flow whose own failure handler is already ending it (shared/flow/task-ending.ts) is left to it while
 * its execution runs: the plan skips the instance as busy and the next round looks at it again, by then
 * released (or its ending taken over here, that execution having ended).
 */
import { executionArnOf } from "#shared/flow/executions.js";
import { endMigration, migrationOfTask } from "#shared/flow/migration-ending.js";
import type { HostFailureDeps } from "#shared/lambda/host-failure-runtime.js";
import type { HostEvacuationState } from "../contract.js";

export async function endMigrationsFromHost(
  deps: HostFailureDeps,
  state: HostEvacuationState,
): Promise<HostEvacuationState> {
  if (!state.proof?.proof) return state;
  // This execution ends them (a state without its name, from before it was carried: the incident's).
  const by = state.executionName
    ? executionArnOf(deps.machines.hostEvacuation, state.executionName)
    : `host-evacuation:${state.incidentId}`;
  for (const listed of await deps.stores.instances.listByHost(state.host)) {
    const instance = await deps.stores.instances.get(listed.uuid);
    if (!instance || instance.host !== state.host) continue;
    const task = await migrationOfTask(deps.stores, instance);
    if (!task) continue;
    await endMigration(deps, {
      ...task,
      instanceUuid: instance.uuid,
      failure: {
        step: "hostFailure",
        error: "HostFailed",
        message: `host ${state.host} failed during the migration (incident ${state.incidentId}: ${state.proof.reason})`,
      },
      touchedHosts: true,
      ender: { by, takeOver: true },
    });
  }
  return state;
}
