/**
 * GET /os-migrations (nova's, filtered by instance, host, status, type), the server's migrations
 * (`/servers/{id}/migrations[/{id}]`, what `openstack server migration list/show` read) and the per-server
 * action log `/servers/{id}/os-instance-actions` (what `openstack server event list` reads), derived from
 * the migration records: one per rebuild, evacuation, live or cold migration, plus a cold migration's
 * confirmResize and revertResize. An action's events are its execution's steps.
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

/** nova's action name of each migration type (instance_actions.py). */
const ACTION_OF_TYPE: Record<Migration["type"], string> = {
  evacuation: "evacuate",
  rebuild: "rebuild",
  "live-migration": "live-migration",
  migration: "migrate",
};

/**
 * One instance action: a migration record's own (its request is the migration), or one of its follow-ups
 * (a cold migration's confirmResize or revertResize, each its own request).
 */
interface ActionEntry {
  migration: Migration;
  action: string;
  requestId: string;
  at: string;
  /** The execution whose steps are the action's events (null: the action ran in the API, no execution). */
  machine: "rebuild" | "migrate" | null;
}

function actionsOf(m: Migration): ActionEntry[] {
  const own: ActionEntry = {
    migration: m,
    action: ACTION_OF_TYPE[m.type],
    requestId: m.id,
    at: m.createdAt,
    machine: m.type === "evacuation" || m.type === "rebuild" ? "rebuild" : "migrate",
  };
  return [
    own,
    ...m.followUps.map((u) => ({
      migration: m,
      action: u.action,
      requestId: u.requestId,
      at: u.at,
      machine: u.action === "revertResize" ? ("migrate" as const) : null,
    })),
  ];
}

function failed(e: ActionEntry): boolean {
  const { status } = e.migration;
  if (e.action === "confirmResize") return status === "error";
  if (e.action === "revertResize") return status === "error";
  return status === "failed" || status === "error";
}

function actionView(e: ActionEntry, ctx: RouteContext) {
  const view: Record<string, unknown> = {
    action: e.action,
    instance_uuid: e.migration.instanceUuid,
    request_id: `req-${e.requestId}`,
    user_id: "lazarus",
    project_id: "lazarus",
    start_time: novaDbTime(e.at),
    message: failed(e) ? "Error" : null,
    "lazarus:proof": e.action === ACTION_OF_TYPE[e.migration.type] ? proofView(e.migration) : null,
  };
  if (atLeast(ctx.mv, "2.58")) view.updated_at = novaDbTime(e.migration.updatedAt);
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
  const all = (await instanceMigrations(ctx)).flatMap(actionsOf);
  const requestIds = new Set(all.map((e) => e.requestId));
  const views = [
    ...all.map((e) => ({ at: e.at, view: actionView(e, ctx) })),
    ...(await restarts(ctx)).map((r) => ({ at: r.attempt.at, view: restartView(r, ctx) })),
    // A record sharing a migration's request id only adds events to that migration's action.
    ...(await actionRecords(ctx))
      .filter((a) => !requestIds.has(a.id))
      .map((a) => ({ at: a.startTime, view: recordView(a, ctx) })),
  ].sort((a, b) => b.at.localeCompare(a.at));
  return json(200, { instanceActions: views.map((v) => v.view) });
}

async function showAction(ctx: RouteContext) {
  const all = (await instanceMigrations(ctx)).flatMap(actionsOf);
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
  const e = all.find((x) => `req-${x.requestId}` === raw || x.requestId === raw);
  if (!e && !record)
    throw new ApiError(404, `Action for request_id ${echo(raw)} on instance ${ctx.params.id} not found`);
  const steps = e
    ? await entrySteps(ctx, e)
    : record?.executionArn
      ? stepsFromHistory(await historyOrEmpty(ctx, record.executionArn))
      : [];
  const host = e ? (e.migration.destHost ?? e.migration.sourceHost) : null;
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
    ...(record?.events ?? []).map((x) => eventView(x, ctx)),
  ];
  const view = e ? actionView(e, ctx) : recordView(record!, ctx);
  return json(200, { instanceAction: { ...view, events } });
}

/** A migration action's steps: its execution's, or the one event of an action run within the API request. */
async function entrySteps(ctx: RouteContext, e: ActionEntry) {
  const own = e.requestId === e.migration.id;
  const machine = e.machine ? ctx.deps.machines[e.machine] : null;
  const arn =
    (own ? e.migration.executionArn : null) ?? (machine ? executionArnOf(machine, e.requestId) : null);
  if (arn) return stepsFromHistory(await historyOrEmpty(ctx, arn));
  if (e.machine) return [];
  // A confirmResize runs within the API request: one event, as nova's compute_confirm_resize.
  return [
    {
      name: "compute_confirm_resize",
      type: "Task",
      attempts: 1,
      enteredAt: e.at,
      exitedAt: e.at,
      status: failed(e) ? ("failed" as const) : ("succeeded" as const),
      error: null,
      cause: null,
    },
  ];
}

async function historyOrEmpty(ctx: RouteContext, arn: string) {
  return (await ctx.deps.executions.describe(arn)) ? ctx.deps.executions.history(arn) : [];
}

/**
 * nova's server migrations (`openstack server migration list/show`): the instance's migrations. nova lists
 * only live migrations in progress here; Lazarus lists every migration of the server (the clients read
 * both the same way), so a finished one can be shown too. No memory or disk progress is measured (null).
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
    "lazarus:migration_type": m.type,
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
