/** The inventory's host reads: domain XML description, sectioned script output, capabilities, nodeinfo. */
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { shellScript } from "#local/hosts/shell.js";
import { InvalidInput } from "#shared/domain/errors.js";
import { parseDomainXml } from "#shared/hosts/domain-description.js";
import { parseDomainStates, readDiskChains } from "#shared/hosts/domain-inventory.js";
import { buildDomainXml } from "#shared/hosts/domain-xml.js";
import { parseCapabilities, parseNodeInfo } from "#shared/hosts/host-facts.js";
import { parseSections, sectionLines } from "#shared/hosts/script-sections.js";
import { runHostCommand } from "#test/support/document-runner.js";

describe("domain description", () => {
  it("reads what buildDomainXml writes, Lazarus metadata included, whatever prefix names the namespace", () => {
    const uuid = randomUUID();
    const xml = buildDomainXml({
      uuid,
      name: "instance-x",
      virtType: "kvm",
      memoryMiB: 2048,
      vcpus: 4,
      rootDisk: { path: "/i/disk", format: "qcow2" },
      volumes: [{ path: "/v/a.img", device: "vdb", format: "raw" }],
      interfaces: [{ mac: "52:54:00:00:00:0a", network: { type: "user" } }],
      metadata: {
        instanceName: "web & co",
        flavor: { vcpus: 4, memoryMiB: 2048, diskGiB: 20 },
        imageRef: "ubuntu-24.04",
      },
    });
    const d = parseDomainXml(
      xml
        .replaceAll("<lazarus:", "<lz:")
        .replaceAll("</lazarus:", "</lz:")
        .replace("xmlns:lazarus", "xmlns:lz"),
    );
    expect(d).toMatchObject({
      type: "kvm",
      uuid,
      memoryKiB: 2048 * 1024,
      vcpus: 4,
      firmware: "bios",
      hostBound: [],
      notRecreated: [],
      metadata: {
        instanceName: "web & co",
        flavor: { vcpus: 4, memoryMiB: 2048, diskGiB: 20 },
        imageRef: "ubuntu-24.04",
      },
    });
    expect(d.disks.map((x) => [x.target, x.source, x.format, x.bus])).toEqual([
      ["vda", "/i/disk", "qcow2", "virtio"],
      ["vdb", "/v/a.img", "raw", "virtio"],
    ]);
    expect(d.interfaces).toEqual([{ type: "user", mac: "52:54:00:00:00:0a", model: "virtio", source: {} }]);
  });

  it("converts memory units, finds passthrough and devices a recreate drops, refuses a DOCTYPE", () => {
    const xml = `<domain type='kvm'><name>n</name><uuid>${randomUUID()}</uuid><memory unit='GiB'>2</memory><vcpu>1</vcpu>
      <os firmware='efi'><type arch='x86_64'>hvm</type></os>
      <devices><graphics type='vnc'/><hostdev mode='subsystem' type='usb'><source><vendor id='0x1'/></source></hostdev>
      <interface type='hostdev'><mac address='52:54:00:00:00:01'/></interface></devices></domain>`;
    const d = parseDomainXml(xml);
    expect(d.memoryKiB).toBe(2 * 1024 * 1024);
    expect(d.firmware).toBe("efi");
    expect(d.notRecreated).toEqual(["graphics vnc"]);
    expect(d.hostBound).toHaveLength(2);
    expect(() => parseDomainXml(`<!DOCTYPE d [<!ENTITY x "y">]>${xml}`)).toThrow(InvalidInput);
    expect(() => parseDomainXml("<domain><name>n</name>")).toThrow(InvalidInput);
  });
});

describe("script sections", () => {
  it("round-trips plain and compressed sections through a real bash, and refuses a cut output", () => {
    const text = "line 1\n<x a='&amp;'/>\n".repeat(2000);
    const script = shellScript(
      sectionLines([
        { name: "plain", lines: ["printf 'no newline at end'"] },
        { name: "big", lines: [`printf '%s' "$LZ_TEXT"`], compressed: true },
      ]),
    );
    const stdout = execFileSync("bash", ["-c", script], {
      encoding: "utf8",
      env: { ...process.env, LZ_TEXT: text },
    });
    const s = parseSections(stdout);
    expect(s.plain?.trim()).toBe("no newline at end");
    expect(s.big).toBe(text);
    expect(stdout.length).toBeLessThan(text.length / 10);
    expect(() => parseSections(stdout.slice(0, stdout.length / 2))).toThrow(InvalidInput);
  });

  it("disk chains: a missing file is null, not a failure", () => {
    const out = runHostCommand(readDiskChains(["/nonexistent/lazarus/disk"])).stdout;
    expect(parseSections(out)["disk-0"]?.trim()).toBe("null");
  });

  it("domain states: parses the document's output; 'absent' lines are dropped", () => {
    const u = randomUUID();
    const v = randomUUID();
    const states = parseDomainStates(`${u}\tshut off\n${v}\tabsent\n`);
    expect([...states]).toEqual([[u, "shutdown"]]);
    expect(() => parseDomainStates("garbage\n")).toThrow(InvalidInput);
  });
});

describe("host facts", () => {
  it("nodeinfo and capabilities", () => {
    expect(
      parseNodeInfo(
        "CPU model:           x86_64\nCPU(s):              2\nMemory size:         24575936 KiB\n",
      ),
    ).toEqual({
      cpus: 2,
      memoryKiB: 24575936,
      cpuModel: "x86_64",
    });
    expect(() => parseNodeInfo("CPU(s): many")).toThrow(InvalidInput);
    const caps = `<capabilities><host><cpu><arch>x86_64</arch></cpu></host>
      <guest><os_type>hvm</os_type><arch name='x86_64'><domain type='qemu'/><domain type='kvm'/></arch></guest>
      <guest><os_type>hvm</os_type><arch name='i686'><domain type='xen'/></arch></guest></capabilities>`;
    expect(parseCapabilities(caps)).toEqual({ arch: "x86_64", domainTypes: ["kvm", "qemu"] });
  });
});
