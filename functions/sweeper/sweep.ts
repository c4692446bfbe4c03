/**
 * The periodic sweeper (nova's `_init_instance` clean-up of interrupted tasks, run on a timer instead of
 * at service start): it publishes notifications the outbox holds, and ends every rebuild/evacuate task
 * whose owning execution is no longer running (stopped, timed out, failed without reaching its failure
 * path, or unknown). A stopped (ABORTED) or TIMED_OUT execution's task is left for Lambda's maximum after
 * the stop: Step Functions does not wait for the Task invocation in flight, which may still act on hosts. Such a flow's target is cleaned if the host answers (else kept claimed and named in
 * the fault), and the flow is ended as HandleFailure would (shared/flow/end-flow.ts): instance ERROR with
 * a fault, migration `failed`, claims released, bindings back on the instance's host.
 *
 * Migration tasks (live or cold migration, revert) whose execution ended are ended as the migrate machine's
 * HandleFailure ends them: the guest stays where it runs (shared/flow/migration-ending.ts).
 *
 * A boot or a delete whose execution ended is ended by the same code as its machine's failure handler
 * (a boot's host cleaned first). Power tasks (os-stop/os-start, reboot, an instance recovery's restart)
 * are ended too once their owner is gone:
 * the recovery's execution no longer runs, or the API request that took the task is older than the API's
 * own timeout (it can no longer be running). Nothing was half-built, so nothing is ERROR: the task is
 * released and vm_state/power_state are set from what the host says the domain is (left as they were when
 * the host does not answer; the next sync or monitor event tells).
 *
 * What a run reads is bounded by what it looks for, never by the fleet: the held tasks come from a sparse
 * index (instances holding a task, by when they took it), only those older than SWEEP_MIN_AGE_SECONDS (a
 * flow that runs normally ends well within it; an API power task is abandoned after API_TASK_ABANDONED_MS), at most SWEEP_MAX_TASKS a run, oldest first (the rest wait for the next minute), each re-read by key.
 */
import { API_FUNCTIONS } from "#shared/definitions/functions.js";
import { apiTaskAbandonedAfterSeconds } from "#shared/definitions/timeouts.js";
import { errorMessage, UnexpectedTaskState } from "#shared/domain/errors.js";
import type { Instance } from "#shared/domain/schemas.js";
import { BOOT_TASK_STATES, isMigrationTask, isRebuildTask, type TaskState } from "#shared/domain/states.js";
import type { StepDeps } from "#shared/flow/deps.js";
import { cleanBootHost, endBoot } from "#shared/flow/end-boot.js";
import { endDelete } from "#shared/flow/end-delete.js";
import { endFlow, type FlowEndOutcome } from "#shared/flow/end-flow.js";
import { type ExecutionStatus, executionMayAct } from "#shared/flow/executions.js";
import { endMigration, type MigrationEnding, migrationOfTask } from "#shared/flow/migration-ending.js";
import { publishPending } from "#shared/flow/notify.js";
import { cleanTarget } from "#shared/flow/target-cleanup.js";
import { hostTarget } from "#shared/hosts/layout.js";
import { type DomainState, probeDomainState } from "#shared/hosts/probes.js";
import type { InstanceUpdate } from "#shared/store/instances-store.js";

export interface EndedTask {
  instanceUuid: string;
  requestId: string;
  executionStatus: ExecutionStatus;
  uncleanHost: string | null;
  /** A rebuild flow's ending, or a migrate flow's (ended: the guest stays where it runs, as it was). */
  outcome: FlowEndOutcome | MigrationEnding["outcome"];
}

/** A power task released by the sweeper, and what the host said the domain is (null: no answer). */
export interface EndedPowerTask {
  instanceUuid: string;
  requestId: string;
  taskState: TaskState;
  owner: "execution" | "api";
  domain: DomainState | null;
}

export interface SweepReport {
  republished: number;
  endedTasks: EndedTask[];
  endedPowerTasks: EndedPowerTask[];
  /** Tasks whose flow still runs (left alone). */
  running: number;
}

/** Tasks taken by an API request (or a recovery) for one host command: released as they were left. */
const POWER_TASK_STATES: readonly TaskState[] = [
  "powering_on",
  "powering_off",
  "rebooting",
  "rebooting_hard",
];
const isBootTask = (i: Instance) =>
  i.taskState !== null && (BOOT_TASK_STATES as readonly string[]).includes(i.taskState);
const isPowerTask = (i: Instance) => i.taskState !== null && POWER_TASK_STATES.includes(i.taskState);

/**
 * An API request's task older than this can no longer be held by a running request: Lambda has stopped the
 * API function that took it (its timeout, from the same definition the stack deploys it with).
 */
export const API_TASK_ABANDONED_MS = apiTaskAbandonedAfterSeconds(API_FUNCTIONS[0]!) * 1000;

/**
 * A task younger than this is not looked at (its owner is certainly still at it): the age at which an API
 * task is abandoned (shared/definitions/timeouts.ts), so an abandoned one is ended at its first sweep; a
 * flow's task that old is only looked at (DescribeExecution), and left while its execution runs.
 */
export const SWEEP_MIN_AGE_SECONDS = Math.ceil(API_TASK_ABANDONED_MS / 1000);
/** Held tasks looked at per run (each costs a read and, for a flow's task, a DescribeExecution). */
export const SWEEP_MAX_TASKS = 200;

/** The sweeper's name as the ender of a flow (shared/flow/task-ending.ts). */
const SWEEPER_ENDER = "sweeper";

/**
 * The status of a task's execution and whether its steps may still act: running, or stopped (ABORTED) or
 * timed out less than Lambda's maximum ago (shared/flow/executions.ts), since Step Functions does not wait
 * for the invocation in flight when it stops one; such a task is left until then. `since` (the record's
 * last write, no later than the stop) bounds an unknown stop time.
 */
async function ownerMayAct(
  deps: StepDeps,
  executionArn: string | null | undefined,
  since: string,
): Promise<{ status: ExecutionStatus; mayAct: boolean }> {
  if (!executionArn) return { status: "NOT_FOUND", mayAct: false };
  return executionMayAct(deps.executions, executionArn, deps.now(), new Date(since));
}

export async function sweep(deps: StepDeps): Promise<SweepReport> {
  const republished = await publishPending(deps);
  const endedTasks: EndedTask[] = [];
  const endedPowerTasks: EndedPowerTask[] = [];
  let running = 0;
  const before = new Date(deps.now().getTime() - SWEEP_MIN_AGE_SECONDS * 1000).toISOString();
  const held = await deps.stores.instances.heldTasks(before, SWEEP_MAX_TASKS);
  // Re-read by key (the index is eventually consistent, and a flow may have ended the task meanwhile).
  for (const listed of await deps.stores.instances.getMany(held.map((t) => t.uuid))) {
    if (isPowerTask(listed) && listed.taskRequestId) {
      const ended = await endAbandonedPowerTask(deps, listed);
      if (ended) endedPowerTasks.push(ended);
      else running++;
      continue;
    }
    if (isMigrationTask(listed.taskState) && listed.taskRequestId) {
      const ended = await endAbandonedMigration(deps, listed);
      if (ended) endedTasks.push(ended);
      else running++;
      continue;
    }
    const flowTask = isRebuildTask(listed.taskState) || isBootTask(listed) || listed.taskState === "deleting";
    if (!flowTask || !listed.taskRequestId) continue;
    const { status: executionStatus, mayAct } = await ownerMayAct(
      deps,
      listed.taskExecutionArn,
      listed.updatedAt,
    );
    if (mayAct) {
      running++;
      continue;
    }
    const ended = isRebuildTask(listed.taskState)
      ? await endAbandonedTask(deps, listed.uuid, listed.taskRequestId, executionStatus)
      : await endAbandonedBootOrDelete(deps, listed, executionStatus);
    endedTasks.push(ended);
  }
  // A build whose execution died before it placed the instance has no record to hold a task: its build
  // is ended here (claims made by its owner released, the build marked failed with the fault).
  for (const action of await deps.stores.actions.unplacedBuilds()) {
    if (action.build?.status !== "building" || !action.executionArn) continue;
    const { status: executionStatus, mayAct } = await ownerMayAct(
      deps,
      action.executionArn,
      action.updatedAt,
    );
    if (mayAct) {
      running++;
      continue;
    }
    if (await deps.stores.instances.get(action.instanceUuid)) continue; // placed meanwhile: its task says
    const outcome = await endBoot(deps, {
      requestId: action.id,
      build: action.build.spec,
      host: null,
      failure: {
        step: "sweeper",
        error: "FlowEnded",
        message: `the flow's execution ended (${executionStatus}) before it placed the instance`,
      },
      cleanUpFailure: null,
    });
    endedTasks.push({
      instanceUuid: action.instanceUuid,
      requestId: action.id,
      executionStatus,
      uncleanHost: null,
      outcome: outcome === "ended" ? "ended-in-error" : outcome,
    });
  }
  return { republished, endedTasks, endedPowerTasks, running };
}

/**
 * A migrate flow's task whose execution no longer runs: ended as its own HandleFailure would
 * (shared/flow/migration-ending.ts: both hosts asked where the guest is; it stays where it runs). null while
 * the execution runs.
 */
async function endAbandonedMigration(deps: StepDeps, listed: Instance): Promise<EndedTask | null> {
  const { status: executionStatus, mayAct } = await ownerMayAct(
    deps,
    listed.taskExecutionArn,
    listed.updatedAt,
  );
  if (mayAct) return null;
  const instance = await deps.stores.instances.require(listed.uuid);
  const task = await migrationOfTask(deps.stores, instance);
  if (!task) return null;
  const ending = await endMigration(deps, {
    ...task,
    instanceUuid: instance.uuid,
    failure: {
      step: "sweeper",
      error: "FlowEnded",
      message: `the flow's execution ended (${executionStatus}) without finishing its task`,
    },
    touchedHosts: true,
    ender: { by: SWEEPER_ENDER, takeOver: true },
  });
  if (ending.outcome === "held") return null; // a host evacuation is ending it
  return {
    instanceUuid: instance.uuid,
    requestId: task.requestId,
    executionStatus,
    uncleanHost: ending.uncleanHost ?? null,
    outcome: ending.outcome,
  };
}

/** Ends a power task whose owner is gone; null while the owner may still be running. */
async function endAbandonedPowerTask(deps: StepDeps, listed: Instance): Promise<EndedPowerTask | null> {
  const requestId = listed.taskRequestId!;
  const owner = listed.taskExecutionArn ? "execution" : "api";
  if (listed.taskExecutionArn) {
    if ((await ownerMayAct(deps, listed.taskExecutionArn, listed.updatedAt)).mayAct) return null;
  } else if (deps.now().getTime() - Date.parse(listed.updatedAt) < API_TASK_ABANDONED_MS) {
    return null;
  }
  const domain = await probeDomain(deps, listed);
  const set: InstanceUpdate["set"] = {
    taskState: null,
    taskRequestId: null,
    taskExecutionArn: null,
  };
  if (domain === "running") Object.assign(set, { vmState: "active", powerState: "running" });
  else if (domain === "shutdown" || domain === "crashed")
    Object.assign(set, { vmState: "stopped", powerState: domain });
  else if (domain !== null && domain !== "absent") set.powerState = domain;
  try {
    // Conditional on the owner: a request that finished meanwhile has already released the task.
    await deps.stores.instances.update(listed.uuid, { expectTaskRequestId: requestId, set });
  } catch (e) {
    if (e instanceof UnexpectedTaskState) return null;
    throw e;
  }
  return { instanceUuid: listed.uuid, requestId, taskState: listed.taskState!, owner, domain };
}

/** What the host says the domain is; null when there is no answer (no host record, virsh or SSM failed). */
async function probeDomain(deps: StepDeps, instance: Instance): Promise<DomainState | null> {
  const host = await deps.stores.hosts.get(instance.host);
  if (!host) return null;
  try {
    return await probeDomainState(deps.executor, hostTarget(host), instance.uuid, {
      comment: `lazarus sweeper power task ${instance.taskRequestId}`,
    });
  } catch {
    return null; // no answer: leave vm_state as it is
  }
}

/**
 * A boot or a delete whose execution ended without its failure path: ended as its machine's failure
 * handler would (shared/flow/end-boot.ts, end-delete.ts); a boot's host is cleaned first (kept, and named
 * in the fault, when it does not answer).
 */
async function endAbandonedBootOrDelete(
  deps: StepDeps,
  listed: Instance,
  executionStatus: ExecutionStatus,
): Promise<EndedTask> {
  const requestId = listed.taskRequestId!;
  const failure = {
    step: "sweeper",
    error: "FlowEnded",
    message: `the flow's execution ended (${executionStatus}) without finishing its task`,
  };
  if (listed.taskState === "deleting") {
    const outcome = await endDelete(deps, { requestId, instanceUuid: listed.uuid, failure });
    return {
      instanceUuid: listed.uuid,
      requestId,
      executionStatus,
      uncleanHost: null,
      outcome: outcome === "ended" ? "ended-in-error" : "not-owned",
    };
  }
  const build = (await deps.stores.actions.get(requestId))?.build?.spec;
  if (!build) {
    return { instanceUuid: listed.uuid, requestId, executionStatus, uncleanHost: null, outcome: "not-owned" };
  }
  let cleanUpFailure: { step: string; error: string; message: string } | null = null;
  try {
    await cleanBootHost(deps, requestId, build, listed.host);
  } catch (e) {
    cleanUpFailure = {
      step: "cleanUpBoot",
      error: e instanceof Error ? e.name : "Error",
      message: errorMessage(e),
    };
  }
  const outcome = await endBoot(deps, { requestId, build, host: listed.host, failure, cleanUpFailure });
  return {
    instanceUuid: listed.uuid,
    requestId,
    executionStatus,
    uncleanHost: cleanUpFailure ? listed.host : null,
    outcome: outcome === "ended" ? "ended-in-error" : outcome,
  };
}

async function endAbandonedTask(
  deps: StepDeps,
  instanceUuid: string,
  requestId: string,
  executionStatus: ExecutionStatus,
): Promise<EndedTask> {
  // Re-read by key: the flow may have ended the task since it was read.
  const instance = await deps.stores.instances.require(instanceUuid);
  const migration = await deps.stores.migrations.get(requestId);
  const recreate = migration?.type === "evacuation";
  let uncleanHost: string | null = null;
  const target = migration?.destHost;
  if (recreate && target && target !== instance.host && instance.taskRequestId === requestId) {
    const host = await deps.stores.hosts.get(target);
    // Only a host holding this flow's claim can hold a copy (the migration names a host before the claim).
    try {
      if (host?.claims[instanceUuid]?.owner === requestId)
        await cleanTarget(deps, host, instance, { removeInstanceDir: false });
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
