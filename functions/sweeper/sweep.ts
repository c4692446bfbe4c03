/**
 * The periodic sweeper (nova's `_init_instance` clean-up of interrupted tasks, run on a timer instead of
 * at service start): it publishes notifications the outbox holds, and ends every rebuild/evacuate task
 * whose owning execution is no longer running (stopped, timed out, failed without reaching its failure
 * path, or unknown). Such a flow's target is cleaned if the host answers (else kept claimed and named in
 * the fault), and the flow is ended as HandleFailure would (shared/flow/end-flow.ts): instance ERROR with
 * a fault, migration `failed`, claims released, bindings back on the instance's host.
 */
import type { Instance } from "#shared/domain/schemas.js";
import { REBUILD_TASK_STATES } from "#shared/domain/states.js";
import type { StepDeps } from "#shared/flow/deps.js";
import { endFlow, type FlowEndOutcome } from "#shared/flow/end-flow.js";
import type { ExecutionStatus } from "#shared/flow/executions.js";
import { publishPending } from "#shared/flow/notify.js";
import { cleanTarget } from "#shared/flow/target-cleanup.js";

export interface EndedTask {
  instanceUuid: string;
  requestId: string;
  executionStatus: ExecutionStatus;
  uncleanHost: string | null;
  outcome: FlowEndOutcome;
}

export interface SweepReport {
  republished: number;
  endedTasks: EndedTask[];
  /** Tasks whose flow still runs (left alone). */
  running: number;
}

const isRebuildTask = (i: Instance) =>
  i.taskState !== null && (REBUILD_TASK_STATES as readonly string[]).includes(i.taskState);

export async function sweep(deps: StepDeps): Promise<SweepReport> {
  const republished = await publishPending(deps);
  const endedTasks: EndedTask[] = [];
  let running = 0;
  for (const listed of await deps.stores.instances.list()) {
    if (!isRebuildTask(listed) || !listed.taskRequestId) continue;
    const executionStatus = listed.taskExecutionArn
      ? await deps.executions.status(listed.taskExecutionArn)
      : "NOT_FOUND";
    if (executionStatus === "RUNNING") {
      running++;
      continue;
    }
    endedTasks.push(await endAbandonedTask(deps, listed.uuid, listed.taskRequestId, executionStatus));
  }
  return { republished, endedTasks, running };
}

async function endAbandonedTask(
  deps: StepDeps,
  instanceUuid: string,
  requestId: string,
  executionStatus: ExecutionStatus,
): Promise<EndedTask> {
  // Re-read by key: the list is a scan, and the flow may have ended the task meanwhile.
  const instance = await deps.stores.instances.require(instanceUuid);
  const migration = await deps.stores.migrations.get(requestId);
  const recreate = migration?.type === "evacuation";
  let uncleanHost: string | null = null;
  const target = migration?.destHost;
  if (recreate && target && target !== instance.host && instance.taskRequestId === requestId) {
    const host = await deps.stores.hosts.get(target);
    try {
      if (host) await cleanTarget(deps, host, instance, { removeInstanceDir: false });
    } catch {
      uncleanHost = target;
    }
  }
  const outcome = await endFlow(deps, {
    requestId,
    instanceUuid,
    recreate,
    failure: {
      step: "sweeper",
      error: "FlowEnded",
      message: `the flow's execution ended (${executionStatus}) without finishing its task`,
    },
    migrationStatus: "failed",
    uncleanHost,
    keepVmState: false,
    attemptedHosts: migration?.attemptedHosts ?? [],
  });
  return { instanceUuid, requestId, executionStatus, uncleanHost, outcome };
}
