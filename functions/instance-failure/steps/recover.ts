/**
 * The instance-recovery machine's steps after OpenRecovery: one probe of the domain, the policy's
 * decision, a restart in place (nova's `start`: task powering_on), the relocation's source-side removal and
 * its confirmation, and the two ends (gave up: ERROR with a fault that says what was tried; the flow
 * itself failed: our task released, a domain-less instance never left ACTIVE).
 */
import { ALERTS } from "#shared/definitions/paging.js";
import {
  errorMessage,
  HostCommandTimedOut,
  HostUnreachable,
  InvalidInput,
  ProbeFailed,
  SpawnFailed,
} from "#shared/domain/errors.js";
import {
  decideRecovery,
  givenUpMessage,
  HOST_RESET,
  instanceHaPolicy,
  relocationRequestId,
} from "#shared/domain/instance-failure.js";
import type { Instance, Recovery, RecoveryAttempt } from "#shared/domain/schemas.js";
import type { AbortedFlow } from "#shared/flow/flow-state.js";
import { notifyFlow } from "#shared/flow/notify.js";
import { hostTarget } from "#shared/hosts/layout.js";
import { probeDomainState } from "#shared/hosts/probes.js";
import { removeDomain, startDomain } from "#shared/hosts/virsh.js";
import type { InstanceFailureDeps } from "#shared/lambda/instance-failure-runtime.js";
import { alertBestEffort } from "#shared/notifications/host-alerts.js";
import type { InstanceRecoveryState } from "../contract.js";

type State = InstanceRecoveryState;

async function sourceTarget(deps: InstanceFailureDeps, state: State) {
  return hostTarget(await deps.stores.hosts.require(state.report.host));
}

/**
 * What the host says of the domain: running (paused counts: it is not down) / stopped / absent, or unknown
 * when the host does not answer. virsh failing on a host that answers is ProbeFailed (thrown).
 */
async function probeState(deps: InstanceFailureDeps, state: State): Promise<NonNullable<State["domain"]>> {
  const target = await sourceTarget(deps, state);
  try {
    const domain = await probeDomainState(deps.executor, target, state.report.instanceUuid, {
      comment: `lazarus instance recovery probe ${state.recoveryId}`,
      deadlineMs: deps.probeDeadlineMs,
    });
    if (domain === "absent") return "absent";
    return domain === "running" || domain === "paused" ? "running" : "stopped";
  } catch (e) {
    if (e instanceof HostUnreachable || e instanceof HostCommandTimedOut) return "unknown";
    throw e;
  }
}

/** ProbeDomain: is the domain really not running? Running again or host silent: nothing for us to do. */
export async function probeDomain(deps: InstanceFailureDeps, state: State): Promise<State> {
  const domain = await probeState(deps, state);
  if (domain === "running" || domain === "unknown") {
    const message =
      domain === "running"
        ? "the domain runs again: nothing to recover"
        : `host ${state.report.host} did not answer the probe: left to the host-failure flow`;
    await deps.stores.recoveries.update(state.recoveryId, () => ({
      status: domain === "running" ? "not-needed" : "ignored",
      message,
    }));
    return { ...state, domain, message };
  }
  return { ...state, domain };
}

/**
 * Attempts of the instance's other recoveries (the window's budget), and this one's. A reset host's
 * recoveries spend no budget (the host failed, not the guest): their attempts are left out of it.
 */
async function history(deps: InstanceFailureDeps, state: State) {
  const all = await deps.stores.recoveries.listByInstance(state.report.instanceUuid);
  const current =
    all.find((r) => r.id === state.recoveryId) ?? (await deps.stores.recoveries.require(state.recoveryId));
  const others = all
    .filter((r) => r.id !== state.recoveryId && r.reason !== HOST_RESET)
    .flatMap((r) => r.attempts);
  return { current, others };
}

/** Decide: restart in place, relocate, or give up (shared/domain/instance-failure.ts). */
export async function decide(deps: InstanceFailureDeps, state: State): Promise<State> {
  const instance = await deps.stores.instances.require(state.report.instanceUuid);
  const host = await deps.stores.hosts.require(state.report.host);
  const { current, others } = await history(deps, state);
  const decision = decideRecovery({
    policy: instanceHaPolicy(instance),
    host: state.report.host,
    attempts: others,
    current: current.attempts,
    sharedStorage: host.storage.sharedPoolId !== null,
    now: deps.now(),
    windowSeconds: deps.config.windowSeconds,
    hostReset: state.report.reason === HOST_RESET,
  });
  return { ...state, decision, attempts: current.attempts };
}

async function recordAttempt(
  deps: InstanceFailureDeps,
  id: string,
  attempt: RecoveryAttempt,
  patch: Partial<Recovery> = {},
) {
  return deps.stores.recoveries.update(id, (r) => ({
    ...patch,
    // Idempotent: a retried step does not count its attempt twice.
    attempts: r.attempts.some((a) => a.action === attempt.action && a.at === attempt.at)
      ? r.attempts
      : [...r.attempts, attempt],
  }));
}

/**
 * Restart: nova's `start` of the instance on its own host. The task (powering_on, owned by this recovery)
 * is taken first, so a stop event this start might cause is not taken for a new crash, and released after.
 * A start that fails is recorded as a failed attempt (the next decision relocates), not thrown.
 */
export async function restart(deps: InstanceFailureDeps, state: State): Promise<State> {
  const uuid = state.report.instanceUuid;
  const at = deps.now().toISOString();
  const instance = await deps.stores.instances.require(uuid);
  if (instance.taskRequestId !== state.recoveryId) {
    if (instance.host !== state.report.host)
      throw new ProbeFailed(`instance ${uuid} moved to ${instance.host} meanwhile`);
    await deps.stores.instances.update(uuid, {
      expectTaskState: [null],
      expectVmState: ["active"],
      expectVersion: instance.version,
      set: {
        taskState: "powering_on",
        taskRequestId: state.recoveryId,
        taskExecutionArn: state.executionArn,
      },
    });
  }
  // With the task held no evacuation can take the instance; a host proven dead meanwhile (a recorded proof
  // admits evacuations of its instances) gets no restart: the task goes back and the flow aborts.
  const source = await deps.stores.hosts.require(state.report.host);
  if (source.deathProof) {
    await deps.stores.instances.update(uuid, {
      expectTaskRequestId: state.recoveryId,
      set: { taskState: null, taskRequestId: null, taskExecutionArn: null },
    });
    throw new ProbeFailed(
      `${source.name} was proven dead meanwhile (${source.deathProof.kind}): no restart of ${uuid} there`,
      { host: source.name },
    );
  }
  const flow = { requestId: state.recoveryId, instanceUuid: uuid };
  await notifyFlow(deps, flow, "instance.power_on.start", {
    host: state.report.host,
    reason: "instance recovery",
  });
  const target = hostTarget(source);
  let error: string | null = null;
  let power: Instance["powerState"] = "shutdown";
  try {
    await deps.executor.run(target, startDomain(uuid), {
      comment: `lazarus instance recovery restart ${state.recoveryId}`,
      executionTimeoutSeconds: 60,
    });
    const after = await probeState(deps, state);
    if (after !== "running")
      throw new SpawnFailed(`after virsh start the domain is ${after}`, { host: state.report.host });
    power = "running";
  } catch (e) {
    error = `${e instanceof Error ? e.name : "Error"}: ${errorMessage(e)}`;
  }
  await deps.stores.instances.update(uuid, {
    expectTaskRequestId: state.recoveryId,
    set: { taskState: null, taskRequestId: null, taskExecutionArn: null, powerState: power },
  });
  const outcome = error === null ? "succeeded" : "failed";
  await recordAttempt(
    deps,
    state.recoveryId,
    { action: "restart", host: state.report.host, at, outcome, error },
    error === null ? { status: "restarted", message: `restarted on ${state.report.host}` } : {},
  );
  await notifyFlow(deps, flow, error === null ? "instance.power_on.end" : "instance.power_on.error", {
    host: state.report.host,
    reason: "instance recovery",
    ...(error ? { error } : {}),
  });
  return { ...state, restart: outcome };
}

/**
 * PrepareRelocation: the domain is destroyed and undefined on the live source (its disk stays: on shared
 * storage the target uses it), then proven gone by a probe; the proof, naming the child request, is
 * written on the recovery record, where the rebuild machine's Accept reads it (`relocateFromLiveHost`).
 */
export async function prepareRelocation(deps: InstanceFailureDeps, state: State): Promise<State> {
  const uuid = state.report.instanceUuid;
  const instance = await deps.stores.instances.require(uuid);
  if (instance.host !== state.report.host || instance.taskState !== null || instance.vmState !== "active") {
    throw new ProbeFailed(
      `instance ${uuid} changed meanwhile (host ${instance.host}, task ${instance.taskState}, vm_state ${instance.vmState}): not relocating`,
    );
  }
  const target = await sourceTarget(deps, state);
  await deps.executor.run(target, removeDomain(uuid), {
    comment: `lazarus instance recovery remove from source ${state.recoveryId}`,
    executionTimeoutSeconds: 60,
  });
  // ProbeFailed when virsh cannot answer: never read as gone.
  const left = await probeDomainState(deps.executor, target, uuid, {
    comment: `lazarus instance recovery prove gone ${state.recoveryId}`,
  });
  if (left !== "absent") {
    throw new ProbeFailed(`the domain of ${uuid} is not proven gone from ${target.name} (it is ${left})`);
  }
  const requestId = relocationRequestId(state.recoveryId);
  await deps.stores.recoveries.update(state.recoveryId, () => ({
    status: "relocating",
    relocation: { requestId, sourceHost: target.name, sourceRemovedAt: deps.now().toISOString() },
  }));
  return { ...state, relocation: { requestId, sourceHost: target.name } };
}

/** ConfirmRelocation: re-read: on another host, no task, ACTIVE = relocated; else the child's error. */
export async function confirmRelocation(deps: InstanceFailureDeps, state: State): Promise<State> {
  if (!state.relocation)
    throw new InvalidInput("confirmRelocation needs the relocation", { recoveryId: state.recoveryId });
  const instance = await deps.stores.instances.require(state.report.instanceUuid);
  const relocated =
    instance.host !== state.relocation.sourceHost &&
    instance.taskState === null &&
    instance.vmState === "active";
  const error = relocated
    ? null
    : state.child
      ? `${state.child.Error}: ${state.child.Cause ?? ""}`.slice(0, 500)
      : `instance is ${instance.vmState} on ${instance.host}`;
  await recordAttempt(
    deps,
    state.recoveryId,
    {
      action: "relocate",
      host: relocated ? instance.host : state.relocation.sourceHost,
      at: deps.now().toISOString(),
      outcome: relocated ? "succeeded" : "failed",
      error,
    },
    relocated
      ? { status: "relocated", message: `relocated from ${state.relocation.sourceHost} to ${instance.host}` }
      : {},
  );
  if (relocated) {
    // The source is up and already clean (PrepareRelocation proved the domain gone): what a returning
    // host's recovery does after an evacuation is done here at once: the instance's old claim there
    // released, the migration completed.
    const source = await deps.stores.hosts.require(state.relocation.sourceHost);
    const claim = source.claims[instance.uuid];
    if (claim) await deps.stores.hosts.release(source.name, instance.uuid, { owner: claim.owner });
    const migration = await deps.stores.migrations.get(state.relocation.requestId);
    if (migration?.status === "done") await deps.stores.migrations.transition(migration.id, "completed");
  }
  return {
    ...state,
    relocated,
    ...(relocated
      ? {}
      : { decision: { action: "error" as const, reason: `the relocation failed: ${error}` } }),
  };
}

/** The instance goes to ERROR with a fault that says what was tried (nova's fault record). */
async function setError(
  deps: InstanceFailureDeps,
  uuid: string,
  step: string,
  error: string,
  message: string,
) {
  const fault = await deps.stores.faults.record(uuid, { code: 500, error, message, step, details: {} });
  const instance = await deps.stores.instances.require(uuid);
  if (instance.taskState !== null) return; // another flow owns it now: its own end decides its state
  await deps.stores.instances.update(uuid, { expectTaskState: [null], set: { vmState: "error", fault } });
}

/** GiveUp: ERROR, fault and record say what was tried; the execution then fails with that message. */
export async function giveUp(deps: InstanceFailureDeps, state: State): Promise<State> {
  const recovery = await deps.stores.recoveries.require(state.recoveryId);
  const { current, others } = await history(deps, state);
  const message = givenUpMessage(
    state.decision?.reason ?? "no recovery possible",
    [...others, ...current.attempts].filter(
      (a) => Date.parse(a.at) >= Date.parse(recovery.detectedAt) - deps.config.windowSeconds * 1000,
    ),
  );
  await setError(deps, state.report.instanceUuid, "instance-recovery", "InstanceRecoveryFailed", message);
  await deps.stores.recoveries.update(state.recoveryId, () => ({ status: "failed", message }));
  const instance = await deps.stores.instances.get(state.report.instanceUuid);
  // The instance is in ERROR whatever the page's fate: the flow ends as it would.
  await alertBestEffort(deps.alerts, {
    kind: ALERTS.recoveryGivenUp,
    hosts: [state.report.host],
    summary: `Instance ${instance?.name ?? state.report.instanceUuid} on ${state.report.host} kept crashing; recovery gave up, it is in ERROR`,
    detail: {
      host: state.report.host,
      instanceUuid: state.report.instanceUuid,
      name: instance?.name ?? null,
      recoveryId: state.recoveryId,
      message,
    },
  });
  return { ...state, message };
}

/**
 * Abort: the flow itself failed. Our restart task is released; an instance whose domain this recovery
 * removed from the source but that did not move is set to ERROR (never ACTIVE without a domain); the
 * record says failed. The original error is returned for the machine's Fail state (not raised: see
 * abortIncident).
 */
export async function abortRecovery(deps: InstanceFailureDeps, state: State): Promise<AbortedFlow> {
  const [step, failure] = Object.entries(state.failure ?? {}).at(-1) ?? ["unknown", { Error: "Unknown" }];
  const uuid = state.report.instanceUuid;
  const message =
    `instance recovery ${state.recoveryId} failed at ${step}: ${failure.Error}: ${failure.Cause ?? ""}`.slice(
      0,
      1000,
    );
  const instance = await deps.stores.instances.get(uuid);
  if (instance && instance.taskRequestId === state.recoveryId) {
    await deps.stores.instances.update(uuid, {
      expectTaskRequestId: state.recoveryId,
      set: { taskState: null, taskRequestId: null, taskExecutionArn: null },
    });
  }
  const recovery = await deps.stores.recoveries.get(state.recoveryId);
  if (
    recovery?.relocation &&
    instance &&
    instance.host === recovery.relocation.sourceHost &&
    instance.vmState !== "error"
  ) {
    await setError(
      deps,
      uuid,
      step,
      failure.Error,
      `${message} (its domain was removed from ${recovery.relocation.sourceHost}; evacuate it by hand)`,
    );
  }
  if (recovery) await deps.stores.recoveries.update(state.recoveryId, () => ({ status: "failed", message }));
  return { error: failure.Error, cause: message };
}
