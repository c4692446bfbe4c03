/**
 * Host incidents (the host-failure flow's, one per host record: the open or the last one):
 *  - GET /os-incidents: every host's incident, newest first (status, source, reason, summary).
 *  - GET /os-incidents/{id}: one incident as a timeline (incident-view.ts): its phases, each fence round
 *    with the delegate and the BMC's answers, each instance's evacuation with its proof, the report, and
 *    the Gantt of the execution histories (the parent's and each child rebuild's).
 * An ended execution's history never changes: it is read once per container (keyed by ARN and start, so a
 * name reused by another deployment is read again), which keeps a console's polling of a finished
 * incident to the running executions' reads.
 */
import type { HistoryEvent } from "@aws-sdk/client-sfn";
import type { Host, HostIncident } from "#shared/domain/schemas.js";
import { executionArnOf } from "#shared/flow/executions.js";
import type { ExecutionSummary } from "#shared/lambda/sfn-executions.js";
import { ApiError, json } from "../http.js";
import { type ExecutionRecord, incidentSummaryView, incidentView, plannedItems } from "../incident-view.js";
import type { Route, RouteContext } from "../router.js";
import { echo } from "./params.js";

type HostWithIncident = Host & { incident: HostIncident };

const hasIncident = (h: Host): h is HostWithIncident => h.incident !== null;

async function listIncidents(ctx: RouteContext) {
  const hosts = (await ctx.deps.stores.hosts.list()).filter(hasIncident);
  hosts.sort((a, b) => b.incident.openedAt.localeCompare(a.incident.openedAt));
  return json(200, { incidents: hosts.map(incidentSummaryView) });
}

/** Histories of ended executions, by `<arn>@<start>`; at most ENDED_CACHE_SIZE, the oldest dropped first. */
const endedHistories = new Map<string, HistoryEvent[]>();
const ENDED_CACHE_SIZE = 500;

async function readExecution(ctx: RouteContext, arn: string): Promise<ExecutionRecord | null> {
  const summary: ExecutionSummary | null = await ctx.deps.executions.describe(arn);
  if (!summary) return null;
  const key = `${arn}@${summary.startDate.toISOString()}`;
  const cached = endedHistories.get(key);
  if (cached) return { summary, events: cached };
  const events = await ctx.deps.executions.history(arn);
  if (summary.status !== "RUNNING") {
    endedHistories.set(key, events);
    if (endedHistories.size > ENDED_CACHE_SIZE) endedHistories.delete(endedHistories.keys().next().value!);
  }
  return { summary, events };
}

const IncidentId = /^[A-Za-z0-9_-]{1,80}$/;

async function showIncident(ctx: RouteContext) {
  const id = ctx.params.id!;
  if (!IncidentId.test(id)) throw new ApiError(400, `Invalid incident id ${echo(id)}.`);
  const host = (await ctx.deps.stores.hosts.list()).filter(hasIncident).find((h) => h.incident.id === id);
  if (!host) throw new ApiError(404, `Incident ${echo(id)} could not be found on any host.`);
  const { hostEvacuation, rebuild } = ctx.deps.machines;
  const name = host.incident.executionName;
  const parent =
    hostEvacuation && name ? await readExecution(ctx, executionArnOf(hostEvacuation, name)) : null;
  const children = new Map<string, ExecutionRecord>();
  if (parent && rebuild) {
    const requestIds = [...new Set(plannedItems(parent.events).map((i) => i.requestId))];
    const records = await Promise.all(requestIds.map((r) => readExecution(ctx, executionArnOf(rebuild, r))));
    requestIds.forEach((r, i) => {
      const record = records[i];
      if (record) children.set(r, record);
    });
  }
  return json(200, { incident: incidentView({ host, parent, children }) });
}

export const incidentRoutes: Route[] = [
  { method: "GET", pattern: "/os-incidents", handler: listIncidents },
  { method: "GET", pattern: "/os-incidents/{id}", handler: showIncident },
];
