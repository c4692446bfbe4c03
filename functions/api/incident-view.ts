/**
 * A host incident as an operator reads it, from the host-evacuation execution's history and its children's
 * (one rebuild execution per instance and proof round): the phases in order (heartbeat, grace, probe,
 * mass-failure check, disable, fence with its delegate and answers, plan, evacuations, confirmation,
 * report), each instance's evacuation with the proof it relied on, and the Gantt the benchmark draws
 * (shared/flow/gantt.ts). Pure: records and history events in, the view out. Every step's output is read
 * loosely: a field this view does not know is ignored, one it expects and does not find is left out.
 */
import type { HistoryEvent } from "@aws-sdk/client-sfn";
import { z } from "zod";
import type { Host, HostIncident } from "#shared/domain/schemas.js";
import { barsOf, type GanttMarker, type GanttRow } from "#shared/flow/gantt.js";
import { type ExecutionSummary, parseJson } from "#shared/lambda/sfn-executions.js";
import { stepsFromHistory } from "./execution-steps.js";

/** One execution and what it did. */
export interface ExecutionRecord {
  summary: ExecutionSummary;
  events: readonly HistoryEvent[];
}

const PowerAnswerView = z.looseObject({
  delegate: z.string().nullable().optional(),
  step: z.string(),
  at: z.string(),
  exitCode: z.number().nullable().optional(),
  answer: z.string(),
});

const Item = z.looseObject({
  instanceUuid: z.string(),
  name: z.string(),
  requestId: z.string(),
  haPriority: z.number().optional(),
  proof: z.string().nullable().optional(),
  plannedHost: z.string().nullable().optional(),
});

const Result = z.looseObject({
  instanceUuid: z.string(),
  name: z.string().optional(),
  outcome: z.enum(["evacuated", "failed"]),
  host: z.string().optional(),
  error: z.string().nullable().optional(),
  message: z.string().nullable().optional(),
  proof: z.string().nullable().optional(),
});

/** The fields of the host-evacuation state this view reads (functions/host-failure/contract.ts). */
const StepOutput = z.looseObject({
  heartbeat: z.looseObject({ reason: z.string(), ageSeconds: z.number().nullable().optional() }).optional(),
  death: z.looseObject({ verdict: z.string(), reason: z.string() }).optional(),
  massFailure: z.looseObject({ verdict: z.string(), reason: z.string() }).optional(),
  fence: z
    .looseObject({
      round: z.number(),
      attempt: z
        .looseObject({
          outcome: z.string(),
          at: z.string(),
          detail: z.string(),
          method: z.string().nullable().optional(),
          delegate: z.string().nullable().optional(),
          answers: z.array(PowerAnswerView).optional(),
        })
        .nullable(),
    })
    .optional(),
  proof: z.looseObject({ proof: z.string().nullable(), reason: z.string() }).optional(),
  plan: z
    .looseObject({
      tiers: z.array(z.looseObject({ haPriority: z.number(), items: z.array(Item) })),
      skipped: z.array(z.looseObject({ name: z.string(), reason: z.string() })).optional(),
    })
    .optional(),
  awaitingProof: z.array(z.looseObject({ instanceUuid: z.string(), name: z.string() })).optional(),
  proofLook: z.looseObject({ verdict: z.string(), reason: z.string() }).optional(),
  report: z.looseObject({}).optional(),
});
type StepOutput = z.infer<typeof StepOutput>;

const Report = z.looseObject({
  evacuated: z.array(z.looseObject({ instanceUuid: z.string(), proof: z.string().nullable().optional() })),
  failed: z.array(z.looseObject({ instanceUuid: z.string() })).optional(),
  fencingRequired: z.array(z.looseObject({ instanceUuid: z.string() })).optional(),
  complete: z.boolean().optional(),
});

/** Each state exit of the history with its output read as the host-evacuation state. */
function exits(events: readonly HistoryEvent[]): { name: string; at: string; output: StepOutput | null }[] {
  return events
    .filter((e) => e.type?.endsWith("StateExited"))
    .map((e) => {
      const parsed = StepOutput.safeParse(parseJson(e.stateExitedEventDetails?.output));
      return {
        name: e.stateExitedEventDetails?.name ?? "?",
        at: new Date(e.timestamp ?? 0).toISOString(),
        output: parsed.success ? parsed.data : null,
      };
    });
}

/** The one line an operator needs from each phase's output. */
function phaseDetail(name: string, out: StepOutput | null, waitedSeconds: number | null): string | null {
  if (name === "WaitGracePeriod" || name === "WaitForProof") {
    return waitedSeconds === null ? null : `waited ${waitedSeconds.toFixed(0)} s`;
  }
  if (!out) return null;
  switch (name) {
    case "AssessHeartbeat":
      return out.heartbeat?.reason ?? null;
    case "ProbeHost":
      return out.death ? `${out.death.verdict}: ${out.death.reason}` : null;
    case "CheckMassFailure":
      return out.massFailure ? `${out.massFailure.verdict}: ${out.massFailure.reason}` : null;
    case "DisableHost":
      return "disabled and marked down: the scheduler places nothing there (forced down only once proven dead)";
    case "Fence": {
      const a = out.fence?.attempt;
      if (!a) return out.proof?.reason ?? null;
      return a.detail || `${a.method ?? "fence"}${a.delegate ? ` through ${a.delegate}` : ""}: ${a.outcome}`;
    }
    case "PlanEvacuation": {
      const items = out.plan?.tiers.flatMap((t) => t.items) ?? [];
      const waiting = out.awaitingProof?.length ?? 0;
      return `${items.length} to evacuate${waiting ? `, ${waiting} waiting for proof of death ("fencing required")` : ""}`;
    }
    case "AwaitProof":
      return out.proofLook ? `${out.proofLook.verdict}: ${out.proofLook.reason}` : null;
    default:
      return null;
  }
}

/** The parent's states an operator follows (the Map states are drawn as the instances' rows). */
const HIDDEN_PHASES = new Set([
  "EvacuateByPriority",
  "EvacuateTier",
  "EvacuateInstance",
  "ConfirmEvacuation",
]);

/** Decisions take no time: their bars would only crowd the Gantt's legend. */
const INSTANT_STATES = ["Choice", "Succeed"] as const;

const seconds = (fromIso: string, toIso: string) => (Date.parse(toIso) - Date.parse(fromIso)) / 1000;

export interface IncidentSources {
  host: Host & { incident: HostIncident };
  /** The incident's host-evacuation execution (null: not found, e.g. expired from Step Functions). */
  parent: ExecutionRecord | null;
  /** Each child rebuild execution by its request id (absent: not started yet). */
  children: ReadonlyMap<string, ExecutionRecord>;
}

/** The plan items of every round, in order: each child evacuation the incident started or will start. */
export function plannedItems(events: readonly HistoryEvent[]) {
  const items: (z.infer<typeof Item> & { round: number })[] = [];
  let round = 0;
  for (const x of exits(events)) {
    if (x.name !== "PlanEvacuation" || !x.output?.plan) continue;
    round++;
    for (const tier of x.output.plan.tiers) for (const item of tier.items) items.push({ ...item, round });
  }
  return items;
}

export function incidentSummaryView(host: Host & { incident: HostIncident }) {
  const i = host.incident;
  return {
    id: i.id,
    host: host.name,
    status: i.status,
    source: i.source,
    reason: i.reason,
    opened_at: i.openedAt,
    updated_at: i.updatedAt,
    execution: i.executionName,
    summary: i.summary,
  };
}

export function incidentView(src: IncidentSources) {
  const { host, parent, children } = src;
  const base = incidentSummaryView(host);
  if (!parent) {
    return { ...base, run: null, phases: [], fence: [], instances: [], report: null, gantt: null };
  }
  const origin = parent.summary.startDate.getTime();
  const events = parent.events;
  const stepExits = exits(events);
  const steps = stepsFromHistory(events);

  // Phases: each parent step an operator follows, with its one line.
  let exitIndex = 0;
  const phases = steps
    .filter((s) => s.type !== "Choice" && !HIDDEN_PHASES.has(s.name))
    .map((s) => {
      const exit = stepExits.slice(exitIndex).find((x) => x.name === s.name && x.at === s.exitedAt);
      if (exit) exitIndex = stepExits.indexOf(exit) + 1;
      const waited = s.exitedAt ? seconds(s.enteredAt, s.exitedAt) : null;
      return {
        name: s.name,
        status: s.status,
        entered_at: s.enteredAt,
        exited_at: s.exitedAt,
        detail: s.error ? `${s.error}: ${s.cause ?? ""}` : phaseDetail(s.name, exit?.output ?? null, waited),
      };
    });

  // Every fence round: method, delegate, outcome and the BMC's (or EC2's) answers.
  const fence = stepExits
    .filter((x) => x.name === "Fence" && x.output?.fence)
    .map((x) => {
      const a = x.output!.fence!.attempt;
      return {
        round: x.output!.fence!.round,
        at: x.at,
        outcome: a?.outcome ?? null,
        method: a?.method ?? null,
        delegate: a?.delegate ?? null,
        detail: a?.detail ?? x.output!.proof?.reason ?? null,
        proof: x.output!.proof?.proof ?? null,
        answers: (a?.answers ?? []).map((ans) => ({
          delegate: ans.delegate ?? null,
          step: ans.step,
          at: ans.at,
          exit_code: ans.exitCode ?? null,
          answer: ans.answer,
        })),
      };
    });

  // The report: the execution's output (complete) or its failure's cause (incomplete).
  const ended = parent.summary.status !== "RUNNING";
  const output = parent.summary.output as { report?: unknown } | null;
  const rawReport =
    output && typeof output === "object" && "report" in output
      ? output.report
      : parseJson(parent.summary.cause ?? undefined);
  const parsedReport = ended ? Report.safeParse(rawReport) : null;
  const report = parsedReport?.success ? parsedReport.data : null;
  const reportedProof = new Map((report?.evacuated ?? []).map((e) => [e.instanceUuid, e.proof ?? null]));

  // Confirmations, each instance's last (the Map's ConfirmEvacuation outputs).
  const confirmed = new Map<string, z.infer<typeof Result>>();
  for (const e of events) {
    if (e.type !== "TaskStateExited" || e.stateExitedEventDetails?.name !== "ConfirmEvacuation") continue;
    const r = Result.safeParse(parseJson(e.stateExitedEventDetails.output));
    if (r.success) confirmed.set(r.data.instanceUuid, r.data);
  }

  const items = plannedItems(events);
  const rows: (GanttRow & {
    kind: "incident" | "instance";
    status: string;
    instance_uuid?: string;
    request_id?: string;
  })[] = [
    {
      kind: "incident",
      label: "host-evacuation",
      status: parent.summary.status,
      bars: barsOf(events, origin, { skip: INSTANT_STATES }).filter((b) => !HIDDEN_PHASES.has(b.state)),
    },
  ];
  const rounds = new Map<string, number>();
  for (const it of items) rounds.set(it.instanceUuid, (rounds.get(it.instanceUuid) ?? 0) + 1);
  const instances = items.map((it) => {
    const child = children.get(it.requestId) ?? null;
    const result = confirmed.get(it.instanceUuid);
    const last = items.filter((x) => x.instanceUuid === it.instanceUuid).at(-1) === it;
    const label = (rounds.get(it.instanceUuid) ?? 1) > 1 ? `${it.name} (round ${it.round})` : it.name;
    if (child) {
      rows.push({
        kind: "instance",
        label,
        status: child.summary.status,
        instance_uuid: it.instanceUuid,
        request_id: it.requestId,
        bars: barsOf(child.events, origin, { skip: INSTANT_STATES }),
      });
    }
    const childSteps = child ? stepsFromHistory(child.events) : [];
    return {
      instance_uuid: it.instanceUuid,
      name: it.name,
      request_id: it.requestId,
      round: it.round,
      ha_priority: it.haPriority ?? null,
      planned_host: it.plannedHost ?? null,
      proof: (last ? reportedProof.get(it.instanceUuid) : undefined) ?? it.proof ?? null,
      execution_status: child?.summary.status ?? "NOT_STARTED",
      current_step: child?.summary.status === "RUNNING" ? (childSteps.at(-1)?.name ?? null) : null,
      outcome: last ? (result?.outcome ?? null) : null,
      host: last ? (result?.host ?? null) : null,
      error: child?.summary.error ?? (last ? (result?.error ?? null) : null),
      message: last ? (result?.message ?? null) : null,
    };
  });

  const markers: GanttMarker[] = [];
  const at = (iso: string) => (Date.parse(iso) - origin) / 1000;
  const assess = stepExits.find((x) => x.name === "AssessHeartbeat" && x.output?.heartbeat?.ageSeconds);
  if (assess?.output?.heartbeat?.ageSeconds)
    markers.push({ label: "last heartbeat", at: at(assess.at) - assess.output.heartbeat.ageSeconds });
  const dead = stepExits.find((x) => x.name === "ProbeHost" && x.output?.death?.verdict === "dead");
  if (dead) markers.push({ label: "death proven", at: at(dead.at) });
  const proven = stepExits.find((x) => x.name === "Fence" && x.output?.proof?.proof);
  if (proven) markers.push({ label: `proof: ${proven.output!.proof!.proof}`, at: at(proven.at) });
  if (ended && parent.summary.stopDate)
    markers.push({ label: "report", at: at(parent.summary.stopDate.toISOString()) });

  return {
    ...base,
    run: {
      name: parent.summary.name,
      status: parent.summary.status,
      started_at: parent.summary.startDate.toISOString(),
      stopped_at: parent.summary.stopDate?.toISOString() ?? null,
      error: parent.summary.error,
    },
    phases,
    fence,
    instances,
    report: report ? rawReport : null,
    gantt: { origin: new Date(origin).toISOString(), rows, markers },
  };
}
