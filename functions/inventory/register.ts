/**
 * Host registration (nova: a compute service and its resource provider appear when nova-compute first
 * reports). A host is an SSM managed instance carrying the Lazarus KVM host tag; registering it reads
 * its CPUs, memory and virt types from libvirt, its storage folders and their file system, and its
 * settings file, then writes the host record. Every check runs before the one write: a host that is
 * unknown to SSM, offline, untagged, or missing a folder is refused and nothing is written.
 * Registering again refreshes capacity and settings and keeps claims, usage and service status.
 *
 * Then, with no redeploy: the host's alarms are created in CloudWatch (its heartbeat alarm, whose ALARM
 * starts host-evacuation, and its instance monitor's), the managed node is tagged with the host's name, and
 * the report carries the host's configuration file and the commands that install and start its agent.
 */
import { z } from "zod";
import { HOST_NAME_TAG_KEY, KVM_HOST_TAG_KEY, KVM_HOST_TAG_VALUE } from "#shared/definitions/host-tag.js";
import {
  HostNotTagged,
  HostRegistrationConflict,
  HostUnreachable,
  InvalidInput,
} from "#shared/domain/errors.js";
import { DEFAULT_ALLOCATION_RATIOS } from "#shared/domain/host-record.js";
import {
  AllocationRatios,
  type Host,
  HostFencing,
  HostFencingFields,
  HostLiveMigration,
  NO_FENCING,
  Resources,
} from "#shared/domain/schemas.js";
import { AbsolutePath, ManagedInstanceId, ResourceName } from "#shared/domain/values.js";
import {
  type HostFacts,
  hostFactsScript,
  parseHostFacts,
  parseStorageCheck,
  storageCheckScript,
} from "#shared/hosts/host-facts.js";
import { validated } from "#shared/hosts/validate.js";
import type { HostRegistration } from "#shared/store/index.js";
import type { InventoryDeps } from "./deps.js";
import { type HostSetup, hostSetup } from "./host-setup.js";

const GiB = 1024 ** 3;

export const RegisterHostRequest = z.object({
  managedInstanceId: ManagedInstanceId,
  /** Compute host name; default: the machine's name as SSM reports it. */
  name: ResourceName.optional(),
  /** Every field below defaults to the host's settings file, then to the documented default. */
  availabilityZone: ResourceName.optional(),
  allocationRatios: AllocationRatios.partial().optional(),
  /** Kept back for the host itself (nova's reserved_host_cpus / _memory_mb / _disk_mb). */
  reserved: Resources.partial().optional(),
  supportsRecreate: z.boolean().optional(),
  /**
   * How the host's death can be proven before its instances start elsewhere (issue 16): `power: "ec2"` for
   * an EC2 bare-metal host (`i-...`) the fence may stop, `watchdog` when it runs the lease watchdog,
   * `diskLocks` when its shared pool enforces the disk image lock. Unset fields are none/false; not given
   * here nor in the settings file: a known host keeps what it has, a new one gets none (nothing is started
   * elsewhere on a guess: its instances wait "fencing required"). `power: "ipmi" | "redfish"` needs `bmc`
   * (address, port, BMC network, user, and a reference to the password: never the password itself);
   * `bmcNetworks` names the BMC networks this host reaches, as a delegate that fences the hosts on them.
   */
  fencing: HostFencingFields.partial().optional(),
  /**
   * How other hosts live-migrate a guest here (issue 32: nova's live_migration_uri and inbound address).
   * Not given here nor in the settings file: a known host keeps what it has, a new one takes cold
   * migrations only.
   */
  liveMigration: HostLiveMigration.optional(),
  storage: z
    .object({
      instancesPath: AbsolutePath.optional(),
      imageCachePath: AbsolutePath.optional(),
      volumesPath: AbsolutePath.optional(),
      sharedPoolId: ResourceName.nullable().optional(),
    })
    .optional(),
});
export type RegisterHostRequest = z.input<typeof RegisterHostRequest>;

export interface RegisterHostReport {
  host: Host;
  /** The host's alarms, created (or updated) in CloudWatch by this registration. */
  alarms: string[];
  /** The tags put on the managed node (none on an EC2 instance: its tags are EC2's). */
  tags: Record<string, string>;
  /** /etc/lazarus/host.json for the host and the commands that install and start its agent. */
  setup: HostSetup;
  outcome: "created" | "updated" | "unchanged";
  /** The registration fields that differed from the record (an operator sees what a re-registration changed). */
  changed: string[];
  /** What was read from the host. */
  facts: {
    cpus: number;
    memoryMiB: number;
    instancesFsGiB: number;
    domainTypes: string[];
    settingsFile: boolean;
  };
}

export async function registerHost(
  deps: InventoryDeps,
  input: RegisterHostRequest,
): Promise<RegisterHostReport> {
  const req = validated(RegisterHostRequest, "registerHost", input);
  const id = req.managedInstanceId;
  // The request's fencing is checked whole before anything is asked of the host (a BMC fence needs its BMC).
  const requestedFencing = req.fencing
    ? validated(HostFencing, "fencing", { ...NO_FENCING, ...req.fencing })
    : undefined;

  const info = await deps.directory.describe(id);
  if (!info) {
    throw new HostUnreachable(`managed instance ${id} is not known to SSM: register its agent first`, {
      managedInstanceId: id,
      reason: "not-managed",
    });
  }
  if (info.pingStatus !== "Online") {
    throw new HostUnreachable(
      `managed instance ${id}: its SSM agent is ${info.pingStatus}; registration needs it online`,
      {
        managedInstanceId: id,
        reason: info.pingStatus,
      },
    );
  }
  if (!info.tagged) {
    throw new HostNotTagged(
      `managed instance ${id} is not tagged ${KVM_HOST_TAG_KEY}=${KVM_HOST_TAG_VALUE}: it is not a Lazarus KVM host`,
      { managedInstanceId: id, tagKey: KVM_HOST_TAG_KEY, tagValue: KVM_HOST_TAG_VALUE },
    );
  }
  const name = req.name ?? info.computerName;
  if (!name) throw new InvalidInput(`managed instance ${id} reports no computer name: give the host a name`);
  const hostName = validated(ResourceName, "name", name);
  const target = { name: hostName, managedInstanceId: id };

  const facts: HostFacts = parseHostFacts(
    (await deps.executor.run(target, hostFactsScript(), { comment: "lazarus register: host facts" })).stdout,
  );
  const cfg = facts.config ?? {};
  const storage = {
    instancesPath: req.storage?.instancesPath ?? cfg.instancesPath,
    imageCachePath: req.storage?.imageCachePath ?? cfg.imageCachePath,
    volumesPath: req.storage?.volumesPath ?? cfg.volumesPath,
    sharedPoolId:
      req.storage?.sharedPoolId !== undefined ? req.storage.sharedPoolId : (cfg.sharedPoolId ?? null),
  };
  const unset = (["instancesPath", "imageCachePath", "volumesPath"] as const).filter(
    (k) => storage[k] === undefined,
  );
  if (unset.length > 0) {
    throw new InvalidInput(
      `host ${hostName}: ${unset.join(", ")} given neither in the request nor in the host's settings file`,
      { host: hostName, missing: unset },
    );
  }
  const folders = [storage.instancesPath!, storage.imageCachePath!, storage.volumesPath!];
  const check = parseStorageCheck(
    (
      await deps.executor.run(target, storageCheckScript(storage.instancesPath!, folders), {
        comment: "lazarus register: storage",
      })
    ).stdout,
  );
  if (check.missing.length > 0) {
    throw new InvalidInput(`host ${hostName}: storage folders missing: ${check.missing.join(", ")}`, {
      host: hostName,
      missing: check.missing,
    });
  }

  await refuseIdTakenByAnotherName(deps, hostName, id);
  const reserved = { vcpus: 0, memoryMiB: 0, diskGiB: 0, ...req.reserved };
  const memoryMiB = Math.floor(facts.node.memoryKiB / 1024);
  const diskGiB = Math.floor(check.instancesFsBytes / GiB);
  const fencing =
    requestedFencing ??
    (cfg.fencing
      ? validated(HostFencing, "settings file fencing", { ...NO_FENCING, ...cfg.fencing })
      : undefined);
  if (fencing?.power === "ec2" && !id.startsWith("i-")) {
    throw new InvalidInput(
      `host ${hostName}: the ec2 power fence needs an EC2 instance (i-...); ${id} is a hybrid-activated machine: fence it through its power controller or set power "none"`,
      { host: hostName, managedInstanceId: id },
    );
  }
  const liveMigration = req.liveMigration ?? cfg.liveMigration;
  const registration: HostRegistration = {
    name: hostName,
    managedInstanceId: id,
    // nova's virt_type: kvm where libvirt offers it (a working /dev/kvm), else TCG.
    virtType: facts.domainTypes.includes("kvm") ? "kvm" : "qemu",
    supportsRecreate: req.supportsRecreate ?? cfg.supportsRecreate ?? true,
    availabilityZone: req.availabilityZone ?? cfg.availabilityZone ?? "nova",
    capacity: {
      vcpus: Math.max(0, facts.node.cpus - reserved.vcpus),
      memoryMiB: Math.max(0, memoryMiB - reserved.memoryMiB),
      diskGiB: Math.max(0, diskGiB - reserved.diskGiB),
    },
    allocationRatios: { ...DEFAULT_ALLOCATION_RATIOS, ...req.allocationRatios },
    storage: {
      instancesPath: storage.instancesPath!,
      imageCachePath: storage.imageCachePath!,
      volumesPath: storage.volumesPath!,
      sharedPoolId: storage.sharedPoolId,
    },
    ...(fencing ? { fencing } : {}),
    ...(liveMigration ? { liveMigration } : {}),
  };
  const { host, outcome, changed } = await deps.stores.hosts.register(registration);
  // After the record: a re-run of a registration that failed here completes it (both calls are idempotent).
  const alarms = await deps.alarms.put(host.name);
  const nameTag = { [HOST_NAME_TAG_KEY]: host.name };
  const tags = (await deps.directory.tag(id, nameTag)) ? nameTag : {};
  return {
    host,
    alarms,
    tags,
    setup: hostSetup(host, facts.config, deps.deployment),
    outcome,
    changed,
    facts: {
      cpus: facts.node.cpus,
      memoryMiB,
      instancesFsGiB: diskGiB,
      domainTypes: facts.domainTypes,
      settingsFile: facts.config !== null,
    },
  };
}

async function refuseIdTakenByAnotherName(deps: InventoryDeps, name: string, id: string): Promise<void> {
  // The by-managed-instance index (eventually consistent in AWS: two registrations of one node racing
  // within that lag could both pass; the host name, the item's key, is still unique).
  const other = await deps.stores.hosts.nameByManagedInstance(id, name);
  if (other) {
    throw new HostRegistrationConflict(`managed instance ${id} is already registered as host ${other}`, {
      managedInstanceId: id,
      host: other,
      requested: name,
    });
  }
}
