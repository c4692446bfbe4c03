/**
 * nova's response shapes, built from Lazarus's records at the requested microversion. Field names are
 * nova's (what novaclient and openstackclient read); `lazarus:` fields are this API's additions.
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import { findFlavor, flavorOf } from "#shared/domain/catalog.js";
import { resourceLimit } from "#shared/domain/claim-policy.js";
import { isHostUp } from "#shared/domain/host-liveness.js";
import { deterministicUuid } from "#shared/domain/ids.js";
import { type Host, Instance, type InstanceAction, type Migration } from "#shared/domain/schemas.js";
import { isMigrationTask, isRebuildTask, type PowerState, type VmState } from "#shared/domain/states.js";
import { atLeast, type Microversion } from "./microversion.js";

export interface ViewContext {
  mv: Microversion;
  baseUrl: string;
  now: Date;
  serviceDownSeconds: number;
}

export const PROJECT = "lazarus";

/** nova's timestamps: ISO 8601 without the fraction, with Z (servers) ... */
export const novaTime = (iso: string | null) => (iso === null ? null : `${iso.slice(0, 19)}Z`);
/** ... and without a zone, with microseconds (migrations, services, actions). */
export const novaDbTime = (iso: string | null) =>
  iso === null ? null : `${iso.slice(0, 19)}.${iso.slice(20, 23)}000`;

const STATUS_OF_VM_STATE: Record<VmState, string> = {
  building: "BUILD",
  active: "ACTIVE",
  stopped: "SHUTOFF",
  resized: "VERIFY_RESIZE",
  paused: "PAUSED",
  suspended: "SUSPENDED",
  error: "ERROR",
  deleted: "DELETED",
};
/** nova's power_state integers (nova/compute/power_state.py). */
const POWER_STATE_CODE: Record<PowerState, number> = {
  nostate: 0,
  running: 1,
  paused: 3,
  shutdown: 4,
  crashed: 6,
  suspended: 7,
};

/**
 * The `status` nova shows: REBUILD while a rebuild task runs, MIGRATING during a live migration, RESIZE
 * during a cold one, REVERT_RESIZE while it is reverted, else from vm_state (VERIFY_RESIZE once moved).
 */
export function serverStatus(i: Pick<ServerRecord, "vmState" | "taskState">): string {
  if (isRebuildTask(i.taskState)) return "REBUILD";
  if (i.taskState === "migrating") return "MIGRATING";
  if (i.taskState === "resize_reverting") return "REVERT_RESIZE";
  if (isMigrationTask(i.taskState)) return "RESIZE";
  return STATUS_OF_VM_STATE[i.vmState];
}

export const SERVER_STATUSES = [
  ...new Set([...Object.values(STATUS_OF_VM_STATE), "REBUILD", "MIGRATING", "RESIZE", "REVERT_RESIZE"]),
];

function links(ctx: ViewContext, collection: string, id: string) {
  return [
    { rel: "self", href: `${ctx.baseUrl}/v2.1/${collection}/${id}` },
    { rel: "bookmark", href: `${ctx.baseUrl}/${collection}/${id}` },
  ];
}

function hostStatus(host: Host | undefined, ctx: ViewContext): string {
  if (!host) return "UNKNOWN";
  if (!isHostUp(host, ctx.now, ctx.serviceDownSeconds)) return "DOWN";
  return host.enabled ? "UP" : "MAINTENANCE";
}

/**
 * What a server view is made of: an instance record, or a build not placed on a host yet (no host, no
 * node: shared/domain/schemas.ts InstanceAction.build, nova's build request).
 */
export type ServerRecord = Omit<Instance, "host" | "node"> & { host: string | null; node: string | null };

export function serverSummary(i: Pick<ServerRecord, "uuid" | "name">, ctx: ViewContext) {
  return { id: i.uuid, name: i.name, links: links(ctx, "servers", i.uuid) };
}

/** A build not placed yet as the record it will be: BUILD while scheduling, ERROR with its fault when it failed. */
export function unplacedServer(a: InstanceAction): ServerRecord {
  const build = a.build!;
  const flavor = findFlavor(build.spec.flavorId);
  const failed = build.status === "failed";
  return Instance.omit({ host: true, node: true })
    .extend({ host: z.null(), node: z.null() })
    .parse({
      uuid: build.spec.instanceUuid,
      name: build.spec.name,
      host: null,
      node: null,
      availabilityZone: build.spec.availabilityZone ?? "nova",
      flavor: flavor
        ? { vcpus: flavor.vcpus, memoryMiB: flavor.memoryMiB, diskGiB: flavor.diskGiB }
        : { vcpus: 1, memoryMiB: 1, diskGiB: 1 },
      flavorId: build.spec.flavorId,
      imageRef: build.spec.imageRef,
      vmState: failed ? "error" : "building",
      taskState: failed ? null : "scheduling",
      powerState: "nostate",
      ports: [],
      volumes: [],
      serverGroup: build.spec.serverGroup,
      haEnabled: build.spec.haEnabled,
      onSharedStorage: null,
      launchedAt: null,
      createdAt: a.startTime,
      updatedAt: a.updatedAt,
      version: a.version,
      fault: build.fault,
      metadata: build.spec.metadata,
    });
}

export function serverDetail(i: ServerRecord, ctx: ViewContext, host: Host | undefined) {
  const { mv } = ctx;
  const flavor = atLeast(mv, "2.47")
    ? {
        vcpus: i.flavor.vcpus,
        ram: i.flavor.memoryMiB,
        disk: i.flavor.diskGiB,
        ephemeral: 0,
        swap: 0,
        original_name: flavorName(i),
        extra_specs: {},
      }
    : { id: flavorName(i), links: [] };
  const view: Record<string, unknown> = {
    ...serverSummary(i, ctx),
    status: serverStatus(i),
    tenant_id: PROJECT,
    user_id: PROJECT,
    hostId: i.host === null ? "" : createHash("sha224").update(`${PROJECT}${i.host}`).digest("hex"),
    image: { id: i.imageRef, links: [{ rel: "bookmark", href: `${ctx.baseUrl}/images/${i.imageRef}` }] },
    flavor,
    addresses: {},
    metadata: i.metadata,
    key_name: null,
    accessIPv4: "",
    accessIPv6: "",
    config_drive: "",
    progress: 0,
    created: novaTime(i.createdAt),
    updated: novaTime(i.updatedAt),
    "OS-DCF:diskConfig": "MANUAL",
    "OS-EXT-AZ:availability_zone": i.availabilityZone,
    "OS-EXT-SRV-ATTR:host": i.host,
    "OS-EXT-SRV-ATTR:hypervisor_hostname": i.node,
    "OS-EXT-SRV-ATTR:instance_name": `instance-${i.uuid}`,
    "OS-EXT-STS:vm_state": i.vmState,
    "OS-EXT-STS:task_state": i.taskState,
    "OS-EXT-STS:power_state": POWER_STATE_CODE[i.powerState],
    "OS-SRV-USG:launched_at": i.launchedAt === null ? null : novaDbTime(i.launchedAt),
    "OS-SRV-USG:terminated_at": null,
    "os-extended-volumes:volumes_attached": i.volumes.map((v) =>
      atLeast(mv, "2.3")
        ? { id: v.volumeId, delete_on_termination: v.deleteOnTermination }
        : { id: v.volumeId },
    ),
    "lazarus:ha_enabled": i.haEnabled,
    "lazarus:ha_priority": i.haPriority,
    "lazarus:server_group": i.serverGroup,
    "lazarus:task_request_id": i.taskRequestId,
    // "Fencing required" (shared/domain/schemas.ts FencingRequiredState): not ERROR, so nova's `fault` is not
    // shown; this says which host still holds the instance and what to do.
    "lazarus:fencing_required": i.fencingRequired
      ? {
          host: i.fencingRequired.host,
          refused_by: i.fencingRequired.refusedBy,
          since: novaTime(i.fencingRequired.since),
          message: i.fault?.error === "FencingRequired" ? i.fault.message : null,
        }
      : null,
    // Hosts a failed flow could not prove clean (each keeps that flow's claim): the next evacuation cleans
    // them first, or `lazarus:cleanTarget` ends one.
    "lazarus:unclean_targets": i.uncleanTargets.map((t) => t.host),
  };
  if (atLeast(mv, "2.3")) {
    view["OS-EXT-SRV-ATTR:hostname"] = i.name;
    view["OS-EXT-SRV-ATTR:reservation_id"] = `r-${i.uuid.slice(0, 8)}`;
    view["OS-EXT-SRV-ATTR:launch_index"] = 0;
    view["OS-EXT-SRV-ATTR:root_device_name"] = "/dev/vda";
  }
  if (atLeast(mv, "2.9")) view.locked = i.locked;
  if (atLeast(mv, "2.16")) view.host_status = hostStatus(host, ctx);
  if (atLeast(mv, "2.19")) view.description = null;
  if (atLeast(mv, "2.26")) view.tags = [];
  if (atLeast(mv, "2.63")) view.trusted_image_certificates = null;
  if (atLeast(mv, "2.73")) view.locked_reason = null;
  if (atLeast(mv, "2.96")) view.pinned_availability_zone = null;
  // nova shows the fault only for an instance in ERROR (or DELETED).
  if (i.fault && (i.vmState === "error" || i.vmState === "deleted")) {
    view.fault = {
      code: i.fault.code,
      message: i.fault.message,
      created: novaTime(i.fault.createdAt),
      details: `${i.fault.error} in step ${i.fault.step}`,
    };
  }
  return view;
}

/** The catalog flavor it was built with, or the one with its resources, else a name made of them. */
export function flavorName(i: Pick<ServerRecord, "flavor" | "flavorId">): string {
  return (
    i.flavorId ?? flavorOf(i.flavor)?.id ?? `lz.${i.flavor.vcpus}c${i.flavor.memoryMiB}m${i.flavor.diskGiB}g`
  );
}

export const migrationTypeOf = (m: Migration) => m.type;

/** What admitted an evacuation (power, lease, operator, lock, relocation), as the API shows it. */
export function proofView(m: Migration) {
  return m.proof ? { kind: m.proof.kind, detail: m.proof.detail } : null;
}

export function migrationView(m: Migration, ctx: ViewContext) {
  const view: Record<string, unknown> = {
    id: m.id,
    instance_uuid: m.instanceUuid,
    source_compute: m.sourceHost,
    source_node: m.sourceNode,
    dest_compute: m.destHost,
    dest_node: m.destNode,
    dest_host: m.destHost,
    status: m.status,
    migration_type: m.type,
    old_instance_type_id: null,
    new_instance_type_id: null,
    created_at: novaDbTime(m.createdAt),
    updated_at: novaDbTime(m.updatedAt),
    "lazarus:attempted_hosts": m.attemptedHosts,
    "lazarus:error": m.error,
    "lazarus:proof": proofView(m),
  };
  if (atLeast(ctx.mv, "2.59")) view.uuid = m.id;
  if (atLeast(ctx.mv, "2.80")) {
    view.user_id = PROJECT;
    view.project_id = PROJECT;
  }
  return view;
}

/** Service and hypervisor ids: an integer before 2.53, a stable UUID from 2.53. */
export function serviceId(host: Host, index: number, ctx: ViewContext): string | number {
  return atLeast(ctx.mv, "2.53") ? serviceUuid(host.name) : index + 1;
}

export const serviceUuid = (hostName: string) => deterministicUuid("lazarus-compute-service", hostName);

export function serviceView(host: Host, index: number, ctx: ViewContext) {
  const view: Record<string, unknown> = {
    id: serviceId(host, index, ctx),
    binary: "nova-compute",
    host: host.name,
    zone: host.availabilityZone,
    status: host.enabled ? "enabled" : "disabled",
    state: isHostUp(host, ctx.now, ctx.serviceDownSeconds) ? "up" : "down",
    updated_at: novaDbTime(host.lastHeartbeatAt),
    disabled_reason: host.disabledReason,
  };
  if (atLeast(ctx.mv, "2.11")) view.forced_down = host.forcedDown;
  return view;
}

export function hypervisorView(host: Host, index: number, ctx: ViewContext, detail: boolean) {
  const view: Record<string, unknown> = {
    id: serviceId(host, index, ctx),
    hypervisor_hostname: host.name,
    state: isHostUp(host, ctx.now, ctx.serviceDownSeconds) ? "up" : "down",
    status: host.enabled ? "enabled" : "disabled",
  };
  if (!detail) return view;
  Object.assign(view, {
    hypervisor_type: host.virtType.toUpperCase(),
    hypervisor_version: 8002000,
    host_ip: null,
    service: { id: serviceId(host, index, ctx), host: host.name, disabled_reason: host.disabledReason },
  });
  // 2.88 dropped the usage fields from nova's hypervisors (placement has them); /os-hosts always has them.
  if (!atLeast(ctx.mv, "2.88")) {
    const limit = (k: "vcpus" | "memoryMiB" | "diskGiB") => resourceLimit(host, k);
    Object.assign(view, {
      vcpus: limit("vcpus"),
      vcpus_used: host.usage.vcpus,
      memory_mb: limit("memoryMiB"),
      memory_mb_used: host.usage.memoryMiB,
      free_ram_mb: limit("memoryMiB") - host.usage.memoryMiB,
      local_gb: limit("diskGiB"),
      local_gb_used: host.usage.diskGiB,
      free_disk_gb: limit("diskGiB") - host.usage.diskGiB,
      disk_available_least: limit("diskGiB") - host.usage.diskGiB,
      running_vms: Object.keys(host.claims).length,
      current_workload: 0,
      cpu_info: "{}",
    });
  }
  return view;
}

/** Lazarus's host view (`/os-hosts`): the compute service, its capacity, limits and usage. */
export function hostView(host: Host, ctx: ViewContext) {
  const kinds = { vcpus: "vcpus", memory_mb: "memoryMiB", disk_gb: "diskGiB" } as const;
  const pick = (f: (k: (typeof kinds)[keyof typeof kinds]) => number) =>
    Object.fromEntries(Object.entries(kinds).map(([name, k]) => [name, f(k)]));
  return {
    host_name: host.name,
    zone: host.availabilityZone,
    service: "nova-compute",
    enabled: host.enabled,
    disabled_reason: host.disabledReason,
    forced_down: host.forcedDown,
    // Why it is forced down: the proof of its death (power, lease, operator), when and what said so.
    death_proof: host.deathProof
      ? {
          kind: host.deathProof.kind,
          at: host.deathProof.at,
          incident_id: host.deathProof.incidentId,
          detail: host.deathProof.detail,
        }
      : null,
    state: isHostUp(host, ctx.now, ctx.serviceDownSeconds) ? "up" : "down",
    last_heartbeat_at: host.lastHeartbeatAt,
    managed_instance_id: host.managedInstanceId,
    hypervisor_type: host.virtType.toUpperCase(),
    shared_pool: host.storage.sharedPoolId,
    capacity: pick((k) => host.capacity[k]),
    limits: pick((k) => resourceLimit(host, k)),
    usage: pick((k) => host.usage[k]),
    instances: Object.keys(host.claims).length,
    /** Planned maintenance (issue 32): draining, maintenance or incomplete, and since when; null: none. */
    maintenance: host.maintenance
      ? {
          state: host.maintenance.state,
          reason: host.maintenance.reason,
          since: host.maintenance.since,
          execution: host.maintenance.executionName,
          moved: host.maintenance.moved.length,
        }
      : null,
    live_migration: host.liveMigration !== null,
    // What can prove the host dead if it goes silent (shared/domain/fencing.ts), and the incident it is in.
    fencing: {
      power: host.fencing.power,
      watchdog: host.fencing.watchdog,
      disk_locks: host.fencing.diskLocks,
    },
    incident: host.incident && {
      id: host.incident.id,
      status: host.incident.status,
      source: host.incident.source,
      opened_at: host.incident.openedAt,
    },
    // What the last recording fleet sync left for an operator here (unknown and missing domains).
    drift: host.drift && {
      at: host.drift.at,
      unknown_domains: host.drift.unknownDomains.map((d) => ({
        uuid: d.uuid,
        recorded_host: d.recordedHost,
      })),
      missing_domains: host.drift.missingDomains.map((d) => ({
        instance_uuid: d.instanceUuid,
        name: d.name,
      })),
    },
  };
}
