/**
 * VMs the way a user's fleet has them: defined by hand with `virsh` on the host (as the host's own user,
 * not through Lazarus or SSM), disks made with qemu-img, autostart on as libvirt users usually leave it,
 * then brought into Lazarus by adoption. The demo and the tests boot through here so that the adoption
 * path is the one exercised (the chaos run too); `boot.ts` (records written directly) remains for the benchmark.
 */
import { randomUUID } from "node:crypto";
import { type AdoptHostReport, adoptHost, adoptionClaimOwner } from "#functions/inventory/adopt.js";
import type { InventoryDeps } from "#functions/inventory/deps.js";
import { registerHost } from "#functions/inventory/register.js";
import type { Flavor, Instance, ServerGroup } from "#shared/domain/schemas.js";
import { buildDomainXml } from "#shared/hosts/domain-xml.js";
import type { HostExecutor } from "#shared/hosts/executor.js";
import { DEFAULT_FLAVOR, randomMac } from "./boot.js";
import type { LocalCloud } from "./cloud.js";
import type { LocalHost } from "./hosts/local-host.js";
import { createBlank, createOverlay, shellCommand, shellScript, writeFileCommand } from "./hosts/shell.js";

export interface HandDefinedDomain {
  /** The libvirt domain name (becomes the instance name). */
  name: string;
  host: string;
  uuid?: string;
  flavor?: Flavor;
  imageRef?: string;
  /** How many NICs (user-mode, virtio), or their MACs. */
  nics?: number | string[];
  /** Extra disks: raw files `<volumesPath>/<name>.img`, attached at `device`. */
  volumes?: { name: string; sizeGiB: number; device: string }[];
  /** Defined only, not started. */
  stopped?: boolean;
  /** `virsh autostart` on (default true, as many fleets have it). */
  autostart?: boolean;
  /** Raw XML put inside `<devices>` (a test's passthrough device); not escaped: test input only. */
  extraDevicesXml?: string;
  /**
   * Lazarus's own policy for the instance, facts libvirt does not hold: adoption records the defaults
   * (HA on, priority 0, no server group) and these are then set on the record, as an operator does.
   */
  policy?: InstancePolicy;
}

export interface InstancePolicy {
  haEnabled?: boolean;
  /** Restart order after a host failure (higher first). */
  haPriority?: number;
  /** Membership of a server group: the adoption claim is made again with the group in it. */
  serverGroup?: ServerGroup;
}

export interface DefinedDomain {
  uuid: string;
  name: string;
  host: string;
  xml: string;
  rootDisk: string;
  volumeFiles: string[];
  macs: string[];
}

/** The inventory core's dependencies on a local cloud (its flows' executor unless another is given). */
export function inventoryDeps(cloud: LocalCloud, executor: HostExecutor = cloud.executor): InventoryDeps {
  return {
    stores: cloud.stores,
    executor,
    directory: cloud.directory,
    alarms: cloud.alarms,
    deployment: {
      region: cloud.env.AWS_REGION ?? "us-east-1",
      prefix: cloud.env.LAZARUS_TABLE_PREFIX ?? "lazarus",
    },
    now: () => new Date(),
  };
}

function localHost(cloud: LocalCloud, name: string): LocalHost {
  const h = cloud.fleet.hosts.get(name);
  if (!h) throw new Error(`no local host ${name}`);
  return h;
}

async function runOnHost(host: LocalHost, script: string): Promise<string> {
  // umask 002 as every process of a local host has it (agent, libvirtd): hosts of one pool share a
  // group, and another host must be able to write in an instance folder made here (after evacuation).
  const r = await host.runAs("bash", ["-c", `umask 002\n${script}`], { timeoutMs: 120_000 });
  if (r.exitCode !== 0) throw new Error(`[${host.name}] script failed (${r.exitCode}): ${r.stderr.trim()}`);
  return r.stdout;
}

/** Defines (and starts, unless `stopped`) one domain directly with virsh on its host. */
export async function defineByHand(cloud: LocalCloud, req: HandDefinedDomain): Promise<DefinedDomain> {
  const host = localHost(cloud, req.host);
  const uuid = req.uuid ?? randomUUID();
  const flavor = req.flavor ?? DEFAULT_FLAVOR;
  const dir = `${host.instancesPath}/${uuid}`;
  const rootDisk = `${dir}/disk`;
  const macs = Array.isArray(req.nics) ? req.nics : Array.from({ length: req.nics ?? 1 }, randomMac);
  const volumes = (req.volumes ?? []).map((v) => ({
    ...v,
    path: `${host.volumesPath}/${req.name}-${v.name}.img`,
  }));
  let xml = buildDomainXml({
    uuid,
    name: req.name,
    virtType: "qemu",
    memoryMiB: flavor.memoryMiB,
    vcpus: flavor.vcpus,
    rootDisk: { path: rootDisk, format: "qcow2" },
    volumes: volumes.map((v) => ({ path: v.path, device: v.device, format: "raw" as const })),
    interfaces: macs.map((mac) => ({ mac, network: { type: "user" as const } })),
  });
  if (req.extraDevicesXml) xml = xml.replace("  </devices>", `${req.extraDevicesXml}\n  </devices>`);
  const xmlPath = `${dir}/domain.xml`;
  const lines = [
    createOverlay({
      base: `${host.imageCachePath}/${req.imageRef ?? "cirros-0.6"}.qcow2`,
      disk: rootDisk,
      sizeGiB: flavor.diskGiB,
    }),
    ...volumes.map((v) => createBlank({ path: v.path, sizeGiB: v.sizeGiB, format: "raw" })),
    writeFileCommand(xmlPath, xml),
    shellCommand(["virsh", "define", xmlPath]),
  ];
  if (req.autostart !== false) lines.push(shellCommand(["virsh", "autostart", uuid]));
  if (!req.stopped) lines.push(shellCommand(["virsh", "start", uuid]));
  await runOnHost(host, shellScript(lines));
  return {
    uuid,
    name: req.name,
    host: host.name,
    xml,
    rootDisk,
    volumeFiles: volumes.map((v) => v.path),
    macs,
  };
}

/** Registers every local host through the inventory core (for clouds started with `seedHosts: false`). */
export async function registerLocalHosts(cloud: LocalCloud): Promise<void> {
  for (const h of cloud.fleet.hosts.values()) {
    await registerHost(inventoryDeps(cloud), { managedInstanceId: h.managedInstanceId });
  }
}

/**
 * Boots instances as a fleet has them: every domain defined by hand on its host, then each host adopted
 * once. Returns the instance records in request order; throws if any domain was not adopted. `executor`:
 * adoption's way to the hosts, when set-up needs a longer deadline than the cloud's flows have.
 */
export async function bootByAdoption(
  cloud: LocalCloud,
  requests: readonly HandDefinedDomain[],
  opts: { executor?: HostExecutor } = {},
): Promise<Instance[]> {
  const defined: DefinedDomain[] = [];
  for (const req of requests) defined.push(await defineByHand(cloud, req));
  const reports: AdoptHostReport[] = [];
  for (const host of new Set(defined.map((d) => d.host))) {
    reports.push(await adoptHost(inventoryDeps(cloud, opts.executor), { host }));
  }
  const refused = reports.flatMap((r) => r.refused).filter((r) => defined.some((d) => d.uuid === r.uuid));
  if (refused.length > 0) {
    throw new Error(
      `not adopted: ${refused.map((r) => `${r.name ?? r.uuid}: ${r.reasons.join("; ")}`).join(" | ")}`,
    );
  }
  const instances: Instance[] = [];
  for (const [i, d] of defined.entries()) {
    const policy = requests[i]!.policy;
    instances.push(
      policy ? await setPolicy(cloud, d.uuid, policy) : await cloud.stores.instances.require(d.uuid),
    );
  }
  return instances;
}

/** Sets Lazarus's own policy fields on an adopted instance (a server group also goes into its claim). */
export async function setPolicy(cloud: LocalCloud, uuid: string, policy: InstancePolicy): Promise<Instance> {
  const instance = await cloud.stores.instances.require(uuid);
  if (policy.serverGroup) {
    const owner = adoptionClaimOwner(uuid);
    const { released } = await cloud.stores.hosts.release(instance.host, uuid, { owner });
    if (!released) throw new Error(`instance ${uuid} has no adoption claim on ${instance.host}`);
    await cloud.stores.hosts.claim(instance.host, {
      instanceUuid: uuid,
      resources: instance.flavor,
      owner,
      serverGroup: policy.serverGroup,
    });
  }
  return cloud.stores.instances.update(uuid, {
    expectTaskState: [null],
    set: {
      ...(policy.haEnabled !== undefined ? { haEnabled: policy.haEnabled } : {}),
      ...(policy.haPriority !== undefined ? { haPriority: policy.haPriority } : {}),
      ...(policy.serverGroup ? { serverGroup: policy.serverGroup } : {}),
    },
  });
}
