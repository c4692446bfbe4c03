/**
 * GET /servers, /servers/detail, /servers/{id}: nova's server views of Lazarus's instances.
 *
 * Lists page as nova's do (`limit`, default and at most nova's `max_limit` 1000, and `marker`, the last
 * server of the previous page, with a `servers_links` "next" link while more may follow): a request reads at
 * most about `limit` instances and the hosts they name, never the whole table. With `host` the host's
 * instances (an index) are sorted newest first, as nova sorts; the whole fleet's list is in the table's own
 * order, stable from page to page (docs/SCALE.md).
 */
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

/** nova's `max_limit`: a page never holds more. */
const MAX_LIMIT = 1000;
const Limit = z.coerce.number().int().min(0).max(MAX_LIMIT);
/** A filtered list reads at most this many pages of the table for one answer (then links to the next). */
const MAX_SCANNED_PAGES = 4;

/** The hosts the listed instances name, each read by key. */
async function hostsOf(ctx: RouteContext, servers: readonly ServerRecord[]): Promise<Map<string, Host>> {
  const names = servers.flatMap((s) => (s.host ? [s.host] : []));
  const hosts = await ctx.deps.stores.hosts.getMany([...new Set(names)]);
  return new Map(hosts.map((h) => [h.name, h]));
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

  const pageSize = limit ?? MAX_LIMIT;
  const matches = (i: ServerRecord) =>
    i.vmState !== "deleted" &&
    (node === undefined || i.node === node) &&
    (status === undefined || serverStatus(i) === status) &&
    // nova matches `name` as a regular expression; a literal substring match gives clients the same
    // candidates (they compare exactly afterwards) without running a caller's pattern.
    (name === undefined || i.name.includes(name));

  const { instances } = ctx.deps.stores;
  let page: ServerRecord[];
  let next: string | undefined;
  if (host) {
    // One host's instances (bounded by what a host holds), newest first as nova sorts.
    let all = (await instances.listByHost(host)).filter(matches).sort(byCreatedDesc);
    if (marker) {
      const at = all.findIndex((i) => i.uuid === marker);
      if (at < 0) throw new ApiError(400, `marker [${marker}] not found`);
      all = all.slice(at + 1);
    }
    page = all.slice(0, pageSize);
    next = all.length > pageSize ? page.at(-1)?.uuid : undefined;
  } else {
    if (marker && !(await instances.get(marker))) throw new ApiError(400, `marker [${marker}] not found`);
    page = [];
    let after = marker;
    for (let read = 0; page.length < pageSize && read < MAX_SCANNED_PAGES; read++) {
      const got = await instances.page({ limit: pageSize - page.length, ...(after ? { after } : {}) });
      page.push(...got.instances.filter(matches));
      after = got.last;
      if (after === undefined) break;
    }
    next = after;
    // Builds not placed on a host yet (or that failed before one was found) are servers too, with no host:
    // listed on the first page (they are few: a build leaves this state once placed or deleted).
    if (!node && !marker) {
      const placed = new Set(page.map((i) => i.uuid));
      page.push(...(await unplacedBuilds(ctx)).filter((b) => !placed.has(b.uuid) && matches(b)));
    }
  }
  const hosts = detail ? await hostsOf(ctx, page) : new Map<string, Host>();
  const servers = page.map((i) =>
    detail ? serverDetail(i, ctx.view, i.host ? hosts.get(i.host) : undefined) : serverSummary(i, ctx.view),
  );
  const query = new URLSearchParams({
    ...Object.fromEntries(Object.entries({ host, node, name, limit }).filter(([, v]) => v !== undefined)),
    ...(status ? { status } : {}),
    ...(next ? { marker: next } : {}),
  });
  const links = next
    ? [{ rel: "next", href: `${ctx.view.baseUrl}/servers${detail ? "/detail" : ""}?${query}` }]
    : undefined;
  return json(200, { servers, ...(links ? { servers_links: links } : {}) });
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
