/**
 * Reads a libvirt domain XML (`virsh dumpxml --inactive`) into the facts adoption decides on: identity,
 * vCPUs and memory, firmware, disks, NICs, devices tied to the host, devices a recreate would not carry,
 * and Lazarus's own `<lazarus:instance>` metadata if the domain has it. Only reads: what Lazarus can
 * recreate faithfully is decided by the adoption core, not here.
 */
import { InvalidInput } from "../domain/errors.js";
import { METADATA_NAMESPACE } from "./domain-xml.js";
import { child, descend, parseXml, type XmlElement } from "./xml-tree.js";

export interface DomainDisk {
  /** file, block, network, volume, dir, nvme, ... */
  type: string;
  /** disk, cdrom, floppy, lun. */
  device: string;
  /** file path, block device, `protocol:name` of a network disk, `pool/volume`; null when empty (a cdrom). */
  source: string | null;
  /** Guest device, e.g. vda. */
  target: string | null;
  bus: string | null;
  /** `<driver type>`: qcow2, raw, ...; null if absent (libvirt would probe). */
  format: string | null;
  readonly: boolean;
  shareable: boolean;
}

export interface DomainInterface {
  /** user, bridge, network, direct, hostdev, vhostuser, ... */
  type: string;
  /** Lower case, null if libvirt was left to generate it. */
  mac: string | null;
  model: string | null;
  /** The `<source>` attributes (bridge, network, dev, ...). */
  source: Readonly<Record<string, string>>;
}

export interface LazarusMetadata {
  instanceName: string | null;
  flavor: { vcpus: number; memoryMiB: number; diskGiB: number } | null;
  imageRef: string | null;
}

export interface DomainDescription {
  /** Domain type: kvm, qemu, ... */
  type: string;
  name: string;
  /** Lower case. */
  uuid: string;
  /** `<memory>` (the maximum), in KiB. */
  memoryKiB: number;
  /** `<vcpu>` (the maximum). */
  vcpus: number;
  arch: string | null;
  /** "bios" (SeaBIOS, what Lazarus defines) or "efi" (a loader/nvram or `firmware='efi'`). */
  firmware: "bios" | "efi";
  disks: DomainDisk[];
  interfaces: DomainInterface[];
  /** Devices that tie the domain to this host's hardware or files (PCI/USB passthrough, shared folders). */
  hostBound: string[];
  /** Devices a recreated domain would not have (graphics, channels, ...): adoption notes them. */
  notRecreated: string[];
  metadata: LazarusMetadata | null;
}

/** Devices Lazarus's domains have too, or that libvirt adds to any domain by itself. */
const RECREATED_OR_DEFAULT = new Set([
  "disk",
  "interface",
  "emulator",
  "controller",
  "input",
  "audio",
  "serial",
  "console",
  "memballoon",
]);
/** Devices that exist only because of this host: passthrough, host folders, host memory. */
const HOST_BOUND = new Set(["hostdev", "filesystem", "redirdev", "smartcard", "shmem"]);

const UNIT_BYTES: Record<string, number> = {
  b: 1,
  bytes: 1,
  KB: 1000,
  k: 1024,
  KiB: 1024,
  MB: 1000 ** 2,
  M: 1024 ** 2,
  MiB: 1024 ** 2,
  GB: 1000 ** 3,
  G: 1024 ** 3,
  GiB: 1024 ** 3,
  TB: 1000 ** 4,
  T: 1024 ** 4,
  TiB: 1024 ** 4,
};

function bad(why: string, details: Record<string, unknown> = {}): InvalidInput {
  return new InvalidInput(`domain XML not understood: ${why}`, details);
}

/** A `<memory unit=...>` value in KiB (libvirt's default unit is KiB). */
export function memoryKiB(el: XmlElement): number {
  const unit = el.attrs.unit ?? "KiB";
  const factor = UNIT_BYTES[unit];
  if (factor === undefined) throw bad(`unknown memory unit ${JSON.stringify(unit)}`);
  if (!/^\d+$/.test(el.text)) throw bad(`memory ${JSON.stringify(el.text)} is not a number`);
  return (Number(el.text) * factor) / 1024;
}

function positiveInt(text: string, what: string): number {
  if (!/^\d+$/.test(text) || Number(text) <= 0)
    throw bad(`${what} ${JSON.stringify(text)} is not a positive number`);
  return Number(text);
}

function diskOf(el: XmlElement): DomainDisk {
  const type = el.attrs.type ?? "file";
  const source = child(el, "source");
  let src: string | null = null;
  if (source) {
    const a = source.attrs;
    src =
      a.file ??
      a.dev ??
      a.dir ??
      (a.protocol ? `${a.protocol}:${a.name ?? ""}` : a.pool ? `${a.pool}/${a.volume ?? ""}` : null);
  }
  const target = child(el, "target");
  return {
    type,
    device: el.attrs.device ?? "disk",
    source: src,
    target: target?.attrs.dev ?? null,
    bus: target?.attrs.bus ?? null,
    format: child(el, "driver")?.attrs.type ?? null,
    readonly: child(el, "readonly") !== undefined,
    shareable: child(el, "shareable") !== undefined,
  };
}

function interfaceOf(el: XmlElement): DomainInterface {
  return {
    type: el.attrs.type ?? "",
    mac: child(el, "mac")?.attrs.address?.toLowerCase() ?? null,
    model: child(el, "model")?.attrs.type ?? null,
    source: { ...(child(el, "source")?.attrs ?? {}) },
  };
}

function describeHostBound(el: XmlElement): string {
  if (el.name === "hostdev") {
    const addr = descend(el, "source", "address")?.attrs ?? {};
    const where = Object.entries(addr)
      .map(([k, v]) => `${k}=${v}`)
      .join(",");
    return `hostdev ${el.attrs.type ?? "?"}${where ? ` (${where})` : ""}`;
  }
  if (el.name === "filesystem") return `filesystem ${child(el, "source")?.attrs.dir ?? ""}`.trim();
  return `${el.name}${el.attrs.type ? ` ${el.attrs.type}` : ""}`;
}

function metadataOf(domain: XmlElement): LazarusMetadata | null {
  const metadata = child(domain, "metadata");
  if (!metadata) return null;
  // Any prefix may be bound to the namespace; match on the namespace, not on "lazarus:".
  const inst = metadata.children.find((c) =>
    Object.entries(c.attrs).some(([k, v]) => k.startsWith("xmlns") && v === METADATA_NAMESPACE),
  );
  if (!inst) return null;
  const prefix = inst.name.includes(":") ? `${inst.name.split(":")[0]}:` : "";
  const get = (el: XmlElement | undefined, local: string) =>
    el ? child(el, `${prefix}${local}`) : undefined;
  const flavorEl = get(inst, "flavor");
  let flavor: LazarusMetadata["flavor"] = null;
  if (flavorEl) {
    const vcpus = get(flavorEl, "vcpus")?.text;
    const memory = get(flavorEl, "memory");
    const disk = get(flavorEl, "disk")?.text;
    if (vcpus && memory && disk && /^\d+$/.test(vcpus) && /^\d+$/.test(disk)) {
      flavor = {
        vcpus: Number(vcpus),
        memoryMiB: Math.round(memoryKiB(memory) / 1024),
        diskGiB: Number(disk),
      };
    }
  }
  return {
    instanceName: get(inst, "name")?.text || null,
    flavor,
    imageRef: get(inst, "image")?.attrs.ref ?? null,
  };
}

/** Parses one domain XML. Throws InvalidInput when it is not XML or lacks name, uuid, memory or vcpu. */
export function parseDomainXml(xml: string): DomainDescription {
  const domain = parseXml(xml, "domain XML");
  if (domain.name !== "domain") throw bad(`root element is <${domain.name}>, not <domain>`);
  const name = child(domain, "name")?.text;
  const uuid = child(domain, "uuid")?.text;
  const memory = child(domain, "memory");
  const vcpu = child(domain, "vcpu");
  if (!name) throw bad("no <name>");
  if (!uuid || !/^[0-9a-fA-F-]{36}$/.test(uuid)) throw bad(`<uuid> ${JSON.stringify(uuid)} is not a uuid`);
  if (!memory) throw bad("no <memory>");
  if (!vcpu) throw bad("no <vcpu>");

  const os = child(domain, "os");
  const efi =
    os !== undefined &&
    (os.attrs.firmware === "efi" || child(os, "loader") !== undefined || child(os, "nvram") !== undefined);

  const devices = child(domain, "devices");
  const disks: DomainDisk[] = [];
  const interfaces: DomainInterface[] = [];
  const hostBound: string[] = [];
  const notRecreated: string[] = [];
  for (const dev of devices?.children ?? []) {
    if (dev.name === "disk") disks.push(diskOf(dev));
    else if (dev.name === "interface") interfaces.push(interfaceOf(dev));
    if (HOST_BOUND.has(dev.name)) hostBound.push(describeHostBound(dev));
    else if (!RECREATED_OR_DEFAULT.has(dev.name)) {
      notRecreated.push(`${dev.name}${dev.attrs.type ? ` ${dev.attrs.type}` : ""}`);
    }
  }
  for (const nic of interfaces) {
    if (nic.type === "hostdev") hostBound.push(`interface hostdev (${JSON.stringify(nic.source)})`);
  }
  return {
    type: domain.attrs.type ?? "",
    name,
    uuid: uuid.toLowerCase(),
    memoryKiB: memoryKiB(memory),
    vcpus: positiveInt(vcpu.text, "<vcpu>"),
    arch: os ? (child(os, "type")?.attrs.arch ?? null) : null,
    firmware: efi ? "efi" : "bios",
    disks,
    interfaces,
    hostBound,
    notRecreated,
    metadata: metadataOf(domain),
  };
}
