/** GET /servers, /servers/detail, /servers/{id}: nova's server views of Lazarus's instances. */
import { z } from "zod";
import type { Host } from "#shared/domain/schemas.js";
import { ResourceName, Uuid } from "#shared/domain/values.js";
import { ApiError, json } from "../http.js";
import type { Route, RouteContext } from "../router.js";
import {
  SERVER_STATUSES,
  type ServerRecord,
  serverDetail,
  serverStatus,
  serverSummary,
  unplacedServer,
} from "../views.js";
import { echo, serverId } from "./params.js";

const Limit = z.coerce.number().int().min(0).max(1000);

async function hostsByName(ctx: RouteContext): Promise<Map<string, Host>> {
  return new Map((await ctx.deps.stores.hosts.list()).map((h) => [h.name, h]));
}

/** Newest first, as nova sorts (created_at desc), ties by id. */
function byCreatedDesc(a: ServerRecord, b: ServerRecord): number {
  return b.createdAt.localeCompare(a.createdAt) || a.uuid.localeCompare(b.uuid);
}

async function listServers(ctx: RouteContext, detail: boolean) {
  const host = ctx.query("host", ResourceName);
  const node = ctx.query("node", ResourceName);
  const status = ctx.query(
    "status",
    z
      .string()
      .transform((s) => s.toUpperCase())
      .pipe(z.enum(SERVER_STATUSES)),
  );
  const name = ctx.query("name", z.string().max(255));
  const limit = ctx.query("limit", Limit);
  const marker = ctx.query("marker", Uuid);

  const { instances } = ctx.deps.stores;
  let all: ServerRecord[] = (host ? await instances.listByHost(host) : await instances.list()).filter(
    (i) => i.vmState !== "deleted",
  );
  // Builds not placed on a host yet (or that failed before one was found) are servers too, with no host.
  if (!host && !node) {
    const placed = new Set(all.map((i) => i.uuid));
    all.push(...(await unplacedBuilds(ctx)).filter((b) => !placed.has(b.uuid)));
  }
  if (node) all = all.filter((i) => i.node === node);
  if (status) all = all.filter((i) => serverStatus(i) === status);
  // nova matches `name` as a regular expression; a literal substring match gives clients the same
  // candidates (they compare exactly afterwards) without running a caller's pattern.
  if (name) all = all.filter((i) => i.name.includes(name));
  all.sort(byCreatedDesc);
  if (marker) {
    const at = all.findIndex((i) => i.uuid === marker);
    if (at < 0) throw new ApiError(400, `marker [${marker}] not found`);
    all = all.slice(at + 1);
  }
  if (limit !== undefined) all = all.slice(0, limit);
  const hosts = detail ? await hostsByName(ctx) : new Map<string, Host>();
  const servers = all.map((i) =>
    detail ? serverDetail(i, ctx.view, i.host ? hosts.get(i.host) : undefined) : serverSummary(i, ctx.view),
  );
  return json(200, { servers });
}

async function unplacedBuilds(ctx: RouteContext): Promise<ServerRecord[]> {
  return (await ctx.deps.stores.actions.unplacedBuilds()).map(unplacedServer);
}

async function showServer(ctx: RouteContext) {
  const id = serverId(ctx);
  const instance = await ctx.deps.stores.instances.get(id);
  if (!instance) {
    // Not placed yet (or failed before it was): the server is its build (nova's build request).
    const build = (await ctx.deps.stores.actions.listByInstance(id)).find(
      (a) => a.build?.status === "building" || a.build?.status === "failed",
    );
    if (!build) throw new ApiError(404, `Instance ${echo(id)} could not be found.`);
    return json(200, { server: serverDetail(unplacedServer(build), ctx.view, undefined) });
  }
  if (instance.vmState === "deleted") throw new ApiError(404, `Instance ${echo(id)} could not be found.`);
  const host = (await ctx.deps.stores.hosts.get(instance.host)) ?? undefined;
  return json(200, { server: serverDetail(instance, ctx.view, host) });
}

export const serverRoutes: Route[] = [
  { method: "GET", pattern: "/servers", handler: (ctx) => listServers(ctx, false) },
  { method: "GET", pattern: "/servers/detail", handler: (ctx) => listServers(ctx, true) },
  { method: "GET", pattern: "/servers/{id}", handler: showServer },
];
