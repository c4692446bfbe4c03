/**
 * What servers are built from, read-only, in nova's shapes (from shared/domain/catalog.ts): `/flavors`
 * (with `detail`, extra specs, and nova's answer for the access list of a public flavor), nova's image
 * proxy `/images` (with `detail`), and the per-project reads openstackclient asks for: `/limits`,
 * `/os-simple-tenant-usage`, `/os-keypairs` (none: Lazarus keeps no key pairs; creating one is refused).
 *
 * Images answer in two shapes on the same paths. A caller that speaks compute microversions (a microversion
 * header: novaclient, nova's API users) gets nova's proxy (`{"image": {...}}`, status ACTIVE, minDisk);
 * one that does not is openstacksdk's image client, which openstackclient points at this endpoint for
 * `image list/show` and to resolve `--image NAME` (`/images/{name}`, then `/images?name=NAME`): it gets
 * glance v2's shape (the image object itself, status active, min_disk), which is what it parses.
 */
import { z } from "zod";
import { FLAVORS, type FlavorSpec, findFlavor, IMAGES, type ImageSpec } from "#shared/domain/catalog.js";
import { resourceLimit } from "#shared/domain/claim-policy.js";
import type { Instance } from "#shared/domain/schemas.js";
import { ApiError, badRequest, json } from "../http.js";
import { atLeast } from "../microversion.js";
import type { Route, RouteContext } from "../router.js";
import { flavorName, novaDbTime, novaTime, PROJECT } from "../views.js";
import { echo } from "./params.js";

function links(ctx: RouteContext, collection: string, id: string) {
  return [
    { rel: "self", href: `${ctx.view.baseUrl}/v2.1/${collection}/${id}` },
    { rel: "bookmark", href: `${ctx.view.baseUrl}/${collection}/${id}` },
  ];
}

function flavorSummary(f: FlavorSpec, ctx: RouteContext) {
  return {
    id: f.id,
    name: f.name,
    links: links(ctx, "flavors", f.id),
    ...(atLeast(ctx.mv, "2.55") ? { description: null } : {}),
  };
}

function flavorDetail(f: FlavorSpec, ctx: RouteContext) {
  return {
    ...flavorSummary(f, ctx),
    ram: f.memoryMiB,
    vcpus: f.vcpus,
    disk: f.diskGiB,
    "OS-FLV-EXT-DATA:ephemeral": 0,
    "OS-FLV-DISABLED:disabled": false,
    // nova: an empty string before 2.75, 0 from 2.75.
    swap: atLeast(ctx.mv, "2.75") ? 0 : "",
    rxtx_factor: 1.0,
    "os-flavor-access:is_public": true,
    ...(atLeast(ctx.mv, "2.61") ? { extra_specs: {} } : {}),
  };
}

const Limit = z.coerce.number().int().min(0).max(1000);

function listFlavors(ctx: RouteContext, detail: boolean) {
  const minRam = ctx.query("minRam", z.coerce.number().int().min(0));
  const minDisk = ctx.query("minDisk", z.coerce.number().int().min(0));
  // All flavors are public: is_public=false (or None/all) lists none/all of them as nova does for an admin.
  const isPublic = ctx.query("is_public", z.string().max(10));
  const limit = ctx.query("limit", Limit);
  const marker = ctx.query("marker", z.string().max(255));
  let all = FLAVORS.filter(
    (f) => (minRam === undefined || f.memoryMiB >= minRam) && (minDisk === undefined || f.diskGiB >= minDisk),
  );
  if (isPublic !== undefined && ["false", "0", "no", "off"].includes(isPublic.toLowerCase())) all = [];
  if (marker !== undefined) {
    const at = all.findIndex((f) => f.id === marker);
    if (at < 0) throw badRequest(`marker [${marker.slice(0, 64)}] not found`);
    all = all.slice(at + 1);
  }
  if (limit !== undefined) all = all.slice(0, limit);
  return json(200, { flavors: all.map((f) => (detail ? flavorDetail(f, ctx) : flavorSummary(f, ctx))) });
}

function requireFlavor(ctx: RouteContext): FlavorSpec {
  const raw = ctx.params.id!;
  const flavor = findFlavor(raw);
  if (!flavor) throw new ApiError(404, `Flavor ${echo(raw)} could not be found.`);
  return flavor;
}

/** Whether the caller speaks compute microversions (nova's proxy shapes) rather than glance's image API. */
function speaksCompute(ctx: RouteContext): boolean {
  const h = ctx.req.headers;
  return h["openstack-api-version"] !== undefined || h["x-openstack-nova-api-version"] !== undefined;
}

function novaImage(i: ImageSpec, ctx: RouteContext, detail: boolean) {
  const summary = { id: i.id, name: i.name, links: links(ctx, "images", i.id) };
  if (!detail) return summary;
  return {
    ...summary,
    status: "ACTIVE",
    progress: 100,
    minDisk: i.minDiskGiB,
    minRam: i.minRamMiB,
    created: novaTime(i.createdAt),
    updated: novaTime(i.createdAt),
    metadata: {},
    "OS-EXT-IMG-SIZE:size": i.sizeBytes,
  };
}

function glanceImage(i: ImageSpec) {
  return {
    id: i.id,
    name: i.name,
    status: "active",
    visibility: "public",
    protected: false,
    os_hidden: false,
    disk_format: "qcow2",
    container_format: "bare",
    size: i.sizeBytes,
    virtual_size: i.sizeBytes,
    min_disk: i.minDiskGiB,
    min_ram: i.minRamMiB,
    checksum: null,
    owner: PROJECT,
    tags: [],
    created_at: novaTime(i.createdAt),
    updated_at: novaTime(i.createdAt),
    self: `/v2/images/${i.id}`,
    file: `/v2/images/${i.id}/file`,
    schema: "/v2/schemas/image",
  };
}

function listImages(ctx: RouteContext, detail: boolean) {
  const name = ctx.query("name", z.string().max(255));
  const limit = ctx.query("limit", Limit);
  const marker = ctx.query("marker", z.string().max(255));
  let all = IMAGES.filter((i) => name === undefined || i.name === name);
  if (marker !== undefined) {
    const at = all.findIndex((i) => i.id === marker);
    if (at < 0) throw badRequest(`marker [${marker.slice(0, 64)}] not found`);
    all = all.slice(at + 1);
  }
  if (limit !== undefined) all = all.slice(0, limit);
  if (!speaksCompute(ctx)) {
    return json(200, { images: all.map(glanceImage), schema: "/v2/schemas/images", first: "/v2/images" });
  }
  return json(200, { images: all.map((i) => novaImage(i, ctx, detail)) });
}

function showImage(ctx: RouteContext) {
  const raw = ctx.params.id!;
  const image = IMAGES.find((i) => i.id === raw);
  if (!image) throw new ApiError(404, `Image ${echo(raw)} could not be found.`);
  return json(200, speaksCompute(ctx) ? { image: novaImage(image, ctx, true) } : glanceImage(image));
}

/** The fleet as one project's quota: limits are the fleet's capacity, usage what the instances hold. */
async function limits(ctx: RouteContext) {
  const [hosts, instances] = await Promise.all([
    ctx.deps.stores.hosts.list(),
    ctx.deps.stores.instances.list(),
  ]);
  const live = instances.filter((i) => i.vmState !== "deleted");
  const sum = (f: (x: number) => number, k: "vcpus" | "memoryMiB") =>
    hosts.reduce((n, h) => n + f(resourceLimit(h, k)), 0);
  const absolute: Record<string, number> = {
    maxTotalCores: sum((x) => x, "vcpus"),
    maxTotalRAMSize: sum((x) => x, "memoryMiB"),
    maxTotalInstances: -1,
    maxServerMeta: 128,
    maxTotalKeypairs: 0,
    maxServerGroups: -1,
    maxServerGroupMembers: -1,
    totalCoresUsed: live.reduce((n, i) => n + i.flavor.vcpus, 0),
    totalRAMUsed: live.reduce((n, i) => n + i.flavor.memoryMiB, 0),
    totalInstancesUsed: live.length,
    totalServerGroupsUsed: new Set(live.flatMap((i) => (i.serverGroup ? [i.serverGroup.id] : []))).size,
  };
  if (!atLeast(ctx.mv, "2.39")) absolute.maxImageMeta = 128;
  if (!atLeast(ctx.mv, "2.57")) {
    absolute.maxPersonality = 0;
    absolute.maxPersonalitySize = 0;
  }
  if (!atLeast(ctx.mv, "2.36")) {
    Object.assign(absolute, {
      maxSecurityGroups: 0,
      maxSecurityGroupRules: 0,
      maxTotalFloatingIps: 0,
      totalFloatingIpsUsed: 0,
      totalSecurityGroupsUsed: 0,
    });
  }
  return json(200, { limits: { rate: [], absolute } });
}

const Time = z
  .string()
  .max(40)
  .refine((s) => Number.isFinite(Date.parse(s)), "a time");

/** Hours an instance existed within [start, end): from its creation to its deletion (or now). */
function hoursWithin(i: Instance, start: number, end: number, now: number): number {
  const from = Date.parse(i.launchedAt ?? i.createdAt);
  const to = i.vmState === "deleted" ? Date.parse(i.updatedAt) : now;
  return Math.max(0, Math.min(to, end) - Math.max(from, start)) / 3_600_000;
}

async function usage(ctx: RouteContext, tenant: string | null) {
  const now = ctx.deps.now().getTime();
  const startRaw = ctx.query("start", Time);
  const endRaw = ctx.query("end", Time);
  const start = startRaw ? Date.parse(startRaw) : now - 30 * 86_400_000;
  const end = endRaw ? Date.parse(endRaw) : now;
  const detailed = ctx.query("detailed", z.string().max(5)) === "1";
  if (tenant !== null && tenant !== PROJECT) {
    return json(200, { tenant_usage: {} });
  }
  const servers = (await ctx.deps.stores.instances.list())
    .map((i) => ({ i, hours: hoursWithin(i, start, end, now) }))
    .filter((x) => x.hours > 0);
  const total = (f: (i: Instance) => number) => servers.reduce((n, x) => n + f(x.i) * x.hours, 0);
  const usageDoc: Record<string, unknown> = {
    tenant_id: PROJECT,
    start: novaDbTime(new Date(start).toISOString()),
    stop: novaDbTime(new Date(end).toISOString()),
    total_hours: servers.reduce((n, x) => n + x.hours, 0),
    total_vcpus_usage: total((i) => i.flavor.vcpus),
    total_memory_mb_usage: total((i) => i.flavor.memoryMiB),
    total_local_gb_usage: total((i) => i.flavor.diskGiB),
  };
  if (detailed || tenant !== null) {
    usageDoc.server_usages = servers.map(({ i, hours }) => ({
      instance_id: i.uuid,
      name: i.name,
      hours,
      vcpus: i.flavor.vcpus,
      memory_mb: i.flavor.memoryMiB,
      local_gb: i.flavor.diskGiB,
      flavor: flavorName(i),
      started_at: novaDbTime(i.launchedAt ?? i.createdAt),
      ended_at: i.vmState === "deleted" ? novaDbTime(i.updatedAt) : null,
      state: i.vmState === "stopped" ? "stopped" : i.vmState,
      uptime: Math.round(hours * 3600),
      tenant_id: PROJECT,
    }));
  }
  if (tenant !== null) return json(200, { tenant_usage: usageDoc });
  return json(200, { tenant_usages: servers.length > 0 ? [usageDoc] : [] });
}

export const catalogRoutes: Route[] = [
  { method: "GET", pattern: "/flavors", handler: async (ctx) => listFlavors(ctx, false) },
  { method: "GET", pattern: "/flavors/detail", handler: async (ctx) => listFlavors(ctx, true) },
  {
    method: "GET",
    pattern: "/flavors/{id}",
    handler: async (ctx) => json(200, { flavor: flavorDetail(requireFlavor(ctx), ctx) }),
  },
  {
    method: "GET",
    pattern: "/flavors/{id}/os-extra_specs",
    handler: async (ctx) => {
      requireFlavor(ctx);
      return json(200, { extra_specs: {} });
    },
  },
  {
    method: "GET",
    pattern: "/flavors/{id}/os-flavor-access",
    // nova's answer for a public flavor: there is no access list (every project may use it).
    handler: async (ctx) => {
      requireFlavor(ctx);
      throw new ApiError(404, "Access list not available for public flavors.");
    },
  },
  { method: "GET", pattern: "/images", handler: async (ctx) => listImages(ctx, false) },
  { method: "GET", pattern: "/images/detail", handler: async (ctx) => listImages(ctx, true) },
  { method: "GET", pattern: "/images/{id}", handler: async (ctx) => showImage(ctx) },
  { method: "GET", pattern: "/limits", handler: limits },
  { method: "GET", pattern: "/os-simple-tenant-usage", handler: (ctx) => usage(ctx, null) },
  {
    method: "GET",
    pattern: "/os-simple-tenant-usage/{tenant}",
    handler: (ctx) => usage(ctx, ctx.params.tenant!),
  },
  { method: "GET", pattern: "/os-keypairs", handler: async () => json(200, { keypairs: [] }) },
  {
    method: "GET",
    pattern: "/os-keypairs/{name}",
    handler: async (ctx) => {
      throw new ApiError(404, `Keypair ${echo(ctx.params.name!)} not found for user lazarus`);
    },
  },
  {
    method: "POST",
    pattern: "/os-keypairs",
    handler: async () => {
      throw badRequest(
        "Key pairs are not kept by Lazarus: no key is injected into a guest (it has no config drive or metadata service).",
      );
    },
  },
];
