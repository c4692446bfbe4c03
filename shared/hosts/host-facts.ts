/**
 * What registration reads from a host: CPUs and memory (`virsh nodeinfo`), which virt types libvirt
 * offers (`virsh capabilities`: kvm only where /dev/kvm works), the host's Lazarus settings file
 * (like nova.conf on a compute node: storage paths, pool, zone), and the storage folders' state.
 */
import { CHECK_STORAGE } from "#ssm-documents/check-storage.js";
import { READ_HOST_FACTS } from "#ssm-documents/read-host-facts.js";
import { READ_UPTIME } from "#ssm-documents/read-uptime.js";
import { HostSettingsFile } from "../definitions/host-config.js";
import { InvalidInput } from "../domain/errors.js";
import { AbsolutePath } from "../domain/values.js";
import { type HostCommand, hostCommand } from "./host-command.js";
import { parseSections } from "./script-sections.js";
import { validated } from "./validate.js";
import { child, childrenNamed, parseXml } from "./xml-tree.js";

/** The host's configuration file as registration reads it (shared/definitions/host-config.ts). */
export type HostConfigFile = HostSettingsFile;

export interface NodeInfo {
  cpus: number;
  memoryKiB: number;
  cpuModel: string | null;
}

export interface HostFacts {
  node: NodeInfo;
  /** Host CPU architecture from the capabilities. */
  arch: string | null;
  /** Domain types libvirt offers for x86_64 hvm guests, e.g. ["qemu", "kvm"]. */
  domainTypes: string[];
  /** The settings file, or null when the host has none. */
  config: HostConfigFile | null;
}

/** The host's `uptime` line (nova's hypervisor uptime). */
export function readUptime(): HostCommand {
  return hostCommand(READ_UPTIME, {});
}

/** One command: nodeinfo, capabilities (compressed: it can be long), and the settings file if present. */
export function readHostFacts(): HostCommand {
  return hostCommand(READ_HOST_FACTS, {});
}

export function parseHostFacts(stdout: string): HostFacts {
  const s = parseSections(stdout);
  const caps = parseCapabilities(s.capabilities ?? "");
  return { node: parseNodeInfo(s.nodeinfo ?? ""), ...caps, config: parseHostConfig(s.config ?? "") };
}

/** Parses `virsh nodeinfo` (C locale). CPU(s) and Memory size are required. */
export function parseNodeInfo(stdout: string): NodeInfo {
  const fields: Record<string, string> = {};
  for (const line of stdout.split("\n")) {
    const m = /^([^:]+):\s*(.*)$/.exec(line.trim());
    if (m) fields[m[1]!.trim()] = m[2]!.trim();
  }
  const cpus = /^(\d+)$/.exec(fields["CPU(s)"] ?? "");
  const mem = /^(\d+) KiB$/.exec(fields["Memory size"] ?? "");
  if (!cpus || !mem) {
    throw new InvalidInput(`virsh nodeinfo output not understood: ${JSON.stringify(stdout.slice(0, 300))}`, {
      output: stdout.slice(0, 500),
    });
  }
  return { cpus: Number(cpus[1]), memoryKiB: Number(mem[1]), cpuModel: fields["CPU model"] ?? null };
}

/** From `virsh capabilities`: the host arch and the domain types offered for x86_64 hvm guests. */
export function parseCapabilities(xml: string): { arch: string | null; domainTypes: string[] } {
  const caps = parseXml(xml, "virsh capabilities");
  if (caps.name !== "capabilities") throw new InvalidInput(`virsh capabilities: root is <${caps.name}>`);
  const arch = child(child(caps, "host") ?? caps, "cpu");
  const types = new Set<string>();
  for (const guest of childrenNamed(caps, "guest")) {
    if (child(guest, "os_type")?.text !== "hvm") continue;
    for (const a of childrenNamed(guest, "arch")) {
      if (a.attrs.name !== "x86_64") continue;
      for (const d of childrenNamed(a, "domain")) if (d.attrs.type) types.add(d.attrs.type);
    }
  }
  return { arch: (arch && child(arch, "arch")?.text) || null, domainTypes: [...types].sort() };
}

function parseHostConfig(text: string): HostConfigFile | null {
  if (text.trim() === "") return null;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new InvalidInput("the host's Lazarus settings file is not JSON", {}, { cause: e });
  }
  return validated(HostSettingsFile, "hostConfig", json);
}

export interface StorageCheck {
  /** Folders that are missing (or not folders). */
  missing: string[];
  /** Size of the file system holding the instances folder, bytes. */
  instancesFsBytes: number;
}

/**
 * Checks each folder exists, and measures the instances folder's file system (`df -B1`). Prints
 * `missing PATH` lines, then the df table.
 */
export function checkStorage(instancesPath: string, folders: readonly string[]): HostCommand {
  return hostCommand(CHECK_STORAGE, {
    instancesPath: validated(AbsolutePath, "instancesPath", instancesPath),
    folders: folders.map((f, i) => validated(AbsolutePath, `folders.${i}`, f)).join(" "),
  });
}

export function parseStorageCheck(stdout: string): StorageCheck {
  const missing: string[] = [];
  let size: number | null = null;
  for (const line of stdout.split("\n")) {
    if (line.startsWith("missing ")) missing.push(line.slice("missing ".length));
    else if (/^\s*\d+\s*$/.test(line)) size = Number(line.trim());
  }
  if (size === null && missing.length === 0) {
    throw new InvalidInput(`df output not understood: ${JSON.stringify(stdout.slice(0, 300))}`);
  }
  return { missing, instancesFsBytes: size ?? 0 };
}
