/** Domain XML: schema-valid for libvirt (virt-xml-validate), every value escaped and read back intact. */
import { execFileSync, spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InvalidInput } from "#shared/domain/errors.js";
import {
  buildDomainXml,
  type DomainSpec,
  domainName,
  METADATA_NAMESPACE,
  xmlEscape,
} from "#shared/hosts/domain-xml.js";
import { useTempDir } from "#test/support/temp-dir.js";

const work = useTempDir("lazarus-domain-xml-");

const hasValidator = spawnSync("virt-xml-validate", ["--help"]).status === 0;

// biome-ignore lint/suspicious/noControlCharactersInRegex: XML 1.0 cannot carry these
const xmlInvalid = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/;
const specials = [
  "&",
  "<",
  ">",
  '"',
  "'",
  "&amp;",
  "]]>",
  "<!--",
  "\n",
  "\r\n",
  "\t",
  " ",
  "é",
  "🙂",
  "$" + "{x}",
];
const xmlText = fc
  .oneof(
    fc.array(fc.oneof(fc.constantFrom(...specials), fc.string({ unit: "binary", maxLength: 5 })), {
      minLength: 1,
      maxLength: 8,
    }),
    fc.string({ unit: "binary", minLength: 1, maxLength: 30 }).map((s) => [s]),
  )
  .map((parts) => parts.join("").slice(0, 255))
  .filter((s) => s.length > 0 && !xmlInvalid.test(s));

const segment = fc.stringMatching(/^[A-Za-z0-9._@+=,-]{1,10}$/).filter((s) => s !== ".." && s !== ".");
const absPath = fc.array(segment, { minLength: 1, maxLength: 4 }).map((segs) => `/${segs.join("/")}`);
const mac = fc.stringMatching(/^[0-9a-f][02468ace](:[0-9a-f]{2}){5}$/);
const format = fc.constantFrom("qcow2" as const, "raw" as const);

const specArb: fc.Arbitrary<DomainSpec> = fc
  .record({
    uuid: fc.uuid(),
    name: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/),
    virtType: fc.constantFrom("qemu" as const, "kvm" as const),
    memoryMiB: fc.integer({ min: 16, max: 65_536 }),
    vcpus: fc.integer({ min: 1, max: 64 }),
    rootDisk: fc.record({ path: absPath, format }),
    volumes: fc.uniqueArray(fc.record({ path: absPath, device: fc.stringMatching(/^vd[b-z]$/), format }), {
      maxLength: 4,
      selector: (v) => v.device,
    }),
    interfaces: fc.uniqueArray(
      fc.record({
        mac,
        network: fc.oneof(
          fc.constant({ type: "user" as const }),
          fc
            .stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/)
            .map((bridge) => ({ type: "bridge" as const, bridge })),
        ),
      }),
      { maxLength: 3, selector: (n) => n.mac },
    ),
    metadata: fc.option(
      fc.record({
        instanceName: xmlText,
        flavor: fc.record(
          {
            name: xmlText,
            vcpus: fc.integer({ min: 1, max: 64 }),
            memoryMiB: fc.integer({ min: 1, max: 1 << 20 }),
            diskGiB: fc.integer({ min: 1, max: 4096 }),
          },
          { requiredKeys: ["vcpus", "memoryMiB", "diskGiB"] },
        ),
        imageRef: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,40}$/),
      }),
      { nil: undefined },
    ),
  })
  .map((s) => (s.metadata === undefined ? (({ metadata: _m, ...rest }) => rest)(s) : s));

let fileN = 0;
function writeXml(xml: string): string {
  const file = join(work, `d${fileN++}.xml`);
  writeFileSync(file, xml);
  return file;
}

/** XPath 1.0 string() of one node, via xmllint (which appends one newline). */
function xpath(file: string, expr: string): string {
  const out = execFileSync("xmllint", ["--xpath", `string(${expr})`, file], { encoding: "utf8" });
  return out.endsWith("\n") ? out.slice(0, -1) : out;
}
const md = (name: string) => `/domain/metadata/*[local-name()='instance']/*[local-name()='${name}']`;

describe("buildDomainXml", () => {
  it.skipIf(!hasValidator)("passes virt-xml-validate and reads back every value (25 generated specs)", () => {
    fc.assert(
      fc.property(specArb, (spec) => {
        const xml = buildDomainXml(spec);
        const file = writeXml(xml);
        const v = spawnSync("virt-xml-validate", [file, "domain"], { encoding: "utf8" });
        expect(v.status, `${v.stderr}\n${xml}`).toBe(0);

        expect(xpath(file, "/domain/@type")).toBe(spec.virtType);
        expect(xpath(file, "/domain/name")).toBe(spec.name);
        expect(xpath(file, "/domain/uuid")).toBe(spec.uuid.toLowerCase());
        expect(xpath(file, "/domain/memory")).toBe(String(spec.memoryMiB));
        expect(xpath(file, "/domain/memory/@unit")).toBe("MiB");
        expect(xpath(file, "/domain/vcpu")).toBe(String(spec.vcpus));
        expect(xpath(file, "count(/domain/features/acpi)")).toBe("1");
        expect(xpath(file, "/domain/os/type/@arch")).toBe("x86_64");
        expect(xpath(file, "count(/domain/devices/graphics)")).toBe("0");
        const disks = [{ ...spec.rootDisk, device: "vda" }, ...(spec.volumes ?? [])];
        expect(xpath(file, "count(/domain/devices/disk)")).toBe(String(disks.length));
        disks.forEach((d, i) => {
          const at = `/domain/devices/disk[${i + 1}]`;
          expect(xpath(file, `${at}/source/@file`)).toBe(d.path);
          expect(xpath(file, `${at}/target/@dev`)).toBe(d.device);
          expect(xpath(file, `${at}/target/@bus`)).toBe("virtio");
          expect(xpath(file, `${at}/driver/@type`)).toBe(d.format);
        });
        (spec.interfaces ?? []).forEach((n, i) => {
          const at = `/domain/devices/interface[${i + 1}]`;
          expect(xpath(file, `${at}/@type`)).toBe(n.network.type);
          expect(xpath(file, `${at}/mac/@address`)).toBe(n.mac);
          expect(xpath(file, `${at}/source/@bridge`)).toBe(
            n.network.type === "bridge" ? n.network.bridge : "",
          );
        });
        if (spec.metadata) {
          expect(xpath(file, "namespace-uri(/domain/metadata/*)")).toBe(METADATA_NAMESPACE);
          expect(xpath(file, md("name"))).toBe(spec.metadata.instanceName);
          expect(xpath(file, `${md("flavor")}/@name`)).toBe(spec.metadata.flavor.name ?? "");
          expect(xpath(file, `${md("flavor")}/*[local-name()='vcpus']`)).toBe(
            String(spec.metadata.flavor.vcpus),
          );
          expect(xpath(file, `${md("image")}/@ref`)).toBe(spec.metadata.imageRef);
        } else {
          expect(xpath(file, "count(/domain/metadata)")).toBe("0");
        }
      }),
      { numRuns: 25 },
    );
  });

  it.skipIf(!hasValidator)("the nastiest metadata survives", () => {
    const nasty = `a&b<c>"d'e ]]> <!-- x --> &amp; \r\n\t🙂 </lazarus:name><x/>`;
    const xml = buildDomainXml({
      uuid: "0b6e8a7c-4d7e-4d59-9a43-6b1d5b8f0c11",
      name: domainName("0b6e8a7c-4d7e-4d59-9a43-6b1d5b8f0c11"),
      virtType: "qemu",
      memoryMiB: 64,
      vcpus: 1,
      rootDisk: { path: "/var/lib/lazarus/instances/x/disk", format: "qcow2" },
      volumes: [],
      interfaces: [{ mac: "52:54:00:12:34:56", network: { type: "user" } }],
      metadata: {
        instanceName: nasty,
        flavor: { name: nasty, vcpus: 1, memoryMiB: 64, diskGiB: 1 },
        imageRef: "cirros",
      },
    });
    const file = writeXml(xml);
    expect(spawnSync("virt-xml-validate", [file, "domain"]).status).toBe(0);
    expect(xpath(file, md("name"))).toBe(nasty);
    expect(xpath(file, `${md("flavor")}/@name`)).toBe(nasty);
    expect(xpath(file, "/domain/name")).toBe("instance-0b6e8a7c-4d7e-4d59-9a43-6b1d5b8f0c11");
  });

  it("rejects invalid specs, naming the field", () => {
    const ok: DomainSpec = {
      uuid: "0b6e8a7c-4d7e-4d59-9a43-6b1d5b8f0c11",
      name: "instance-1",
      virtType: "kvm",
      memoryMiB: 512,
      vcpus: 1,
      rootDisk: { path: "/d/disk", format: "qcow2" },
      volumes: [],
      interfaces: [],
    };
    expect(() => buildDomainXml(ok)).not.toThrow();
    const bad: Array<[Partial<DomainSpec> | Record<string, unknown>, RegExp]> = [
      [{ uuid: "not-a-uuid" }, /domainSpec\.uuid/],
      [{ name: "a b" }, /domainSpec\.name: .*"a b"/],
      [{ name: "x<y" }, /domainSpec\.name/],
      [{ virtType: "xen" }, /domainSpec\.virtType/],
      [{ memoryMiB: 0 }, /domainSpec\.memoryMiB/],
      [{ rootDisk: { path: "disk", format: "qcow2" } }, /domainSpec\.rootDisk\.path/],
      [{ rootDisk: { path: "/a/../disk", format: "qcow2" } }, /domainSpec\.rootDisk\.path/],
      [
        { volumes: [{ path: "/v", device: "vda", format: "raw" }] },
        /domainSpec\.volumes\.0\.device: .*twice/,
      ],
      [{ volumes: [{ path: "/v", device: "vd b", format: "raw" }] }, /domainSpec\.volumes\.0\.device/],
      [
        { interfaces: [{ mac: "52:54:00:AB:CD:EF", network: { type: "user" } }] },
        /domainSpec\.interfaces\.0\.mac/,
      ],
      [{ interfaces: [{ mac: "53:54:00:ab:cd:ef", network: { type: "user" } }] }, /interfaces\.0\.mac/],
      [
        { interfaces: [{ mac: "52:54:00:ab:cd:ef", network: { type: "bridge", bridge: "br0;id" } }] },
        /bridge/,
      ],
      [{ interfaces: [{ mac: "52:54:00:ab:cd:ef", network: { type: "direct" } }] }, /network/],
      [
        {
          metadata: {
            instanceName: "a\u0001b",
            flavor: { vcpus: 1, memoryMiB: 1, diskGiB: 1 },
            imageRef: "i",
          },
        },
        /metadata\.instanceName/,
      ],
      [
        { metadata: { instanceName: "x", flavor: { vcpus: 1, memoryMiB: 1, diskGiB: 1 }, imageRef: "../i" } },
        /metadata\.imageRef/,
      ],
    ];
    for (const [patch, message] of bad) {
      const attempt = () => buildDomainXml({ ...ok, ...patch } as DomainSpec);
      expect(attempt, JSON.stringify(patch)).toThrow(InvalidInput);
      expect(attempt, JSON.stringify(patch)).toThrow(message);
    }
  });

  it("domainName and xmlEscape", () => {
    expect(domainName("0B6E8A7C-4D7E-4D59-9A43-6B1D5B8F0C11")).toBe(
      "instance-0b6e8a7c-4d7e-4d59-9a43-6b1d5b8f0c11",
    );
    expect(() => domainName("x")).toThrow(InvalidInput);
    expect(xmlEscape(`&<>"'`)).toBe("&amp;&lt;&gt;&quot;&apos;");
    expect(() => xmlEscape("\u0000")).toThrow(InvalidInput);
  });
});
