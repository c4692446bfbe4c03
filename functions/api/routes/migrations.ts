/**
 * GET /os-migrations (nova's, filtered by instance, host, status, type) and the per-server action log
 * `/servers/{id}/os-instance-actions` (what `openstack server event list` reads), derived from the
 * migration records: one per rebuild or evacuation. An action's events are its execution's steps.
 * Restarts in place by the instance-recovery flow (table `recoveries`) are listed as nova lists a start
 * (action `start`, event `compute_start_instance`); its relocations are evacuations, with their migration.
 */
import { z } from "zod";
import type {
  InstanceAction,
  InstanceActionEvent,
  Migration,
  Recovery,
  RecoveryAttempt,
} from "#shared/domain/schemas.js";
import { MigrationStatusSchema, MigrationTypeSchema } from "#shared/domain/schemas.js";
import { ResourceName, Uuid } from "#shared/domain/values.js";
import { executionArnOf } from "#shared/flow/executions.js";
import { causeMessage } from "#shared/flow/flow-state.js";
import { stepsFromHistory } from "../execution-steps.js";
import { ApiError, json } from "../http.js";
import { atLeast } from "../microversion.js";
import type { Route, RouteContext } from "../router.js";
import { migrationView, novaDbTime, proofView } from "../views.js";
import { echo, serverId } from "./params.js";

async function listMigrations(ctx: RouteContext) {
  const instanceUuid = ctx.query("instance_uuid", Uuid);
  const host = ctx.query("host", ResourceName);
  const sourceCompute = ctx.query("source_compute", ResourceName);
  const status = ctx.query("status", MigrationStatusSchema);
  const type = ctx.query("migration_type", MigrationTypeSchema);
  const limit = ctx.query("limit", z.coerce.number().int().min(0).max(1000));
  const { migrations } = ctx.deps.stores;
  let all = instanceUuid ? await migrations.listByInstance(instanceUuid) : await migrations.list();
  if (host) all = all.filter((m) => m.sourceHost === host || m.destHost === host);
  if (sourceCompute) all = all.filter((m) => m.sourceHost === sourceCompute);
  if (status) all = all.filter((m) => m.status === status);
  if (type) all = all.filter((m) => m.type === type);
  all.sort((a, b) => b.createdAt.localeCompare(a.createdAt) || a.id.localeCompare(b.id));
  if (limit !== undefined) all = all.slice(0, limit);
  return json(200, { migrations: all.map((m) => migrationView(m, ctx.view)) });
}

function actionView(m: Migration, ctx: RouteContext) {
  const view: Record<string, unknown> = {
    action: m.type === "evacuation" ? "evacuate" : "rebuild",
    instance_uuid: m.instanceUuid,
    request_id: `req-${m.id}`,
    user_id: "lazarus",
    project_id: "lazarus",
    start_time: novaDbTime(m.createdAt),
    message: m.status === "failed" || m.status === "error" ? "Error" : null,
    "lazarus:proof": proofView(m),
  };
  if (atLeast(ctx.mv, "2.58")) view.updated_at = novaDbTime(m.updatedAt);
  return view;
}

async function instanceMigrations(ctx: RouteContext): Promise<Migration[]> {
  const id = serverId(ctx);
  if (!(await ctx.deps.stores.instances.get(id)))
    throw new ApiError(404, `Instance ${id} could not be found.`);
  return ctx.deps.stores.migrations.listByInstance(id);
}

/** The restarts of an instance's recoveries, each with its recovery (its request id). */
async function restarts(ctx: RouteContext): Promise<{ recovery: Recovery; attempt: RecoveryAttempt }[]> {
  const recoveries = await ctx.deps.stores.recoveries.listByInstance(serverId(ctx));
  return recoveries.flatMap((recovery) =>
    recovery.attempts.filter((a) => a.action === "restart").map((attempt) => ({ recovery, attempt })),
  );
}

function restartView(r: { recovery: Recovery; attempt: RecoveryAttempt }, ctx: RouteContext) {
  const view: Record<string, unknown> = {
    action: "start",
    instance_uuid: r.recovery.instanceUuid,
    request_id: `req-${r.recovery.id}`,
    user_id: "lazarus",
    project_id: "lazarus",
    start_time: novaDbTime(r.attempt.at),
    message: r.attempt.outcome === "failed" ? "Error" : null,
  };
  if (atLeast(ctx.mv, "2.58")) view.updated_at = novaDbTime(r.recovery.updatedAt);
  return view;
}

/** The action log's own records (create, delete, reboot, ...; and notes on migrations by request id). */
async function actionRecords(ctx: RouteContext): Promise<InstanceAction[]> {
  return ctx.deps.stores.actions.listByInstance(serverId(ctx));
}

function recordView(a: InstanceAction, ctx: RouteContext) {
  const view: Record<string, unknown> = {
    action: a.action,
    instance_uuid: a.instanceUuid,
    request_id: `req-${a.id}`,
    user_id: "lazarus",
    project_id: "lazarus",
    start_time: novaDbTime(a.startTime),
    message: a.message,
  };
  if (atLeast(ctx.mv, "2.58")) view.updated_at = novaDbTime(a.updatedAt);
  return view;
}

function eventView(e: InstanceActionEvent, ctx: RouteContext) {
  const event: Record<string, unknown> = {
    event: e.event,
    start_time: novaDbTime(e.startTime),
    finish_time: novaDbTime(e.finishTime),
    result: e.result,
    traceback: e.traceback,
  };
  if (atLeast(ctx.mv, "2.62")) event.host = e.host;
  return event;
}

async function listActions(ctx: RouteContext) {
  const all = await instanceMigrations(ctx);
  const migrationIds = new Set(all.map((m) => m.id));
  const views = [
    ...all.map((m) => ({ at: m.createdAt, view: actionView(m, ctx) })),
    ...(await restarts(ctx)).map((r) => ({ at: r.attempt.at, view: restartView(r, ctx) })),
    // A record sharing a migration's id only adds events to that migration's action.
    ...(await actionRecords(ctx))
      .filter((a) => !migrationIds.has(a.id))
      .map((a) => ({ at: a.startTime, view: recordView(a, ctx) })),
  ].sort((a, b) => b.at.localeCompare(a.at));
  return json(200, { instanceActions: views.map((v) => v.view) });
}

async function showAction(ctx: RouteContext) {
  const all = await instanceMigrations(ctx);
  const raw = ctx.params.requestId!;
  const restart = (await restarts(ctx)).find((r) => `req-${r.recovery.id}` === raw || r.recovery.id === raw);
  if (restart) {
    const event: Record<string, unknown> = {
      event: "compute_start_instance",
      start_time: novaDbTime(restart.attempt.at),
      finish_time: novaDbTime(restart.attempt.at),
      result: restart.attempt.outcome === "succeeded" ? "Success" : "Error",
      traceback: restart.attempt.error,
    };
    if (atLeast(ctx.mv, "2.62")) event.host = restart.attempt.host;
    return json(200, { instanceAction: { ...restartView(restart, ctx), events: [event] } });
  }
  const record = (await actionRecords(ctx)).find((a) => `req-${a.id}` === raw || a.id === raw);
  const m = all.find((x) => `req-${x.id}` === raw || x.id === raw);
  if (!m && !record)
    throw new ApiError(404, `Action for request_id ${echo(raw)} on instance ${ctx.params.id} not found`);
  const arn = m ? executionOfMigration(ctx, m) : (record?.executionArn ?? null);
  const steps = arn ? stepsFromHistory(await historyOrEmpty(ctx, arn)) : [];
  const host = m ? (m.destHost ?? m.sourceHost) : null;
  const events = [
    ...steps.map((s) => {
      const event: Record<string, unknown> = {
        event: s.name,
        start_time: novaDbTime(s.enteredAt),
        finish_time: s.exitedAt === null ? null : novaDbTime(s.exitedAt),
        result: s.status === "running" ? null : s.status === "succeeded" ? "Success" : "Error",
        traceback: s.error === null ? null : `${s.error}: ${causeMessage(s.cause) ?? ""}`,
      };
      if (atLeast(ctx.mv, "2.62")) event.host = host;
      return event;
    }),
    ...(record?.events ?? []).map((e) => eventView(e, ctx)),
  ];
  const view = m ? actionView(m, ctx) : recordView(record!, ctx);
  return json(200, { instanceAction: { ...view, events } });
}

function executionOfMigration(ctx: RouteContext, m: Migration): string | null {
  const machine = ctx.deps.machines.rebuild;
  return m.executionArn ?? (machine ? executionArnOf(machine, m.id) : null);
}

async function historyOrEmpty(ctx: RouteContext, arn: string) {
  return (await ctx.deps.executions.describe(arn)) ? ctx.deps.executions.history(arn) : [];
}

/**
 * nova's server migrations (`/servers/{id}/migrations`): nova lists only live migrations in progress;
 * Lazarus has none, so it lists the server's evacuations and rebuilds (what `openstack server migration
 * show` can then read), each with the byte counters nova gives a live migration left empty.
 */
function serverMigrationView(m: Migration, ctx: RouteContext) {
  const view: Record<string, unknown> = {
    id: m.id,
    server_uuid: m.instanceUuid,
    status: m.status,
    source_compute: m.sourceHost,
    source_node: m.sourceNode,
    dest_compute: m.destHost,
    dest_node: m.destNode,
    dest_host: m.destHost,
    memory_total_bytes: null,
    memory_processed_bytes: null,
    memory_remaining_bytes: null,
    disk_total_bytes: null,
    disk_processed_bytes: null,
    disk_remaining_bytes: null,
    created_at: novaDbTime(m.createdAt),
    updated_at: novaDbTime(m.updatedAt),
  };
  if (atLeast(ctx.mv, "2.59")) view.uuid = m.id;
  if (atLeast(ctx.mv, "2.80")) {
    view.user_id = "lazarus";
    view.project_id = "lazarus";
  }
  return view;
}

async function listServerMigrations(ctx: RouteContext) {
  const all = await instanceMigrations(ctx);
  return json(200, { migrations: all.map((m) => serverMigrationView(m, ctx)) });
}

async function showServerMigration(ctx: RouteContext) {
  const raw = ctx.params.migrationId!;
  const m = (await instanceMigrations(ctx)).find((x) => x.id === raw);
  if (!m) throw new ApiError(404, `Migration ${echo(raw)} for server ${ctx.params.id} could not be found.`);
  return json(200, { migration: serverMigrationView(m, ctx) });
}

export const migrationRoutes: Route[] = [
  { method: "GET", pattern: "/servers/{id}/migrations", handler: listServerMigrations },
  { method: "GET", pattern: "/servers/{id}/migrations/{migrationId}", handler: showServerMigration },
  { method: "GET", pattern: "/os-migrations", handler: listMigrations },
  { method: "GET", pattern: "/servers/{id}/os-instance-actions", handler: listActions },
  { method: "GET", pattern: "/servers/{id}/os-instance-actions/{requestId}", handler: showAction },
];
