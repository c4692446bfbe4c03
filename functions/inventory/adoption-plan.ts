/**
 * From what a host says about one domain to the records Lazarus would keep for it: the pure heart of
 * adoption, testable without a host. A domain is adopted only if an evacuation could recreate it
 * faithfully from those records (spawn defines `instance-domain.ts`'s domain on the target): root disk
 * at `<instancesPath>/<uuid>/disk` (qcow2, its chain inside the instance folder or the image cache),
 * extra disks as raw volumes under `volumesPath`, user-mode virtio NICs, SeaBIOS, nothing bound to this
 * host's hardware. Anything else is refused with every reason at once, and nothing is written for it.
 */
import { posix } from "node:path";
import { deterministicUuid } from "#shared/domain/ids.js";
import type { Host, Instance, Port, Volume } from "#shared/domain/schemas.js";
import type { PowerState, VmState } from "#shared/domain/states.js";
import { DiskDevice, ImageRef, MacAddress, ResourceName } from "#shared/domain/values.js";
import type { DomainDescription, DomainDisk } from "#shared/hosts/domain-description.js";
import { busOf, ROOT_DEVICE } from "#shared/hosts/domain-xml.js";
import { instanceDir, rootDiskPath } from "#shared/hosts/layout.js";
import type { QemuImgInfo } from "#shared/hosts/qemu-img.js";
import type { DomInfo } from "#shared/hosts/virsh-parsers.js";

/** The network adopted user-mode NICs are recorded on (the one the local boot uses too). */
export const ADOPTED_NETWORK = "default";
const GiB = 1024 ** 3;
const BACKING_FILE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const LAZARUS_VOLUME_FILE = /^volume-([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.img$/;

export interface DomainFacts {
  info: DomInfo;
  description: DomainDescription;
  /** Backing chain per disk source path (top image first); null when the file does not exist. */
  chains: ReadonlyMap<string, QemuImgInfo[] | null>;
}

export interface AdoptionPlan {
  instance: Instance;
  ports: Port[];
  volumes: Volume[];
  /** What an evacuation would not carry over (graphics, ...), or what the records round. */
  notes: string[];
  /** Autostart as the host had it (adoption turns it off). */
  autostartWas: boolean | null;
}

export type PlanResult = { kind: "adopt"; plan: AdoptionPlan } | { kind: "refuse"; reasons: string[] };

export interface PlanOptions {
  /** Masakari's HA flag for the adopted instance (default true). */
  haEnabled: boolean;
  /** ISO time for createdAt / attachedAt. */
  now: string;
}

/** vm_state for an adopted domain's power state (nova's view of a domain found in that state). */
export const VM_STATE_OF_POWER: Readonly<Record<PowerState, VmState>> = {
  running: "active",
  shutdown: "stopped",
  paused: "paused",
  suspended: "suspended",
  crashed: "error",
  nostate: "error",
};

export function adoptedPortId(instanceUuid: string, mac: string): string {
  return deterministicUuid("lazarus-adopt-port", instanceUuid, mac);
}

/** A volume file Lazarus named (`volume-<id>.img`) keeps its id; any other file gets one derived from its name. */
export function adoptedVolumeId(backingFile: string): string {
  return LAZARUS_VOLUME_FILE.exec(backingFile)?.[1] ?? deterministicUuid("lazarus-adopt-volume", backingFile);
}

export function planAdoption(host: Host, facts: DomainFacts, opts: PlanOptions): PlanResult {
  const { info, description: d } = facts;
  const uuid = d.uuid;
  const reasons: string[] = [];
  const notes: string[] = [];

  if (info.persistent === false)
    reasons.push("transient domain: it has no persistent definition to recreate");
  if (info.uuid !== uuid) reasons.push(`dominfo uuid ${info.uuid} differs from the XML's ${uuid}`);
  for (const dev of d.hostBound)
    reasons.push(`host-bound device ${dev}: it cannot follow the domain to another host`);
  if (d.firmware === "efi") reasons.push("UEFI firmware (loader/nvram): Lazarus recreates SeaBIOS domains");
  if (d.arch !== null && d.arch !== "x86_64")
    reasons.push(`architecture ${d.arch}: Lazarus recreates x86_64 domains`);
  if (d.memoryKiB % 1024 !== 0) reasons.push(`memory ${d.memoryKiB} KiB is not a whole number of MiB`);
  const memoryMiB = Math.floor(d.memoryKiB / 1024);
  if (memoryMiB < 16) reasons.push(`memory ${memoryMiB} MiB is below the 16 MiB Lazarus defines`);

  // ---- disks ----
  const rootPath = rootDiskPath(host, uuid);
  let root: { disk: DomainDisk; chain: QemuImgInfo[] } | null = null;
  const volumeDisks: { disk: DomainDisk; backingFile: string; chain: QemuImgInfo[] }[] = [];
  for (const disk of d.disks) {
    const where = `disk ${disk.target ?? "?"} (${disk.source ?? "no source"})`;
    const problems: string[] = [];
    if (disk.device !== "disk")
      problems.push(`${disk.device} ${disk.target ?? ""}: Lazarus recreates disks only`.replace("  ", " "));
    else if (disk.type !== "file")
      problems.push(`${where} is a ${disk.type} disk: Lazarus recreates file disks`);
    else if (disk.source === null) problems.push(`${where} has no source file`);
    if (disk.target === null || !DiskDevice.safeParse(disk.target).success) {
      problems.push(`${where}: target ${JSON.stringify(disk.target)} is not a disk device name`);
    } else if (disk.bus !== busOf(disk.target)) {
      problems.push(
        `${where} is on bus ${disk.bus}: Lazarus recreates ${disk.target} on ${busOf(disk.target)}`,
      );
    }
    if (disk.readonly || disk.shareable) problems.push(`${where} is readonly/shareable: not recreated so`);
    if (problems.length > 0) {
      reasons.push(...problems);
      continue;
    }
    const path = disk.source!;
    const isRoot = disk.target === ROOT_DEVICE;
    const backingFile = posix.basename(path);
    // Where the file is decides first: a disk elsewhere is one Lazarus would not find on another host.
    if (isRoot && path !== rootPath) {
      reasons.push(`root ${where} is not at ${rootPath}, where Lazarus finds and recreates it`);
      continue;
    }
    if (!isRoot && (posix.dirname(path) !== host.storage.volumesPath || !BACKING_FILE.test(backingFile))) {
      reasons.push(`${where} is not a file directly under the volumes folder ${host.storage.volumesPath}`);
      continue;
    }
    const chain = facts.chains.get(path);
    if (chain === undefined || chain === null) {
      reasons.push(`${where}: the file does not exist on the host`);
      continue;
    }
    if (isRoot) {
      if (disk.format !== "qcow2" || chain[0]!.format !== "qcow2") {
        reasons.push(
          `root ${where} is ${chain[0]!.format} (driver ${disk.format}): Lazarus recreates qcow2 roots`,
        );
        continue;
      }
      root = { disk, chain };
    } else {
      if (disk.format !== "raw" || chain.length !== 1 || chain[0]!.format !== "raw") {
        reasons.push(
          `${where} is ${chain[0]!.format} (driver ${disk.format}, ${chain.length - 1} backing files): Lazarus attaches raw volumes`,
        );
        continue;
      }
      volumeDisks.push({ disk, backingFile, chain });
    }
  }
  if (!d.disks.some((disk) => disk.target === ROOT_DEVICE)) reasons.push(`no root disk on ${ROOT_DEVICE}`);

  // The root's chain: snapshots (overlays) only inside the instance folder, the base only in the image cache.
  let imageRef: string | null = null;
  if (root) {
    const dir = `${instanceDir(host, uuid)}/`;
    const cache = `${host.storage.imageCachePath}/`;
    root.chain.slice(1).forEach((img, i, below) => {
      const file = img.filename;
      const last = i === below.length - 1;
      if (file.startsWith(dir)) return;
      const ref = file.startsWith(cache) ? /^([^/]+)\.qcow2$/.exec(file.slice(cache.length))?.[1] : undefined;
      if (last && ref !== undefined && ImageRef.safeParse(ref).success) imageRef = ref;
      else
        reasons.push(`root disk's backing file ${file} is outside the instance folder and the image cache`);
    });
    imageRef ??= d.metadata?.imageRef ?? null;
    if (imageRef === null) {
      reasons.push(
        "root disk has no base image in the image cache (and no lazarus:image metadata): it could not be rebuilt",
      );
    }
  }

  // ---- NICs ----
  const macs = new Set<string>();
  for (const [i, nic] of d.interfaces.entries()) {
    const where = `interface ${i} (${nic.mac ?? "no MAC"})`;
    if (nic.type !== "user")
      reasons.push(`${where} is type ${nic.type}: Lazarus recreates user-mode NICs only`);
    if (nic.mac === null || !MacAddress.safeParse(nic.mac).success)
      reasons.push(`${where}: MAC is not a unicast MAC`);
    else if (macs.has(nic.mac)) reasons.push(`${where}: MAC used twice`);
    else macs.add(nic.mac);
    if (nic.model !== "virtio")
      reasons.push(`${where} model ${nic.model ?? "(default)"}: Lazarus recreates virtio NICs`);
  }

  if (reasons.length > 0 || !root) return { kind: "refuse", reasons };

  // ---- records ----
  for (const dev of d.notRecreated) notes.push(`${dev}: not recreated by an evacuation`);
  if (d.type !== host.virtType)
    notes.push(`domain type ${d.type}: recreated as ${host.virtType} (the host's virt type)`);
  const name = instanceName(d);
  if (name !== d.name) notes.push(`libvirt name ${JSON.stringify(d.name)} recorded as instance name ${name}`);
  notes.push(`recreated under the libvirt name instance-${uuid}`);

  const powerState = info.powerState;
  const flavor = {
    vcpus: d.vcpus,
    memoryMiB,
    diskGiB: Math.max(1, Math.ceil(root.chain[0]!.virtualSizeBytes / GiB)),
  };
  const ports: Port[] = d.interfaces.map((nic) => ({
    id: adoptedPortId(uuid, nic.mac!),
    instanceUuid: uuid,
    mac: nic.mac!,
    preserveOnDelete: false,
    network: ADOPTED_NETWORK,
    bindingHost: host.name,
    status: "ACTIVE",
    version: 0,
  }));
  const volumes: Volume[] = volumeDisks.map(({ disk, backingFile, chain }) => {
    const id = adoptedVolumeId(backingFile);
    return {
      id,
      name: volumeName(backingFile),
      sizeGiB: Math.max(1, Math.ceil(chain[0]!.virtualSizeBytes / GiB)),
      backingFile,
      status: "in-use",
      attachments: [
        {
          attachmentId: deterministicUuid("lazarus-adopt-attachment", uuid, id),
          instanceUuid: uuid,
          host: host.name,
          device: disk.target!,
          status: "attached",
          attachedAt: opts.now,
          detachedAt: null,
        },
      ],
      version: 0,
    };
  });
  const instance: Instance = {
    uncleanTargets: [],
    taskExecutionArn: null,
    taskEnding: null,
    lastRequestId: null,
    locked: false,
    haPriority: 0,
    instanceHa: { ha: null, maxRestart: 1, maxRelocate: 1 },
    metadata: {},
    flavorId: null,
    uuid,
    name,
    host: host.name,
    node: host.name,
    availabilityZone: host.availabilityZone,
    flavor,
    imageRef: imageRef!,
    vmState: VM_STATE_OF_POWER[powerState],
    taskState: null,
    taskRequestId: null,
    powerState,
    ports: ports.map((p) => p.id),
    volumes: volumes.map((v) => ({
      volumeId: v.id,
      device: v.attachments[0]!.device,
      deleteOnTermination: false,
    })),
    serverGroup: null,
    haEnabled: opts.haEnabled,
    onSharedStorage: host.storage.sharedPoolId !== null,
    // The domain exists with its disk: it was launched (libvirt keeps no launch time; adoption's stands in).
    launchedAt: opts.now,
    createdAt: opts.now,
    updatedAt: opts.now,
    version: 0,
    fault: null,
    fencingRequired: null,
  };
  return { kind: "adopt", plan: { instance, ports, volumes, notes, autostartWas: info.autostart } };
}

/** The metadata's name if Lazarus wrote one, else the libvirt name, made a valid ResourceName. */
function instanceName(d: DomainDescription): string {
  for (const candidate of [d.metadata?.instanceName, d.name]) {
    if (candidate && ResourceName.safeParse(candidate).success) return candidate;
  }
  const cleaned = d.name
    .replace(/[^A-Za-z0-9._-]/g, "-")
    .replace(/^[^A-Za-z0-9]+/, "")
    .slice(0, 63);
  return cleaned.length > 0 ? cleaned : `instance-${d.uuid.slice(0, 8)}`;
}

function volumeName(backingFile: string): string {
  const base = backingFile.replace(/\.(img|raw)$/, "");
  return base.slice(0, 63).replace(/[^A-Za-z0-9]+$/, "") || "volume";
}
