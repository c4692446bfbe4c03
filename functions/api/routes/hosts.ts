/**
 * Compute hosts: nova's `/os-services` (list; enable, disable and force-down, by host before 2.53 and
 * by service id from 2.53; an operator's force-down is the host's proof of death, kind `operator`), `/os-hypervisors`, and Lazarus's `/os-hosts` (capacity, limits, usage),
 * with the host routes of their own: evacuate a whole host (the host-failure flow), register a host,
 * adopt its domains, sync it (the inventory functions).
 */
import { z } from "zod";
import { stateMachineSpec } from "#shared/definitions/state-machines.js";
import { operatorProof } from "#shared/domain/fencing.js";
import { EVACUATION_POLICIES } from "#shared/domain/host-failure.js";
import type { Host } from "#shared/domain/schemas.js";
import { ManagedInstanceId, ResourceName } from "#shared/domain/values.js";
import {
  readDrainPreview,
  readEvacuationPreview,
  readFleetCapacity,
} from "#shared/flow/evacuation-preview.js";
import { hostTarget } from "#shared/hosts/layout.js";
import { shellScript } from "#shared/hosts/shell.js";
import type { InventoryOps } from "../deps.js";
import { ApiError, json, parseOr400 } from "../http.js";
import { atLeast, format } from "../microversion.js";
import type { Route, RouteContext } from "../router.js";
import { hostView, hypervisorView, serviceUuid, serviceView } from "../views.js";
import { echo, hostName, NovaBoolean } from "./params.js";

const Binary = z.literal("nova-compute");
const Reason = z.string().min(1).max(255);

/**
 * Every host, sorted by name: the integer service and hypervisor ids before 2.53 are positions in this
 * order, and a service or hypervisor named by its 2.53 uuid is found in it. A read of the whole hosts table:
 * operators' lists and those two lookups only (docs/SCALE.md); a host named by name is read by key.
 */
async function hostsWithIndex(ctx: RouteContext): Promise<Host[]> {
  return ctx.deps.stores.hosts.list();
}

async function listServices(ctx: RouteContext) {
  const host = ctx.query("host", ResourceName);
  const binary = ctx.query("binary", z.string().max(64));
  const all = await hostsWithIndex(ctx);
  const views = all
    .map((h, i) => serviceView(h, i, ctx.view))
    .filter((s) => (host === undefined || s.host === host) && (binary === undefined || s.binary === binary));
  return json(200, { services: views });
}

/** The host named `name`, read by key. */
export async function requireHost(ctx: RouteContext, name: string): Promise<{ host: Host }> {
  const host = await ctx.deps.stores.hosts.get(name);
  if (!host) throw new ApiError(404, `Compute host ${name} could not be found.`);
  return { host };
}

/** PUT /os-services/{id} from 2.53: enable/disable (with a reason) and forced_down, by service UUID. */
const ServiceUpdate = z
  .strictObject({
    status: z.enum(["enabled", "disabled"]).optional(),
    disabled_reason: Reason.optional(),
    forced_down: z.boolean().optional(),
  })
  .refine((b) => b.status !== undefined || b.forced_down !== undefined, {
    message: "give status or forced_down",
  })
  .refine((b) => b.disabled_reason === undefined || b.status === "disabled", {
    message: "disabled_reason is only allowed with status disabled",
  });

/** The bodies of the pre-2.53 actions, by action. */
const LEGACY_ACTIONS = {
  enable: z.strictObject({ host: ResourceName, binary: Binary }),
  disable: z.strictObject({ host: ResourceName, binary: Binary }),
  "disable-log-reason": z.strictObject({ host: ResourceName, binary: Binary, disabled_reason: Reason }),
  "force-down": z.strictObject({ host: ResourceName, binary: Binary, forced_down: z.boolean() }),
} as const;

/**
 * nova's forced_down set by an operator is their word that the host is off: recorded as its proof of death
 * (kind `operator`, who and through what), which lets its instances be evacuated and a running incident
 * proceed; unset, it clears the host's proof (any kind) with forced_down.
 */
async function forceDown(ctx: RouteContext, host: Host, down: boolean): Promise<Host> {
  const via = `PUT /os-services/${ctx.params.id!}, compute ${format(ctx.mv)}`;
  return ctx.deps.stores.hosts.forceDown(
    host.name,
    down ? operatorProof(host, { by: ctx.req.principal, via, at: ctx.deps.now() }) : null,
  );
}

async function updateService(ctx: RouteContext) {
  const raw = ctx.params.id!;
  const { hosts } = ctx.deps.stores;
  if (atLeast(ctx.mv, "2.53")) {
    const all = await hostsWithIndex(ctx);
    const index = all.findIndex((h) => serviceUuid(h.name) === raw);
    if (index < 0) throw new ApiError(404, `Service ${echo(raw)} could not be found.`);
    const body = parseOr400(ServiceUpdate, ctx.body(), "service");
    let updated = all[index]!;
    if (body.status !== undefined)
      updated = await hosts.setService(updated.name, {
        enabled: body.status === "enabled",
        disabledReason: body.status === "enabled" ? null : (body.disabled_reason ?? null),
      });
    if (body.forced_down !== undefined) updated = await forceDown(ctx, updated, body.forced_down);
    return json(200, { service: serviceView(updated, index, ctx.view) });
  }
  const action = raw as keyof typeof LEGACY_ACTIONS;
  if (!Object.hasOwn(LEGACY_ACTIONS, action) || (action === "force-down" && !atLeast(ctx.mv, "2.11"))) {
    throw new ApiError(404, `Unknown action ${echo(raw)}.`);
  }
  const body = parseOr400(LEGACY_ACTIONS[action], ctx.body(), "service") as {
    host: string;
    binary: string;
    disabled_reason?: string;
    forced_down?: boolean;
  };
  const { host } = await requireHost(ctx, body.host);
  if (action === "force-down") {
    await forceDown(ctx, host, body.forced_down!);
    return json(200, { service: { host: body.host, binary: body.binary, forced_down: body.forced_down } });
  }
  const enabled = action === "enable";
  await hosts.setService(body.host, {
    enabled,
    disabledReason: enabled ? null : (body.disabled_reason ?? null),
  });
  const view: Record<string, unknown> = {
    host: body.host,
    binary: body.binary,
    status: enabled ? "enabled" : "disabled",
  };
  if (action === "disable-log-reason") view.disabled_reason = body.disabled_reason;
  return json(200, { service: view });
}

async function listHypervisors(ctx: RouteContext, detail: boolean) {
  const pattern = ctx.query("hypervisor_hostname_pattern", z.string().max(255));
  const all = await hostsWithIndex(ctx);
  const views = all
    .map((h, i) => ({ h, v: hypervisorView(h, i, ctx.view, detail) }))
    .filter(({ h }) => pattern === undefined || h.name.includes(pattern))
    .map(({ v }) => v);
  return json(200, { hypervisors: views });
}

/** The servers on a host (nova's `servers` of a hypervisor): instances whose record names it. */
async function serversOn(ctx: RouteContext, host: string) {
  const on = await ctx.deps.stores.instances.listByHost(host);
  return on.filter((i) => i.vmState !== "deleted").map((i) => ({ name: `instance-${i.uuid}`, uuid: i.uuid }));
}

async function requireHypervisor(ctx: RouteContext): Promise<{ host: Host; index: number }> {
  const raw = ctx.params.id!;
  const all = await hostsWithIndex(ctx);
  const index = all.findIndex((h, i) => serviceUuid(h.name) === raw || String(i + 1) === raw);
  if (index < 0) throw new ApiError(404, `Hypervisor ${echo(raw)} could not be found.`);
  return { host: all[index]!, index };
}

/**
 * The host's `uptime` (what nova's libvirt driver reports), run on the host through SSM; "" when the host
 * does not answer within a few seconds (nova gives null; openstackclient parses the text, so "" it skips).
 */
async function hostUptime(ctx: RouteContext, host: Host): Promise<string> {
  try {
    const r = await ctx.deps.executor.run(hostTarget(host), shellScript(["uptime"]), {
      comment: `uptime of ${host.name}`,
      deadlineMs: 8_000,
    });
    return r.stdout.trim();
  } catch {
    return "";
  }
}

/** Before 2.88: `/os-hypervisors/{id}/uptime` (from 2.88 the hypervisor itself carries `uptime`). */
async function hypervisorUptime(ctx: RouteContext) {
  if (atLeast(ctx.mv, "2.88")) throw new ApiError(404, "The resource could not be found.");
  const { host, index } = await requireHypervisor(ctx);
  const view = hypervisorView(host, index, ctx.view, false);
  return json(200, { hypervisor: { ...view, uptime: await hostUptime(ctx, host) } });
}

async function showHypervisor(ctx: RouteContext) {
  const { host, index } = await requireHypervisor(ctx);
  const view = hypervisorView(host, index, ctx.view, true);
  if (atLeast(ctx.mv, "2.88")) view.uptime = await hostUptime(ctx, host);
  // 2.53: `?with_servers=true` embeds the servers (before, they are /os-hypervisors/{pattern}/servers).
  const withServers = ctx.query("with_servers", NovaBoolean);
  if (atLeast(ctx.mv, "2.53") && withServers) view.servers = await serversOn(ctx, host.name);
  return json(200, { hypervisor: view });
}

/** Before 2.53: the hypervisors whose name matches the pattern, each with its servers (nova: 404 from 2.53). */
async function hypervisorServers(ctx: RouteContext) {
  if (atLeast(ctx.mv, "2.53")) throw new ApiError(404, "The resource could not be found.");
  const pattern = ctx.params.id!;
  const all = await hostsWithIndex(ctx);
  const matching = all.map((h, i) => ({ h, i })).filter(({ h }) => h.name.includes(pattern));
  if (matching.length === 0)
    throw new ApiError(404, `No hypervisor matching ${echo(pattern)} could be found.`);
  const hypervisors = await Promise.all(
    matching.map(async ({ h, i }) => ({
      ...hypervisorView(h, i, ctx.view, false),
      servers: await serversOn(ctx, h.name),
    })),
  );
  return json(200, { hypervisors });
}

/** nova's `/os-hypervisors/statistics` (removed at 2.88, as nova did: 404 from 2.88). */
async function hypervisorStatistics(ctx: RouteContext) {
  if (atLeast(ctx.mv, "2.88")) throw new ApiError(404, "The resource could not be found.");
  const all = await hostsWithIndex(ctx);
  const views = all.map((h, i) => hypervisorView(h, i, ctx.view, true));
  const sum = (k: string) => views.reduce((n, v) => n + Number(v[k] ?? 0), 0);
  const keys = [
    "vcpus",
    "vcpus_used",
    "memory_mb",
    "memory_mb_used",
    "free_ram_mb",
    "local_gb",
    "local_gb_used",
    "free_disk_gb",
    "disk_available_least",
    "running_vms",
    "current_workload",
  ];
  return json(200, {
    hypervisor_statistics: { count: all.length, ...Object.fromEntries(keys.map((k) => [k, sum(k)])) },
  });
}

async function listHosts(ctx: RouteContext) {
  const all = await hostsWithIndex(ctx);
  return json(200, { hosts: all.map((h) => hostView(h, ctx.view)) });
}

/**
 * nova's `/os-hosts/{host}` (what `openstack host show` reads): one resource row for the host's total,
 * one for what is used now and at most, one per project; Lazarus's own view of the host beside it.
 */
async function showHost(ctx: RouteContext) {
  const { host } = await requireHost(ctx, hostName(ctx));
  const row = (project: string, r: { vcpus: number; memoryMiB: number; diskGiB: number }) => ({
    resource: { host: host.name, project, cpu: r.vcpus, memory_mb: r.memoryMiB, disk_gb: r.diskGiB },
  });
  const rows = [row("(total)", host.capacity), row("(used_now)", host.usage), row("(used_max)", host.usage)];
  if (Object.keys(host.claims).length > 0) rows.push(row("lazarus", host.usage));
  return json(200, { host: rows, "lazarus:host": hostView(host, ctx.view) });
}

const HostEvacuateBody = z.strictObject({
  reason: z.string().min(1).max(255).optional(),
  incident_id: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,80}$/)
    .optional(),
});

/** POST /os-hosts/{host}/evacuate: the host-failure flow on the operator's request. */
async function evacuateHost(ctx: RouteContext) {
  const name = hostName(ctx);
  const body = parseOr400(HostEvacuateBody, ctx.req.body?.trim() ? ctx.body() : {}, "evacuate");
  return ctx.once(async (requestId) => {
    await requireHost(ctx, name);
    const machine = ctx.deps.machines.hostEvacuation;
    if (!machine) {
      throw new ApiError(
        501,
        `Host evacuation is not available here: the host-evacuation state machine is not deployed (${stateMachineSpec("host-evacuation").arnEnv} is not set).`,
      );
    }
    const input = {
      host: name,
      ...(body.incident_id !== undefined ? { incidentId: body.incident_id } : {}),
      ...(body.reason !== undefined ? { reason: body.reason } : {}),
    };
    const { executionArn } = await ctx.deps.executions.start(machine, requestId, input);
    return json(
      202,
      { execution: { id: requestId, arn: executionArn, host: name } },
      { "x-lazarus-execution-id": requestId, "x-lazarus-execution-arn": executionArn },
    );
  });
}

const RegisterBody = z.strictObject({
  host: z.looseObject({ name: ResourceName, managed_instance_id: ManagedInstanceId }),
});
const AdoptBody = z.strictObject({ adopt: z.looseObject({}) });
/** `{"sync": {"apply": false}}`: report the drift only (what `lazarus drift` asks); default records it. */
const SyncBody = z.strictObject({ sync: z.strictObject({ apply: z.boolean().default(true) }) });

function inventory(ctx: RouteContext): InventoryOps {
  if (!ctx.deps.inventory) {
    throw new ApiError(
      501,
      "Host registration, adoption and sync are not available here: this API has no inventory functions (functions/inventory).",
    );
  }
  return ctx.deps.inventory;
}

async function registerHost(ctx: RouteContext) {
  const body = parseOr400(RegisterBody, ctx.body(), "");
  return ctx.once(async () => json(201, { host: await inventory(ctx).register(body.host) }));
}

/** DELETE /os-hosts/{host}: deregister (its alarms, its node's name tag, its record); 409 while it holds instances. */
async function deregisterHost(ctx: RouteContext) {
  const name = hostName(ctx);
  return ctx.once(async () => json(200, { deregistered: await inventory(ctx).deregister(name) }));
}

async function adoptHost(ctx: RouteContext) {
  const name = hostName(ctx);
  const body = parseOr400(AdoptBody, ctx.req.body?.trim() ? ctx.body() : { adopt: {} }, "");
  return ctx.once(async () => {
    await requireHost(ctx, name);
    return json(200, { adopted: await inventory(ctx).adopt(name, body.adopt) });
  });
}

async function syncHost(ctx: RouteContext) {
  const name = hostName(ctx);
  const body = parseOr400(SyncBody, ctx.req.body?.trim() ? ctx.body() : { sync: {} }, "");
  await requireHost(ctx, name);
  return json(200, { synced: await inventory(ctx).sync(name, { apply: body.sync.apply }) });
}

function previewOptions(ctx: RouteContext) {
  const policy = ctx.query("policy", z.enum(EVACUATION_POLICIES));
  return {
    policy: policy ?? ctx.deps.evacuationPolicy,
    now: ctx.deps.now(),
    serviceDownSeconds: ctx.deps.serviceDownSeconds,
  };
}

/** GET /os-hosts/{host}/evacuation-plan: where each instance would go if the host died now (read-only). */
async function evacuationPlan(ctx: RouteContext) {
  const { host } = await requireHost(ctx, hostName(ctx));
  return json(200, {
    evacuation_plan: await readEvacuationPreview(ctx.deps.stores, host.name, previewOptions(ctx)),
  });
}

/**
 * GET /os-evacuation-capacity: every single-host failure the fleet could not absorb now; with
 * `?drain=HOST`, also whether HOST can be drained now (issue 32: the drain's own plan, each instance's
 * target and live or cold, and those that would stay with the reason).
 */
async function evacuationCapacity(ctx: RouteContext) {
  const drain = ctx.query("drain", ResourceName);
  const opts = previewOptions(ctx);
  const capacity = await readFleetCapacity(ctx.deps.stores, opts);
  if (drain === undefined) return json(200, { evacuation_capacity: capacity });
  if (!(await ctx.deps.stores.hosts.get(drain)))
    throw new ApiError(404, `Compute host ${drain} could not be found.`);
  return json(200, {
    evacuation_capacity: { ...capacity, drain: await readDrainPreview(ctx.deps.stores, drain, opts) },
  });
}

export const hostRoutes: Route[] = [
  { method: "GET", pattern: "/os-services", handler: listServices },
  { method: "PUT", pattern: "/os-services/{id}", handler: updateService },
  { method: "GET", pattern: "/os-hypervisors", handler: (ctx) => listHypervisors(ctx, false) },
  { method: "GET", pattern: "/os-hypervisors/detail", handler: (ctx) => listHypervisors(ctx, true) },
  { method: "GET", pattern: "/os-hypervisors/statistics", handler: hypervisorStatistics },
  { method: "GET", pattern: "/os-hypervisors/{id}", handler: showHypervisor },
  { method: "GET", pattern: "/os-hypervisors/{id}/servers", handler: hypervisorServers },
  { method: "GET", pattern: "/os-hypervisors/{id}/uptime", handler: hypervisorUptime },
  { method: "GET", pattern: "/os-hosts", handler: listHosts },
  { method: "POST", pattern: "/os-hosts", handler: registerHost },
  { method: "GET", pattern: "/os-hosts/{host}", handler: showHost },
  { method: "DELETE", pattern: "/os-hosts/{host}", handler: deregisterHost },
  { method: "POST", pattern: "/os-hosts/{host}/evacuate", handler: evacuateHost },
  { method: "GET", pattern: "/os-hosts/{host}/evacuation-plan", handler: evacuationPlan },
  { method: "GET", pattern: "/os-evacuation-capacity", handler: evacuationCapacity },
  { method: "POST", pattern: "/os-hosts/{host}/adopt", handler: adoptHost },
  { method: "POST", pattern: "/os-hosts/{host}/sync", handler: syncHost },
];
