/**
 * Libvirt domain XML for an instance. The spec is validated with zod first; every text and attribute
 * value is XML-escaped on output anyway. Instance metadata goes in `<metadata>` under its own
 * namespace (like nova's `<nova:instance>`).
 */
import { z } from "zod";
import { InvalidInput } from "../domain/errors.js";
import { AbsolutePath, DiskDevice, ImageRef, MacAddress, ResourceName, Uuid } from "../domain/values.js";
import { validated } from "./validate.js";

/** Namespace of the `<lazarus:instance>` metadata element. */
export const METADATA_NAMESPACE = "urn:lazarus:libvirt:instance:1.0";
export const METADATA_PREFIX = "lazarus";

/** Characters XML 1.0 cannot carry at all (even escaped), plus lone surrogates. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: these are exactly the characters rejected
const XML_INVALID = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDFFF]/u;

/** Free text for metadata: 1-255 characters XML can carry. */
export const XmlText = z
  .string()
  .min(1)
  .max(255)
  .refine(
    (s) => !XML_INVALID.test(s),
    "text may not contain control characters other than tab/newline, or lone surrogates",
  );

/** Linux interface name of a bridge (IFNAMSIZ 16 incl. NUL). */
export const BridgeName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/, "a bridge name is 1-15 letters, digits, '_', '.' or '-'");

/** The root disk's guest device. */
export const ROOT_DEVICE = "vda";

export const DomainDiskFormat = z.enum(["qcow2", "raw"]);

export const DomainNetwork = z.discriminatedUnion("type", [
  z.object({ type: z.literal("user") }),
  z.object({ type: z.literal("bridge"), bridge: BridgeName }),
]);

export const DomainSpec = z
  .object({
    uuid: Uuid,
    /** Libvirt domain name, e.g. domainName(uuid). */
    name: ResourceName,
    virtType: z.enum(["qemu", "kvm"]),
    memoryMiB: z.number().int().min(16).max(16_777_216),
    vcpus: z.number().int().min(1).max(1024),
    rootDisk: z.object({ path: AbsolutePath, format: DomainDiskFormat }),
    /** The file the serial console is written to (nova's console.log); none: a pty, nothing kept. */
    consoleLog: AbsolutePath.optional(),
    volumes: z
      .array(z.object({ path: AbsolutePath, device: DiskDevice, format: DomainDiskFormat }))
      .default([]),
    interfaces: z.array(z.object({ mac: MacAddress, network: DomainNetwork })).default([]),
    metadata: z
      .object({
        instanceName: XmlText,
        flavor: z.object({
          name: XmlText.optional(),
          vcpus: z.number().int().positive(),
          memoryMiB: z.number().int().positive(),
          diskGiB: z.number().int().positive(),
        }),
        imageRef: ImageRef,
      })
      .optional(),
  })
  .superRefine((spec, ctx) => {
    const devices = new Set<string>([ROOT_DEVICE]);
    spec.volumes.forEach((v, i) => {
      if (devices.has(v.device)) {
        ctx.addIssue({
          code: "custom",
          path: ["volumes", i, "device"],
          message: `device ${v.device} is used twice (vda is the root disk)`,
        });
      }
      devices.add(v.device);
    });
    const macs = new Set<string>();
    spec.interfaces.forEach((n, i) => {
      if (macs.has(n.mac))
        ctx.addIssue({
          code: "custom",
          path: ["interfaces", i, "mac"],
          message: `MAC ${n.mac} is used twice`,
        });
      macs.add(n.mac);
    });
  });
export type DomainSpec = z.input<typeof DomainSpec>;

/** The libvirt domain name of an instance: `instance-<uuid>` (lower case). */
export function domainName(uuid: string): string {
  return `instance-${validated(Uuid, "uuid", uuid).toLowerCase()}`;
}

/**
 * Escapes & < > " ' for XML text and (single- or double-quoted) attribute values, and writes tab, LF
 * and CR as character references so a parser's attribute/line-end normalization keeps them as they are.
 */
export function xmlEscape(value: string): string {
  if (XML_INVALID.test(value)) {
    throw new InvalidInput(
      `xmlEscape: the value contains a character XML cannot carry: ${JSON.stringify(value)}`,
    );
  }
  return value.replace(/[&<>"'\t\n\r]/g, (c) => XML_ENTITIES[c]!);
}

const XML_ENTITIES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&apos;",
  "\t": "&#9;",
  "\n": "&#10;",
  "\r": "&#13;",
};

function attrs(values: Record<string, string | number>): string {
  return Object.entries(values)
    .map(([k, v]) => ` ${k}="${xmlEscape(String(v))}"`)
    .join("");
}

function el(name: string, attributes: Record<string, string | number>, text?: string | number): string {
  return text === undefined
    ? `<${name}${attrs(attributes)}/>`
    : `<${name}${attrs(attributes)}>${xmlEscape(String(text))}</${name}>`;
}

/** The bus a guest device name implies (vd* virtio, sd* scsi, hd* ide), as the domains Lazarus defines use it. */
export function busOf(device: string): "virtio" | "scsi" | "ide" {
  if (device.startsWith("vd")) return "virtio";
  if (device.startsWith("sd")) return "scsi";
  return "ide";
}

function disk(path: string, device: string, format: string): string[] {
  return [
    `    <disk type="file" device="disk">`,
    `      ${el("driver", { name: "qemu", type: format })}`,
    `      ${el("source", { file: path })}`,
    `      ${el("target", { dev: device, bus: busOf(device) })}`,
    `    </disk>`,
  ];
}

/**
 * The domain XML for `spec` (validated; InvalidInput names the bad field). SeaBIOS boot from the
 * root disk (vda, virtio), volumes as further disks, virtio NICs, ACPI (needed for disk hot-plug),
 * a serial console to the console log file (else a pty), no graphics.
 */
export function buildDomainXml(input: DomainSpec): string {
  const spec = validated(DomainSpec, "domainSpec", input);
  const ns = METADATA_PREFIX;
  const lines: string[] = [`<domain${attrs({ type: spec.virtType })}>`];
  lines.push(`  ${el("name", {}, spec.name)}`, `  ${el("uuid", {}, spec.uuid.toLowerCase())}`);
  if (spec.metadata) {
    const m = spec.metadata;
    lines.push(
      "  <metadata>",
      `    <${ns}:instance${attrs({ [`xmlns:${ns}`]: METADATA_NAMESPACE })}>`,
      `      ${el(`${ns}:name`, {}, m.instanceName)}`,
      `      <${ns}:flavor${attrs(m.flavor.name === undefined ? {} : { name: m.flavor.name })}>`,
      `        ${el(`${ns}:vcpus`, {}, m.flavor.vcpus)}`,
      `        ${el(`${ns}:memory`, { unit: "MiB" }, m.flavor.memoryMiB)}`,
      `        ${el(`${ns}:disk`, { unit: "GiB" }, m.flavor.diskGiB)}`,
      `      </${ns}:flavor>`,
      `      ${el(`${ns}:image`, { ref: m.imageRef })}`,
      `    </${ns}:instance>`,
      "  </metadata>",
    );
  }
  lines.push(
    `  ${el("memory", { unit: "MiB" }, spec.memoryMiB)}`,
    `  ${el("currentMemory", { unit: "MiB" }, spec.memoryMiB)}`,
    `  ${el("vcpu", { placement: "static" }, spec.vcpus)}`,
    "  <os>",
    `    ${el("type", { arch: "x86_64" }, "hvm")}`,
    `    ${el("boot", { dev: "hd" })}`,
    // SeaBIOS writes to the serial console too (QEMU's sga ROM), so even a guest with nothing to boot logs.
    ...(spec.consoleLog ? [`    ${el("bios", { useserial: "yes" })}`] : []),
    "  </os>",
    "  <features>",
    "    <acpi/>",
    "  </features>",
    `  ${el("clock", { offset: "utc" })}`,
    `  ${el("on_poweroff", {}, "destroy")}`,
    `  ${el("on_reboot", {}, "restart")}`,
    `  ${el("on_crash", {}, "destroy")}`,
    "  <devices>",
    ...disk(spec.rootDisk.path, ROOT_DEVICE, spec.rootDisk.format),
    ...spec.volumes.flatMap((v) => disk(v.path, v.device, v.format)),
  );
  for (const nic of spec.interfaces) {
    lines.push(`    <interface${attrs({ type: nic.network.type === "user" ? "user" : "bridge" })}>`);
    lines.push(`      ${el("mac", { address: nic.mac })}`);
    if (nic.network.type === "bridge") lines.push(`      ${el("source", { bridge: nic.network.bridge })}`);
    lines.push(`      ${el("model", { type: "virtio" })}`, "    </interface>");
  }
  // The serial console: to a file the host keeps (what `GET .../os-getConsoleOutput` reads), else a pty.
  const chardev = spec.consoleLog ? "file" : "pty";
  const source = spec.consoleLog ? [`      ${el("source", { path: spec.consoleLog, append: "on" })}`] : [];
  lines.push(
    `    <serial type="${chardev}">`,
    ...source,
    `      ${el("target", { port: 0 })}`,
    "    </serial>",
    `    <console type="${chardev}">`,
    ...source,
    `      ${el("target", { type: "serial", port: 0 })}`,
    "    </console>",
    `    ${el("memballoon", { model: "virtio" })}`,
    "  </devices>",
    "</domain>",
  );
  return `${lines.join("\n")}\n`;
}
