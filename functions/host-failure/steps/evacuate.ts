/**
 * Evacuating a host that stopped answering (Masakari's host_failure.py tasks: DisableComputeServiceTask,
 * PrepareHAEnabledInstancesTask, EvacuateInstancesTask): disable the host and mark it down, plan which
 * instances go in which order (gated by the proof of its death: fence.ts), confirm each child evacuation
 * from the records, and end with a report naming every instance left on the host. The children are
 * rebuild executions (recreate=true) started by the machine's Map; this flow never holds an instance's task
 * itself, so none can be left held by it.
 */

import type { z } from "zod";
import { ALERTS } from "#shared/definitions/paging.js";
import { LazarusError } from "#shared/domain/errors.js";
import { placePlan } from "#shared/domain/evacuation-plan.js";
import { gateByProof, howToProveDead } from "#shared/domain/fencing.js";
import {
  confirmEvacuation as confirm,
  type EvacuationReport,
  planEvacuation as plan,
  summarizeEvacuation,
} from "#shared/domain/host-failure.js";
import type { ProofKind } from "#shared/domain/schemas.js";
import { childFailure } from "#shared/flow/child-failure.js";
import { planCandidates } from "#shared/flow/placement.js";
import type { HostFailureDeps } from "#shared/lambda/host-failure-runtime.js";
import { alertBestEffort } from "#shared/notifications/host-alerts.js";
import type { ConfirmInput, EvacuationResult, HostEvacuationState } from "../contract.js";
import { proofOfState } from "./fence.js";

/**
 * enabled := false, status := down, incident -> evacuating: one conditional write. Not forced down: that is
 * proof of death (`Host.deathProof`), which the Fence step records once it has it.
 */
export async function disableHost(
  deps: HostFailureDeps,
  state: HostEvacuationState,
): Promise<HostEvacuationState> {
  await deps.stores.hostIncidents.update(state.host, state.incidentId, "evacuating", {
    service: {
      enabled: false,
      status: "down",
      disabledReason: `host failure (incident ${state.incidentId}): ${state.death?.reason ?? "proven dead"}`,
    },
    summary: { proof: state.death?.reason ?? null },
  });
  if (state.source !== "peer") return state;
  // A peer's report proved the death before the heartbeat alarm fired: the alarm is set to ALARM now, so
  // that the host's return (CloudWatch's own evaluation turning it OK) starts host-recovery as after any
  // alarm. Never fatal: an evacuation does not wait on it; a host back before its alarm could fire then
  // needs the operator's recovery, and the state says why.
  try {
    await deps.hostAlarms.markDead(
      state.host,
      `Lazarus: ${state.host} proven dead (incident ${state.incidentId})`,
    );
    return { ...state, alarmMarked: { ok: true, detail: "heartbeat alarm set to ALARM" } };
  } catch (e) {
    const error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    return { ...state, alarmMarked: { ok: false, detail: `heartbeat alarm not set to ALARM (${error})` } };
  }
}

/**
 * Every round plans every instance whose record still names the host (the by-host index, eventually
 * consistent in AWS, each re-read by key before anything is decided about it): so one that another flow
 * held in an earlier round (`busy`), or that the disk lock refused, is looked at again, and nothing is
 * stranded. An instance whose evacuation failed in an earlier round of this incident (not for want of
 * proof) is not tried again: it is reported. The plan is gated by the host's proof of death
 * (`gateByProof`): an instance without proof is not started elsewhere; its record is marked "fencing
 * required" (fault FencingRequired, `fencingRequired`) and it waits for a later round. Request ids are
 * the round's own (an execution name is never reused). Safe to run again: the plan is a function of the
 * records and the round.
 */
export async function planEvacuation(
  deps: HostFailureDeps,
  state: HostEvacuationState,
): Promise<HostEvacuationState> {
  const round = state.fence?.round ?? 1;
  const previousResults = (state.results ?? []).flat();
  const earlierResults = [...(state.earlierResults ?? []), ...previousResults];
  const lastResults = new Map(earlierResults.map((r) => [r.instanceUuid, r]));
  const gaveUp = (uuid: string) => {
    const r = lastResults.get(uuid);
    return r?.outcome === "failed" && r.error !== "FencingRequired";
  };
  const records = (await deps.stores.instances.readOnHost(state.host)).filter((i) => !gaveUp(i.uuid));
  const seed = round > 1 ? `${state.incidentId}/proof-round-${round}` : state.incidentId;
  const p = plan(state.host, seed, records, deps.config.policy);
  const source = await deps.stores.hosts.require(state.host);
  // Where each instance of this plan lands, placed one after the other as a sequential run would: the
  // children try these first (`plannedHost`), so N concurrent Schedules do not all race for the same host.
  // Among the best candidates of the scheduler's index, enough for this host's instances (never the fleet).
  const hosts = [source, ...(await planCandidates(deps.stores, source, records))];
  const landing = new Map(
    placePlan(state.host, hosts, p, records, {
      now: deps.now(),
      serviceDownSeconds: deps.serviceDownSeconds,
    }).placements.map((pl) => [pl.instanceUuid, pl.target]),
  );
  const proof = proofOfState(state, deps.now());
  const byUuid = new Map(records.map((r) => [r.uuid, r]));
  const tiers: {
    haPriority: number;
    items: (EvacuationItemT & { proof: ProofKind; plannedHost: string | null })[];
  }[] = [];
  const awaitingProof: { instanceUuid: string; name: string; reason: string }[] = [];
  const newlyMarked: { instanceUuid: string; name: string; reason: string }[] = [];
  for (const tier of p.tiers) {
    const gate = gateByProof(
      tier.items,
      proof,
      source,
      (item) => byUuid.get(item.instanceUuid)?.onSharedStorage ?? null,
    );
    for (const w of gate.waiting) {
      awaitingProof.push({ instanceUuid: w.item.instanceUuid, name: w.item.name, reason: w.reason });
      // Marked once per wait (not again each round: the fault history keeps one entry).
      const marked = byUuid.get(w.item.instanceUuid)?.fencingRequired;
      if (marked?.host !== state.host || marked.refusedBy !== null) {
        await markFencingRequired(deps, state, w.item, w.reason);
        newlyMarked.push({ instanceUuid: w.item.instanceUuid, name: w.item.name, reason: w.reason });
      }
    }
    if (gate.ready.length)
      tiers.push({
        haPriority: tier.haPriority,
        items: gate.ready.map((r) => ({
          ...r.item,
          proof: r.proof,
          plannedHost: landing.get(r.item.instanceUuid) ?? null,
        })),
      });
  }
  if (newlyMarked.length > 0) {
    // Paged once per wait, as they are marked: an operator may have the proof Lazarus lacks.
    await alertBestEffort(deps.alerts, {
      kind: ALERTS.fencingRequired,
      hosts: [state.host],
      summary: `${newlyMarked.length} instance(s) of ${state.host} wait "fencing required" (${proof.reason}): ${newlyMarked.map((m) => m.name).join(", ")}`,
      detail: { host: state.host, incidentId: state.incidentId, instances: newlyMarked },
    });
  }
  const busy = p.skipped
    .filter((s) => s.reason === "busy")
    .map((s) => ({ instanceUuid: s.instanceUuid, name: s.name, reason: s.message }));
  return {
    ...state,
    plan: { tiers, skipped: p.skipped, maxConcurrency: deps.config.maxConcurrency },
    awaitingProof,
    busy,
    earlierResults,
    results: [],
  };
}

type EvacuationItemT = ReturnType<typeof plan>["tiers"][number]["items"][number];

/**
 * The instance's record says "fencing required" while it waits for proof (not ERROR: its copy may run on
 * the host). Written only while no flow holds the instance; a record that changed meanwhile is left alone.
 */
async function markFencingRequired(
  deps: HostFailureDeps,
  state: HostEvacuationState,
  item: EvacuationItemT,
  reason: string,
): Promise<void> {
  const now = deps.now().toISOString();
  const fault = {
    code: 409,
    error: "FencingRequired",
    message:
      `Fencing required: ${state.host} is not proven dead, so this instance is not started elsewhere ` +
      `(${reason}). It is evacuated once ${state.host} is fenced (powered off), its watchdog lease ` +
      `expires, or an operator forces it down; the evacuation (incident ${state.incidentId}) looks again ` +
      `every ${deps.fencing.fenceRetrySeconds} s. ${howToProveDead(state.host)}`,
    step: "planEvacuation",
    details: { holder: state.host, refusedBy: null, incidentId: state.incidentId, requestId: item.requestId },
    createdAt: now,
  };
  try {
    await deps.stores.instances.update(item.instanceUuid, {
      expectTaskState: [null],
      set: {
        fault,
        fencingRequired: { host: state.host, refusedBy: null, requestId: item.requestId, since: now },
      },
    });
    await deps.stores.faults.record(item.instanceUuid, fault);
  } catch (e) {
    if (e instanceof LazarusError && (e.name === "UnexpectedTaskState" || e.name === "ConcurrentUpdate"))
      return;
    throw e;
  }
}

export async function confirmEvacuation(
  deps: HostFailureDeps,
  input: z.output<typeof ConfirmInput>,
): Promise<z.output<typeof EvacuationResult>> {
  const now = await deps.stores.instances.require(input.item.instanceUuid);
  const result = confirm(input.sourceHost, input.item, now, input.child ? childFailure(input.child) : null);
  return input.item.proof ? { ...result, proof: input.item.proof } : result;
}

/**
 * The report, recorded on the incident (the host stays disabled until an operator enables it): every
 * instance whose record still names the host is in it (`notEvacuated`, re-read now), and the machine fails
 * the execution with the report (`HostEvacuationIncomplete`) unless the only ones left are the policy's.
 */
export async function reportEvacuation(
  deps: HostFailureDeps,
  state: HostEvacuationState,
): Promise<HostEvacuationState & { report: EvacuationReport & { fence: unknown }; reportText: string }> {
  const results = [...(state.earlierResults ?? []), ...(state.results ?? []).flat()];
  const summarized = summarizeEvacuation(
    state.host,
    state.incidentId,
    { skipped: state.plan?.skipped ?? [] },
    results,
    { awaitingProof: state.awaitingProof ?? [], proof: state.proof?.reason ?? null },
    await deps.stores.instances.readOnHost(state.host),
  );
  // The last power fence: which one, through which delegate, and every answer with its time.
  const attempt = state.fence?.attempt ?? null;
  const fence = attempt
    ? {
        method: attempt.method ?? null,
        delegate: attempt.delegate ?? null,
        outcome: attempt.outcome,
        at: attempt.at,
        detail: attempt.detail,
        rounds: state.fence?.round ?? 1,
        // The last answers (the Fail's cause carries the report; the host's power log keeps them all).
        answers: (attempt.answers ?? []).slice(-10),
      }
    : null;
  const report = { ...summarized, fence };
  await deps.stores.hostIncidents.update(state.host, state.incidentId, "evacuated", {
    summary: {
      proof: state.death?.reason ?? null,
      hostProofKind: state.proof?.proof ?? null,
      evacuated: report.evacuated.length,
      failed: report.failed.length,
      skipped: report.skipped.length,
      notEvacuated: report.notEvacuated.map((n) => `${n.name}: ${n.reason}`),
      failedInstances: report.failed.map((f) => `${f.name}: ${f.error}`),
      fencingRequired: report.fencingRequired.map((f) => f.name),
      hostProof: report.hostProof,
      fence: fence && {
        method: fence.method,
        delegate: fence.delegate,
        outcome: fence.outcome,
        at: fence.at,
        detail: fence.detail,
      },
    },
  });
  if (!report.complete) {
    // The page: the machine fails the execution with the report; an operator finishes what is left.
    const left = [
      ...report.failed.map((f) => `${f.name} (${f.error})`),
      ...report.fencingRequired.map((f) => `${f.name} (fencing required)`),
    ];
    await alertBestEffort(deps.alerts, {
      kind: ALERTS.evacuationIncomplete,
      hosts: [state.host],
      summary: `Host evacuation of ${state.host} incomplete: ${left.length} instance(s) not started elsewhere: ${left.join(", ")}`,
      detail: {
        host: state.host,
        incidentId: state.incidentId,
        failed: report.failed,
        fencingRequired: report.fencingRequired,
        evacuated: report.evacuated.length,
      },
    });
  }
  const { results: _bulk, ...rest } = state;
  return { ...rest, outcome: "evacuated", report, reportText: JSON.stringify(report) };
}
