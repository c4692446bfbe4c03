/**
 * How the fleet is grouped, read-only, in nova's shapes: availability zones (`/os-availability-zone`, with
 * `detail`: the hosts of each zone and their compute service), aggregates (`/os-aggregates`: one per
 * availability zone, carrying nova's `availability_zone` metadata, and one per shared storage pool, whose
 * hosts see the same instance folders), and server groups (`/os-server-groups`: the groups instances
 * belong to, with their members). Groups exist through their members here (shared/domain/schemas.ts
 * `ServerGroup` on each instance): a group with no instance is not kept.
 */

import { isHostUp } from "#shared/domain/host-liveness.js";
import { deterministicUuid } from "#shared/domain/ids.js";
import type { Host, Instance, ServerGroup } from "#shared/domain/schemas.js";
import { ApiError, json } from "../http.js";
import { atLeast } from "../microversion.js";
import type { Route, RouteContext } from "../router.js";
import { novaDbTime, PROJECT } from "../views.js";
import { echo } from "./params.js";

function zonesOf(hosts: readonly Host[]): Map<string, Host[]> {
  const zones = new Map<string, Host[]>();
  for (const h of hosts) zones.set(h.availabilityZone, [...(zones.get(h.availabilityZone) ?? []), h]);
  return zones;
}

async function availabilityZones(ctx: RouteContext, detail: boolean) {
  const zones = zonesOf(await ctx.deps.stores.hosts.list());
  const up = (h: Host) => isHostUp(h, ctx.view.now, ctx.view.serviceDownSeconds);
  const info = [...zones.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([zoneName, hosts]) => ({
      zoneName,
      zoneState: { available: hosts.some((h) => h.enabled && up(h)) },
      hosts: detail
        ? Object.fromEntries(
            hosts.map((h) => [
              h.name,
              {
                "nova-compute": {
                  available: h.enabled,
                  active: up(h),
                  updated_at: novaDbTime(h.lastHeartbeatAt),
                },
              },
            ]),
          )
        : null,
    }));
  return json(200, { availabilityZoneInfo: info });
}

interface Aggregate {
  name: string;
  availabilityZone: string | null;
  hosts: string[];
  metadata: Record<string, string>;
}

/** Availability zones first, then shared pools, each in name order: their index + 1 is the id. */
function aggregatesOf(hosts: readonly Host[]): Aggregate[] {
  const zones = [...zonesOf(hosts).entries()].sort(([a], [b]) => a.localeCompare(b));
  const pools = new Map<string, string[]>();
  for (const h of hosts) {
    const pool = h.storage.sharedPoolId;
    if (pool) pools.set(pool, [...(pools.get(pool) ?? []), h.name]);
  }
  return [
    ...zones.map(([zone, members]) => ({
      name: zone,
      availabilityZone: zone,
      hosts: members.map((h) => h.name).sort(),
      metadata: { availability_zone: zone },
    })),
    ...[...pools.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([pool, members]) => ({
        name: `pool-${pool}`,
        availabilityZone: null,
        hosts: members.sort(),
        metadata: { "lazarus:shared_pool": pool },
      })),
  ];
}

function aggregateView(a: Aggregate, index: number, ctx: RouteContext) {
  const epoch = novaDbTime(new Date(0).toISOString());
  return {
    id: index + 1,
    name: a.name,
    availability_zone: a.availabilityZone,
    hosts: a.hosts,
    metadata: a.metadata,
    created_at: epoch,
    updated_at: null,
    deleted_at: null,
    deleted: false,
    ...(atLeast(ctx.mv, "2.41") ? { uuid: aggregateUuid(a.name) } : {}),
  };
}

/** A stable UUID per aggregate name (nova's aggregate uuid, 2.41). */
const aggregateUuid = (name: string) => deterministicUuid("lazarus-aggregate", name);

async function listAggregates(ctx: RouteContext) {
  const all = aggregatesOf(await ctx.deps.stores.hosts.list());
  return json(200, { aggregates: all.map((a, i) => aggregateView(a, i, ctx)) });
}

async function showAggregate(ctx: RouteContext) {
  const raw = ctx.params.id!;
  const all = aggregatesOf(await ctx.deps.stores.hosts.list());
  const index = all.findIndex((a, i) => String(i + 1) === raw || aggregateUuid(a.name) === raw);
  if (index < 0) throw new ApiError(404, `Aggregate ${echo(raw)} could not be found.`);
  return json(200, { aggregate: aggregateView(all[index]!, index, ctx) });
}

/** Every server group that has a member, with its members (instances not deleted). */
function groupsOf(instances: readonly Instance[]): { group: ServerGroup; members: string[] }[] {
  const groups = new Map<string, { group: ServerGroup; members: string[] }>();
  for (const i of instances) {
    if (!i.serverGroup || i.vmState === "deleted") continue;
    const entry = groups.get(i.serverGroup.id) ?? { group: i.serverGroup, members: [] };
    entry.members.push(i.uuid);
    groups.set(i.serverGroup.id, entry);
  }
  return [...groups.values()].sort((a, b) => a.group.id.localeCompare(b.group.id));
}

function groupView(g: { group: ServerGroup; members: string[] }, ctx: RouteContext) {
  const view: Record<string, unknown> = {
    id: g.group.id,
    name: g.group.id,
    members: g.members.sort(),
  };
  if (atLeast(ctx.mv, "2.64")) {
    view.policy = g.group.policy;
    view.rules = {};
  } else {
    view.policies = [g.group.policy];
    view.metadata = {};
  }
  if (atLeast(ctx.mv, "2.13")) {
    view.project_id = PROJECT;
    view.user_id = PROJECT;
  }
  return view;
}

async function listServerGroups(ctx: RouteContext) {
  const groups = groupsOf(await ctx.deps.stores.instances.list());
  return json(200, { server_groups: groups.map((g) => groupView(g, ctx)) });
}

async function showServerGroup(ctx: RouteContext) {
  const raw = ctx.params.id!;
  const found = groupsOf(await ctx.deps.stores.instances.list()).find((g) => g.group.id === raw);
  if (!found) throw new ApiError(404, `Instance group ${echo(raw)} could not be found.`);
  return json(200, { server_group: groupView(found, ctx) });
}

/** The server group a boot asks to join: one that exists (has a member). */
export async function findServerGroup(ctx: RouteContext, id: string): Promise<ServerGroup | null> {
  return groupsOf(await ctx.deps.stores.instances.list()).find((g) => g.group.id === id)?.group ?? null;
}

export const fleetRoutes: Route[] = [
  { method: "GET", pattern: "/os-availability-zone", handler: (ctx) => availabilityZones(ctx, false) },
  { method: "GET", pattern: "/os-availability-zone/detail", handler: (ctx) => availabilityZones(ctx, true) },
  { method: "GET", pattern: "/os-aggregates", handler: listAggregates },
  { method: "GET", pattern: "/os-aggregates/{id}", handler: showAggregate },
  { method: "GET", pattern: "/os-server-groups", handler: listServerGroups },
  { method: "GET", pattern: "/os-server-groups/{id}", handler: showServerGroup },
];
