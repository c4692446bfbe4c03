/**
 * The host-drain machine's steps (issue 32): vSphere's maintenance mode, Proxmox's node maintenance,
 * nova's `host-evacuate-live` / `host-servers-migrate`, for a host that is up. The host is disabled and
 * marked `draining` (never fenced, never forced down), its instances moved away one priority tier at a
 * time through the migrate machine (live where possible, cold otherwise, a bounded number at once), each
 * move confirmed from the records, and the host left in `maintenance` once nothing is left on it
 * (`incomplete` otherwise), with a report per instance. `return` mode brings the instances a drain moved
 * back to their host once it is undrained, where capacity and server groups allow (the scheduler's filters
 * still decide: the host is the request's target, not forced).
 *
 * The machine never holds an instance's task itself: each move is a migrate execution with the rebuild
 * flow's invariants. A host that really fails during the drain is evacuated as any other (its heartbeat
 * alarm; `draining` does not hold it back): what is still on it comes back elsewhere, once.
 */
import type { z } from "zod";
import { RecordedFailure } from "#shared/domain/errors.js";
import { planEvacuation } from "#shared/domain/host-failure.js";
import { drainedState, drainRequestId } from "#shared/domain/maintenance.js";
import type { Instance } from "#shared/domain/schemas.js";
import { childFailure } from "#shared/flow/child-failure.js";
import type {
  ConfirmMoveInput,
  DrainItem,
  DrainResult,
  HostDrainState,
  StartDrainInput,
} from "#shared/flow/drain-contract.js";
import { instancesOn, readDrainPreview } from "#shared/flow/evacuation-preview.js";
import type { MaintenanceDeps } from "#shared/lambda/maintenance-runtime.js";

/** Drain: the host disabled and `draining` (one conditional write; refused while failing or draining). */
export async function startDrain(
  deps: MaintenanceDeps,
  input: z.output<typeof StartDrainInput>,
): Promise<HostDrainState> {
  const { request, executionName } = input;
  if (request.mode === "drain") {
    await deps.stores.hostMaintenance.beginDrain(request.host, {
      executionName,
      reason: request.reason ?? null,
    });
  } else {
    await deps.stores.hosts.require(request.host);
  }
  return {
    host: request.host,
    mode: request.mode,
    reason: request.reason ?? null,
    executionName,
    ...(request.instances ? { instances: request.instances } : {}),
  };
}

/**
 * Which instances move, in which order, and how: a drain's are the host's own (re-read by key), placed by
 * the drain's plan (`previewHostDrain`, the scheduler's own filters and weighers: live where a target
 * takes it); one the plan finds no room for is still tried (its migration's Schedule says why, in the
 * report) and stays where it is. A return's are the ones its request names, back to the host.
 */
export async function planDrain(deps: MaintenanceDeps, state: HostDrainState): Promise<HostDrainState> {
  const records =
    state.mode === "drain"
      ? await instancesOn(deps.stores, state.host)
      : (await Promise.all((state.instances ?? []).map((u) => deps.stores.instances.get(u)))).filter(
          (i): i is Instance => i !== null,
        );
  const itemOf = (i: Instance, live: boolean, plannedHost: string | null): DrainItem => ({
    instanceUuid: i.uuid,
    name: i.name,
    requestId: drainRequestId(state.executionName, i.uuid),
    haPriority: i.haPriority,
    vmState: i.vmState,
    live,
    plannedHost,
    targetHost: state.mode === "return" ? state.host : null,
  });
  const skipped: { instanceUuid: string; name: string; reason: string }[] = [];
  let chosen: DrainItem[];
  if (state.mode === "drain") {
    const preview = await readDrainPreview(
      deps.stores,
      state.host,
      { now: deps.now(), serviceDownSeconds: deps.serviceDownSeconds },
      records,
    );
    const placed = new Map(preview.placements.map((p) => [p.instanceUuid, p]));
    const plan = planEvacuation(state.host, state.executionName, records, "all");
    chosen = plan.tiers.flatMap((t) =>
      t.items.map((item) => {
        const i = records.find((r) => r.uuid === item.instanceUuid)!;
        const p = placed.get(i.uuid);
        return itemOf(i, p ? p.live : i.vmState === "active", p?.target ?? null);
      }),
    );
    for (const s of plan.skipped)
      skipped.push({ instanceUuid: s.instanceUuid, name: s.name, reason: s.message });
  } else {
    chosen = [];
    for (const i of [...records].sort(
      (a, b) => b.haPriority - a.haPriority || a.name.localeCompare(b.name),
    )) {
      if (i.host === state.host)
        skipped.push({ instanceUuid: i.uuid, name: i.name, reason: "already on the host" });
      else if (i.taskState !== null)
        skipped.push({ instanceUuid: i.uuid, name: i.name, reason: `in task_state ${i.taskState}` });
      else if (i.vmState !== "active" && i.vmState !== "stopped")
        skipped.push({ instanceUuid: i.uuid, name: i.name, reason: `in vm_state ${i.vmState}` });
      else chosen.push(itemOf(i, i.vmState === "active", null));
    }
  }
  const priorities = [...new Set(chosen.map((c) => c.haPriority))].sort((a, b) => b - a);
  return {
    ...state,
    plan: {
      tiers: priorities.map((p) => ({ haPriority: p, items: chosen.filter((c) => c.haPriority === p) })),
      skipped,
      maxConcurrency: deps.maintenance.drainMaxConcurrency,
    },
    results: [],
  };
}

/** One move, confirmed from the instance's record: off the drained host (drain) or back on it (return). */
export async function confirmMove(
  deps: MaintenanceDeps,
  input: z.output<typeof ConfirmMoveInput>,
): Promise<DrainResult> {
  const now = await deps.stores.instances.require(input.item.instanceUuid);
  const away = input.mode === "drain" ? now.host !== input.host : now.host === input.host;
  // Moved by this drain: its migration succeeded and the record says so. An instance off the host after
  // its migration failed was moved by something else (a host evacuation after the host failed).
  const moved = away && now.taskState === null && !input.child;
  const failed = input.child ? childFailure(input.child) : null;
  const where = `now on ${now.host}${now.taskState ? ` in task_state ${now.taskState}` : ""}`;
  return {
    instanceUuid: now.uuid,
    name: now.name,
    outcome: moved ? "moved" : "not-moved",
    host: now.host,
    live: input.item.live,
    error: moved ? null : (failed?.error ?? "NotMoved"),
    message: moved ? null : failed ? `${failed.message} (${where})` : where,
  };
}

export interface DrainReport {
  host: string;
  mode: "drain" | "return";
  moved: { name: string; instanceUuid: string; to: string; live: boolean }[];
  notMoved: { name: string; instanceUuid: string; reason: string }[];
  /** Instances still on the drained host (drain). */
  left: string[];
  /** drain: the host's maintenance state now. */
  state: "maintenance" | "incomplete" | null;
  complete: boolean;
}

/**
 * The report, and the host's state: `maintenance` when nothing is left on it, else `incomplete` (the
 * machine then fails with the report, as host evacuation does).
 */
export async function reportDrain(
  deps: MaintenanceDeps,
  state: HostDrainState,
): Promise<HostDrainState & { report: DrainReport; reportText: string }> {
  const results = (state.results ?? []).flat();
  const moved = results
    .filter((r) => r.outcome === "moved")
    .map((r) => ({ name: r.name, instanceUuid: r.instanceUuid, to: r.host, live: r.live }));
  const notMoved = [
    ...results
      .filter((r) => r.outcome === "not-moved")
      .map((r) => ({ name: r.name, instanceUuid: r.instanceUuid, reason: `${r.error}: ${r.message}` })),
    ...(state.plan?.skipped ?? []).filter((s) => s.reason !== "already on the host"),
  ];
  let left: string[] = [];
  let hostState: DrainReport["state"] = null;
  if (state.mode === "drain") {
    left = (await instancesOn(deps.stores, state.host)).map((i) => i.name).sort();
    hostState = drainedState(left.length) as "maintenance" | "incomplete";
    await deps.stores.hostMaintenance.endDrain(state.host, state.executionName, {
      state: hostState,
      moved: moved.map((m) => m.instanceUuid),
    });
  }
  const report: DrainReport = {
    host: state.host,
    mode: state.mode,
    moved,
    notMoved,
    left,
    state: hostState,
    complete: notMoved.length === 0 && left.length === 0,
  };
  const { results: _bulk, ...rest } = state;
  return { ...rest, report, reportText: JSON.stringify(report) };
}

/** A step of the drain itself failed: the host stays disabled, `incomplete`; the original error again. */
export async function abortDrain(deps: MaintenanceDeps, state: HostDrainState): Promise<never> {
  const [step, failure] = Object.entries(state.failure ?? {}).at(-1) ?? ["unknown", { Error: "Unknown" }];
  if (state.mode === "drain" && state.host) {
    await deps.stores.hostMaintenance.endDrain(state.host, state.executionName, {
      state: "incomplete",
      moved: [],
    });
  }
  throw new RecordedFailure(
    failure,
    `host drain of ${state.host} aborted at ${step}: ${failure.Cause ?? failure.Error}`,
  );
}
