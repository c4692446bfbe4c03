/**
 * Evacuating a host proven dead (Masakari's host_failure.py tasks: DisableComputeServiceTask, PrepareHAEnabledInstancesTask, EvacuateInstancesTask): disable and
 * force down the host, plan which instances go in which order, confirm each child evacuation from the
 * records, and end with a report. The children are rebuild executions (recreate=true) started by the
 * machine's Map; this flow never holds an instance's task itself, so none can be left held by it.
 */

import type { z } from "zod";
import { LazarusError } from "#shared/domain/errors.js";
import { placePlan } from "#shared/domain/evacuation-plan.js";
import { gateByProof, type HostProof, type ProofKind } from "#shared/domain/fencing.js";
import {
  confirmEvacuation as confirm,
  type EvacuationReport,
  planEvacuation as plan,
  summarizeEvacuation,
} from "#shared/domain/host-failure.js";
import type { Instance } from "#shared/domain/schemas.js";
import { childFailure } from "#shared/flow/child-failure.js";
import type { HostFailureDeps } from "#shared/lambda/host-failure-runtime.js";
import type { ConfirmInput, EvacuationResult, HostEvacuationState } from "../contract.js";

/** enabled := false, forced_down := true, status := down, incident -> evacuating: one conditional write. */
export async function disableHost(
  deps: HostFailureDeps,
  state: HostEvacuationState,
): Promise<HostEvacuationState> {
  await deps.stores.hostIncidents.update(state.host, state.incidentId, "evacuating", {
    service: {
      enabled: false,
      forcedDown: true,
      status: "down",
      disabledReason: `host failure (incident ${state.incidentId}): ${state.death?.reason ?? "proven dead"}`,
    },
    summary: { proof: state.death?.reason ?? null },
  });
  return state;
}

/**
 * The host's instances from the by-host index (eventually consistent in AWS), each re-read by key with a
 * consistent read before anything is decided about it, then gated by the host's proof of death
 * (`gateByProof`): an instance without proof is not started elsewhere; its record is marked "fencing
 * required" (fault FencingRequired, `fencingRequired`) and it waits for a later round. A later round plans
 * only those and the ones a disk lock refused, under request ids of their own (an execution name is never
 * reused). Safe to run again: the plan is a function of records and the round.
 */
export async function planEvacuation(
  deps: HostFailureDeps,
  state: HostEvacuationState,
): Promise<HostEvacuationState> {
  const round = state.fence?.round ?? 1;
  const earlier = round > 1;
  const previousResults = (state.results ?? []).flat();
  const uuids = earlier
    ? [
        ...(state.awaitingProof ?? []).map((a) => a.instanceUuid),
        ...previousResults.filter((r) => r.error === "FencingRequired").map((r) => r.instanceUuid),
      ]
    : (await deps.stores.instances.listByHost(state.host)).map((i) => i.uuid);
  const records = (await Promise.all([...new Set(uuids)].map((u) => deps.stores.instances.get(u)))).filter(
    (i): i is Instance => i !== null,
  );
  const seed = earlier ? `${state.incidentId}/proof-round-${round}` : state.incidentId;
  const p = plan(state.host, seed, records, deps.config.policy);
  const hosts = await deps.stores.hosts.list();
  const source = hosts.find((h) => h.name === state.host) ?? (await deps.stores.hosts.require(state.host));
  // Where each instance of this plan lands, placed one after the other as a sequential run would: the
  // children try these first (`plannedHost`), so N concurrent Schedules do not all race for the same host.
  const landing = new Map(
    placePlan(state.host, hosts, p, records, {
      now: deps.now(),
      serviceDownSeconds: deps.serviceDownSeconds,
    }).placements.map((pl) => [pl.instanceUuid, pl.target]),
  );
  const proof: HostProof = state.proof?.proof
    ? { proof: state.proof.proof, at: state.proof.at ?? deps.now().toISOString(), reason: state.proof.reason }
    : {
        proof: null,
        reason: state.proof?.reason ?? "no fence step ran",
        leaseExpiresAt: state.proof?.leaseExpiresAt ?? null,
      };
  const tiers: {
    haPriority: number;
    items: (EvacuationItemT & { proof: ProofKind; plannedHost: string | null })[];
  }[] = [];
  const awaitingProof: { instanceUuid: string; name: string; reason: string }[] = [];
  for (const tier of p.tiers) {
    const gate = gateByProof(tier.items, proof, source);
    for (const w of gate.waiting) {
      awaitingProof.push({ instanceUuid: w.item.instanceUuid, name: w.item.name, reason: w.reason });
      // Marked once per wait (not again each round: the fault history keeps one entry).
      const marked = records.find((r) => r.uuid === w.item.instanceUuid)?.fencingRequired;
      if (marked?.host !== state.host || marked.refusedBy !== null)
        await markFencingRequired(deps, state, w.item, w.reason);
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
  const skipped = earlier
    ? [...(state.plan?.skipped ?? []), ...p.skipped.filter((s) => s.reason !== "moved")]
    : p.skipped;
  return {
    ...state,
    plan: { tiers, skipped, maxConcurrency: deps.config.maxConcurrency },
    awaitingProof,
    earlierResults: [...(state.earlierResults ?? []), ...previousResults],
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
      `(${reason}). It is evacuated once ${state.host} is fenced (powered off) or its watchdog lease ` +
      `expires; the evacuation (incident ${state.incidentId}) looks again every ` +
      `${deps.fencing.fenceRetrySeconds} s. To move it by hand: power ${state.host} off, then evacuate it.`,
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
 * The report, recorded on the incident (the host stays disabled until an operator enables it). The machine
 * fails the execution with the report when any evacuation failed.
 */
export async function reportEvacuation(
  deps: HostFailureDeps,
  state: HostEvacuationState,
): Promise<HostEvacuationState & { report: EvacuationReport; reportText: string }> {
  const results = [...(state.earlierResults ?? []), ...(state.results ?? []).flat()];
  const report = summarizeEvacuation(
    state.host,
    state.incidentId,
    { skipped: state.plan?.skipped ?? [] },
    results,
    { awaitingProof: state.awaitingProof ?? [], proof: state.proof?.reason ?? null },
  );
  await deps.stores.hostIncidents.update(state.host, state.incidentId, "evacuated", {
    summary: {
      proof: state.death?.reason ?? null,
      evacuated: report.evacuated.length,
      failed: report.failed.length,
      skipped: report.skipped.length,
      failedInstances: report.failed.map((f) => `${f.name}: ${f.error}`),
      fencingRequired: report.fencingRequired.map((f) => f.name),
      hostProof: report.hostProof,
    },
  });
  const { results: _bulk, ...rest } = state;
  return { ...rest, outcome: "evacuated", report, reportText: JSON.stringify(report) };
}
