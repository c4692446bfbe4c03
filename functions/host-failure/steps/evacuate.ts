/**
 * Evacuating a host proven dead (Masakari's host_failure.py tasks: DisableComputeServiceTask, PrepareHAEnabledInstancesTask, EvacuateInstancesTask): disable and
 * force down the host, plan which instances go in which order, confirm each child evacuation from the
 * records, and end with a report. The children are rebuild executions (recreate=true) started by the
 * machine's Map; this flow never holds an instance's task itself, so none can be left held by it.
 */

import type { z } from "zod";
import {
  confirmEvacuation as confirm,
  type EvacuationReport,
  planEvacuation as plan,
  summarizeEvacuation,
} from "#shared/domain/host-failure.js";
import type { Instance } from "#shared/domain/schemas.js";
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
 * consistent read before anything is decided about it. Safe to run again: the plan is a function of records.
 */
export async function planEvacuation(
  deps: HostFailureDeps,
  state: HostEvacuationState,
): Promise<HostEvacuationState> {
  const listed = await deps.stores.instances.listByHost(state.host);
  const records = (await Promise.all(listed.map((i) => deps.stores.instances.get(i.uuid)))).filter(
    (i): i is Instance => i !== null,
  );
  const p = plan(state.host, state.incidentId, records, deps.config.policy);
  return {
    ...state,
    plan: {
      tiers: p.tiers.map((t) => ({
        haPriority: t.haPriority,
        items: t.items,
      })),
      skipped: p.skipped,
      maxConcurrency: deps.config.maxConcurrency,
    },
  };
}

/** Error name and message of a failed child execution, from the Catch's `{Error, Cause}`. */
export function childFailure(child: { Error: string; Cause?: string }): { error: string; message: string } {
  const parse = (text: string | undefined): Record<string, unknown> | null => {
    try {
      const v: unknown = JSON.parse(text ?? "");
      return v && typeof v === "object" ? (v as Record<string, unknown>) : null;
    } catch {
      return null;
    }
  };
  // startExecution.sync:2 failing: Cause is the described child execution, with the child's Error/Cause.
  const described = parse(child.Cause);
  if (described && typeof described.Error === "string") {
    const inner = parse(typeof described.Cause === "string" ? described.Cause : undefined);
    const message =
      inner && typeof inner.errorMessage === "string"
        ? inner.errorMessage
        : String(described.Cause ?? described.Error);
    return { error: described.Error, message };
  }
  return { error: child.Error, message: child.Cause ?? child.Error };
}

export async function confirmEvacuation(
  deps: HostFailureDeps,
  input: z.output<typeof ConfirmInput>,
): Promise<z.output<typeof EvacuationResult>> {
  const now = await deps.stores.instances.require(input.item.instanceUuid);
  return confirm(input.sourceHost, input.item, now, input.child ? childFailure(input.child) : null);
}

/**
 * The report, recorded on the incident (the host stays disabled until an operator enables it). The machine
 * fails the execution with the report when any evacuation failed.
 */
export async function reportEvacuation(
  deps: HostFailureDeps,
  state: HostEvacuationState,
): Promise<HostEvacuationState & { report: EvacuationReport; reportText: string }> {
  const results = (state.results ?? []).flat();
  const report = summarizeEvacuation(
    state.host,
    state.incidentId,
    { skipped: state.plan?.skipped ?? [] },
    results,
  );
  await deps.stores.hostIncidents.update(state.host, state.incidentId, "evacuated", {
    summary: {
      proof: state.death?.reason ?? null,
      evacuated: report.evacuated.length,
      failed: report.failed.length,
      skipped: report.skipped.length,
      failedInstances: report.failed.map((f) => `${f.name}: ${f.error}`),
    },
  });
  const { results: _bulk, ...rest } = state;
  return { ...rest, outcome: "evacuated", report, reportText: JSON.stringify(report) };
}
