/**
 * nova's `POST /servers` and `DELETE /servers/{id}`. A create is checked whole against the catalog
 * (shared/domain/catalog.ts) and the records (server group, ports, volumes, zone) before anything is
 * written; then its create action is recorded with the build (nova's build request: `GET /servers/{id}`
 * shows the server from it until the boot flow has placed it) and the boot state machine started; the
 * answer is nova's 202. A delete runs the same checks as the delete flow's first step, starts that flow,
 * and answers 204 once the flow owns the instance (task deleting) or with the refusal of a racing request.
 * A build that failed before it was placed (NoValidHost) has no host to clean: deleting it only marks it.
 */
import { randomUUID } from "node:crypto";
import { z } from "zod";
import { DEFAULT_NETWORK, findFlavor, findImage, findNetwork } from "#shared/domain/catalog.js";
import type { BuildPort, BuildSpec, BuildVolume } from "#shared/domain/schemas.js";
import { DiskDevice, ResourceName, Uuid } from "#shared/domain/values.js";
import type { BootRequest, DeleteRequest } from "#shared/flow/boot-contract.js";
import { assertDeletable } from "#shared/flow/delete-admission.js";
import { executionArnOf } from "#shared/flow/executions.js";
import { waitForFlow } from "../flow-wait.js";
import { ApiError, type ApiResponse, badRequest, conflict, json, noContent, parseOr400 } from "../http.js";
import { atLeast } from "../microversion.js";
import type { Route, RouteContext } from "../router.js";
import { findServerGroup } from "./fleet.js";
import { ADMIN_PASS_NOT_SET, echo, NovaBoolean, SERVER_BODY_FIELDS, serverId } from "./params.js";

/** A block device of nova's block_device_mapping_v2. */
const BlockDeviceV2 = z.looseObject({
  boot_index: z.union([z.number().int(), z.string(), z.null()]).optional(),
  uuid: z.string().max(255).optional(),
  source_type: z.enum(["volume", "blank", "image", "snapshot"]).optional(),
  destination_type: z.enum(["volume", "local"]).optional(),
  volume_size: z.coerce.number().int().min(1).max(1024).optional(),
  device_name: z.string().max(255).nullable().optional(),
  delete_on_termination: NovaBoolean.optional(),
});

const Network = z.strictObject({
  uuid: z.string().max(255).optional(),
  port: Uuid.optional(),
  fixed_ip: z.string().max(64).optional(),
  tag: z.string().max(60).optional(),
});

const SchedulerHints = z.looseObject({ group: z.string().max(255).optional() });

/** nova's create body (schemas/servers.py base_create and its versions), what Lazarus can honour. */
function createBody(ctx: RouteContext) {
  const { mv } = ctx;
  const server = z.strictObject({
    name: z.string().min(1).max(255),
    imageRef: z.string().max(255).optional(),
    flavorRef: z.union([z.string().min(1).max(255), z.number().int()]).transform(String),
    ...SERVER_BODY_FIELDS,
    networks: z.union([z.literal("auto"), z.literal("none"), z.array(Network).max(8)]).optional(),
    availability_zone: z.string().min(1).max(255).optional(),
    block_device_mapping_v2: z.array(BlockDeviceV2).max(9).optional(),
    config_drive: z.union([NovaBoolean, z.literal("")]).optional(),
    // No key pairs exist (GET /os-keypairs is empty): only "no key" can be asked for.
    key_name: z.null().optional(),
    min_count: z.coerce.number().int().min(1).optional(),
    max_count: z.coerce.number().int().min(1).optional(),
    return_reservation_id: NovaBoolean.optional(),
    security_groups: z.array(z.looseObject({ name: z.string().max(255) })).optional(),
    ...(atLeast(mv, "2.19") ? { description: z.string().max(255).nullable().optional() } : {}),
    ...(atLeast(mv, "2.52") ? { tags: z.array(z.string().max(60)).max(0).optional() } : {}),
    ...(atLeast(mv, "2.74") ? { host: ResourceName.optional() } : {}),
  });
  return z.strictObject({
    server,
    "os:scheduler_hints": SchedulerHints.optional(),
    "OS-SCH-HNT:scheduler_hints": SchedulerHints.optional(),
  });
}
type CreateBody = z.output<ReturnType<typeof createBody>>;

/** nova takes a flavor or image ref as an id or a link ending in one. */
const lastSegment = (ref: string) => ref.replace(/\/+$/, "").split("/").at(-1) ?? ref;

const DEVICES = "bcdefghijklmnopqrstuvwxyz".split("").map((c) => `vd${c}`);

/** The volumes a create asks for, with their guest devices (the next free vdX where none was named). */
function volumesOf(devices: CreateBody["server"]["block_device_mapping_v2"], imageRef: string | undefined) {
  const volumes: BuildVolume[] = [];
  let image: string | undefined = imageRef;
  const used = new Set<string>();
  const named = (d: string | null | undefined) => {
    if (!d) return null;
    const dev = d.replace(/^\/dev\//, "");
    if (!DiskDevice.safeParse(dev).success) throw badRequest(`Invalid device_name ${echo(d)}.`);
    if (dev === "vda") throw badRequest("vda is the root disk's device.");
    return dev;
  };
  for (const d of devices ?? []) {
    const dest = d.destination_type ?? (d.source_type === "image" ? "local" : "volume");
    const boot = d.boot_index !== undefined && d.boot_index !== null && Number(d.boot_index) === 0;
    if (d.source_type === "image" && dest === "local" && boot) {
      if (d.uuid !== undefined) image = d.uuid;
      continue;
    }
    if (boot)
      throw badRequest("Booting from a volume is not supported by Lazarus: give an image (the root disk).");
    if (dest === "local")
      throw badRequest(
        "Local block devices (ephemeral, swap) are not supported by Lazarus: use a blank volume.",
      );
    const device = named(d.device_name);
    const deleteOnTermination = d.delete_on_termination ?? false;
    if (d.source_type === "volume") {
      const id = Uuid.safeParse(d.uuid);
      if (!id.success) throw badRequest("A volume block device needs the volume's uuid.");
      volumes.push({ volumeId: id.data, device: device ?? "", deleteOnTermination });
    } else if (d.source_type === "blank") {
      if (d.volume_size === undefined) throw badRequest("A blank volume needs volume_size.");
      volumes.push({ blankGiB: d.volume_size, device: device ?? "", deleteOnTermination });
    } else {
      throw badRequest(
        `Block devices of source_type ${echo(String(d.source_type))} are not supported by Lazarus.`,
      );
    }
    if (device) {
      if (used.has(device)) throw badRequest(`Device ${device} is given twice.`);
      used.add(device);
    }
  }
  const free = DEVICES.filter((d) => !used.has(d));
  for (const v of volumes) if (v.device === "") v.device = free.shift()!;
  return { volumes, image };
}

/** Everything a create asks for, resolved and checked; a refusal here has written nothing. */
async function buildOf(ctx: RouteContext, body: CreateBody, instanceUuid: string): Promise<BuildSpec> {
  const s = body.server;
  if ((s.min_count ?? 1) > 1 || (s.max_count ?? 1) > 1)
    throw badRequest(
      "min_count and max_count above 1 are not supported by Lazarus: create servers one at a time.",
    );
  if (s.return_reservation_id) throw badRequest("return_reservation_id is not supported by Lazarus.");
  if (s.config_drive === true) throw badRequest("Config drives are not supported by Lazarus.");
  for (const g of s.security_groups ?? [])
    if (g.name !== "default") throw badRequest(`Security group ${echo(g.name)} not found (only "default").`);
  const name = ResourceName.safeParse(s.name);
  if (!name.success)
    throw badRequest(`Invalid server name ${echo(s.name)}: ${name.error.issues[0]?.message}.`);
  const flavor = findFlavor(lastSegment(s.flavorRef));
  if (!flavor) throw badRequest(`Flavor ${echo(s.flavorRef)} could not be found.`);
  const { volumes, image: imageRef } = volumesOf(s.block_device_mapping_v2, s.imageRef);
  if (!imageRef) throw badRequest("An image (imageRef) is required: Lazarus boots from an image only.");
  const image = findImage(lastSegment(imageRef));
  if (!image || image.id !== lastSegment(imageRef))
    throw badRequest(`Image ${echo(imageRef)} could not be found.`);
  if (flavor.diskGiB < image.minDiskGiB)
    throw badRequest(
      `Flavor's disk is too small for requested image. Flavor disk is ${flavor.diskGiB}G, minimum is ${image.minDiskGiB}G.`,
    );
  if (flavor.memoryMiB < image.minRamMiB)
    throw badRequest(`Flavor's memory is too small for requested image.`);

  const ports: BuildPort[] = [];
  const networks = s.networks ?? "auto";
  if (networks === "auto") ports.push({ network: DEFAULT_NETWORK.name });
  else if (networks !== "none") {
    for (const n of networks) {
      if (n.port) {
        const port = await ctx.deps.stores.ports.get(n.port);
        if (!port) throw badRequest(`Port ${n.port} could not be found.`);
        if (port.instanceUuid !== null) throw conflict(`Port ${n.port} is still in use.`);
        ports.push({ portId: n.port });
      } else if (n.uuid) {
        const network = findNetwork(n.uuid);
        if (!network) throw badRequest(`Network ${echo(n.uuid)} could not be found.`);
        ports.push({ network: network.name });
      } else throw badRequest("A network needs a uuid or a port.");
    }
  }
  for (const v of volumes) {
    if (!("volumeId" in v)) continue;
    const volume = await ctx.deps.stores.volumes.get(v.volumeId);
    if (!volume) throw badRequest(`Volume ${v.volumeId} could not be found.`);
    if (volume.status !== "available")
      throw badRequest(`Volume ${v.volumeId} is ${volume.status}, not available.`);
  }

  // "zone", "zone:host" (nova's forced host for an admin) or 2.74's `host`. Read by key: the fleet's zones
  // (one item each) and the host asked for, never the hosts table.
  const [zone, zoneHost] = (s.availability_zone ?? "").split(":");
  const availabilityZone = zone ? zone : null;
  if (availabilityZone && !(await ctx.deps.stores.hosts.fleet.zones()).includes(availabilityZone))
    throw badRequest(`The requested availability zone is not available: ${echo(availabilityZone)}.`);
  const host = (s as { host?: string }).host ?? (zoneHost || null);
  if (host && !(await ctx.deps.stores.hosts.get(host)))
    throw badRequest(`Compute host ${echo(host)} could not be found.`);

  const hint = body["os:scheduler_hints"]?.group ?? body["OS-SCH-HNT:scheduler_hints"]?.group;
  const serverGroup = hint === undefined ? null : await findServerGroup(ctx, hint);
  if (hint !== undefined && !serverGroup)
    throw badRequest(`Invalid server group ${echo(hint)}: it has no members.`);

  return {
    instanceUuid,
    name: name.data,
    flavorId: flavor.id,
    imageRef: image.id,
    availabilityZone,
    host,
    ports,
    volumes,
    serverGroup,
    metadata: s.metadata ?? {},
    haEnabled: true,
    stopped: false,
  };
}

async function createServer(ctx: RouteContext): Promise<ApiResponse> {
  const body = parseOr400(createBody(ctx), ctx.body(), "");
  return ctx.once(async (requestId) => {
    const { deps } = ctx;
    const machine = deps.machines.boot;
    if (!machine)
      throw new ApiError(
        501,
        "Creating servers is not available: the boot state machine is not deployed here.",
      );
    // A request taken over from a holder that died finds its own action (and so its instance uuid).
    const earlier = await deps.stores.actions.get(requestId);
    const instanceUuid = earlier?.instanceUuid ?? randomUUID();
    const build = earlier?.build?.spec ?? (await buildOf(ctx, body, instanceUuid));
    const executionArn = executionArnOf(machine, requestId);
    const at = deps.now().toISOString();
    await deps.stores.actions.open({
      id: requestId,
      instanceUuid,
      action: "create",
      startTime: at,
      message: null,
      // An admin password goes nowhere (no guest agent): the action says it was not set.
      events:
        body.server.adminPass === undefined
          ? []
          : [
              {
                event: "compute_set_admin_password",
                startTime: at,
                finishTime: at,
                result: "Error",
                traceback: ADMIN_PASS_NOT_SET,
                host: null,
              },
            ],
      executionArn,
      build: { spec: build, status: "building", fault: null },
    });
    const input: BootRequest = { requestId, build };
    await deps.executions.start(machine, requestId, input);
    const server = {
      id: instanceUuid,
      links: [
        { rel: "self", href: `${ctx.view.baseUrl}/v2.1/servers/${instanceUuid}` },
        { rel: "bookmark", href: `${ctx.view.baseUrl}/servers/${instanceUuid}` },
      ],
      "OS-DCF:diskConfig": "MANUAL",
      security_groups: [{ name: "default" }],
    };
    return json(
      202,
      { server },
      {
        location: `${ctx.view.baseUrl}/v2.1/servers/${instanceUuid}`,
        "x-lazarus-execution-id": requestId,
        "x-openstack-request-id": `req-${requestId}`,
      },
    );
  });
}

async function deleteServer(ctx: RouteContext): Promise<ApiResponse> {
  const id = serverId(ctx);
  const { deps } = ctx;
  const instance = await deps.stores.instances.get(id);
  if (!instance) return deleteUnplaced(ctx, id);
  return ctx.once(async (requestId) => {
    const current = await deps.stores.instances.get(id);
    // A retry that took over from a holder that died after starting the flow finds the task taken.
    const ownedAlready = current?.taskState === "deleting" && current.taskRequestId === requestId;
    if (!ownedAlready) {
      const host = current ? await deps.stores.hosts.get(current.host) : null;
      assertDeletable(current, host, { now: deps.now(), serviceDownSeconds: deps.serviceDownSeconds }, id);
    }
    const machine = deps.machines.delete;
    if (!machine)
      throw new ApiError(
        501,
        "Deleting servers is not available: the delete state machine is not deployed here.",
      );
    const input: DeleteRequest = { requestId, instanceUuid: id };
    const { executionArn } = await deps.executions.start(machine, requestId, input);
    await waitForFlow(ctx, executionArn, async () => {
      const now = await deps.stores.instances.get(id);
      return (
        (now?.taskState === "deleting" && now.taskRequestId === requestId) || now?.lastRequestId === requestId
      );
    });
    return noContent(204, {
      "x-lazarus-execution-id": requestId,
      "x-openstack-request-id": `req-${requestId}`,
    });
  });
}

/** A server that has no instance record: a build not placed (yet), or nothing. */
async function deleteUnplaced(ctx: RouteContext, id: string): Promise<ApiResponse> {
  const { actions } = ctx.deps.stores;
  const build = (await actions.listByInstance(id)).find((a) => a.build && a.build.status !== "deleted");
  if (!build?.build || build.build.status === "placed")
    throw new ApiError(404, `Instance ${echo(id)} could not be found.`);
  if (build.build.status === "building")
    throw conflict(`Instance ${id} is being scheduled: delete it once it has a host (a moment).`);
  await actions.update(build.id, (a) => ({ build: a.build && { ...a.build, status: "deleted" } }));
  return noContent(204);
}

export const serverLifecycleRoutes: Route[] = [
  { method: "POST", pattern: "/servers", handler: createServer },
  { method: "DELETE", pattern: "/servers/{id}", handler: deleteServer },
];
