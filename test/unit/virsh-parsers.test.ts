/**
 * virsh parsers against real virsh 9 output, captured live from libvirt's test driver
 * (`virsh -c test:///default`, no daemon). The commands are the host documents' (ssm-documents/): their
 * `virsh` prefix is dropped and the rest runs inside one virsh session (the test driver keeps state per
 * connection).
 */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { InvalidInput } from "#shared/domain/errors.js";
import { buildDomainXml, domainName } from "#shared/hosts/domain-xml.js";
import {
  parseDomBlkList,
  parseDomIfList,
  parseDomInfo,
  parseDomState,
  parseListUuids,
  powerStateOf,
  VIRSH_POWER_STATES,
} from "#shared/hosts/virsh-parsers.js";
import { useTempDir } from "#test/support/temp-dir.js";

const hasVirsh = spawnSync("virsh", ["--version"]).status === 0;
const work = useTempDir("lazarus-virsh-parsers-");

const UUID = "0b6e8a7c-4d7e-4d59-9a43-6b1d5b8f0c11";
const TEST_DOMAIN_UUID = "6695eb01-f6a4-8304-79aa-97f2502e193f"; // the test driver's built-in "test"

const xmlPath = () => join(work, "dom.xml");
beforeAll(() =>
  writeFileSync(
    xmlPath(),
    buildDomainXml({
      uuid: UUID,
      name: domainName(UUID),
      virtType: "qemu",
      memoryMiB: 64,
      vcpus: 2,
      rootDisk: { path: "/var/lib/lazarus/instances/0b6e8a7c/disk", format: "qcow2" },
      volumes: [{ path: "/var/lib/lazarus/volumes/vol-1", device: "vdb", format: "raw" }],
      interfaces: [
        { mac: "52:54:00:12:34:56", network: { type: "user" } },
        { mac: "52:54:00:ab:cd:ef", network: { type: "bridge", bridge: "br-lazarus" } },
      ],
    }),
  ),
);

const SEP = "@@lazarus-sep@@";
/** The virsh commands the documents run, with a domain in place of their `"$uuid"`. */
const virsh = {
  define: (path: string) => `virsh define ${path}`,
  domState: (u: string) => `virsh domstate ${u}`,
  start: (u: string) => `virsh start ${u}`,
  shutdown: (u: string) => `virsh shutdown ${u}`,
  destroy: (u: string) => `virsh destroy ${u}`,
  domInfo: (u: string) => `virsh dominfo ${u}`,
  listAllUuids: () => "virsh list --all --uuid",
  domBlkList: (u: string) => `virsh domblklist ${u} --details`,
  domIfList: (u: string) => `virsh domiflist ${u}`,
};

/** Runs virsh commands in one test-driver session; returns each command's stdout. */
function session(commands: string[]): string[] {
  const inner = commands.map((c) => {
    expect(c.startsWith("virsh ")).toBe(true);
    return c.slice("virsh ".length);
  });
  const r = spawnSync("virsh", ["-c", "test:///default", inner.join(` ; echo ${SEP} ; `)], {
    encoding: "utf8",
    env: { ...process.env, LC_ALL: "C" },
  });
  expect(r.stderr).toBe("");
  expect(r.status).toBe(0);
  return r.stdout.split(`${SEP}\n`);
}

describe.skipIf(!hasVirsh)("virsh parsers on live test-driver output", () => {
  it("domstate through running, paused and shut off", () => {
    const out = session([
      virsh.define(xmlPath()),
      virsh.domState(UUID),
      virsh.start(UUID),
      virsh.domState(UUID),
      `virsh suspend '${UUID}'`,
      virsh.domState(UUID),
      `virsh resume '${UUID}'`,
      virsh.shutdown(UUID),
      virsh.domState(UUID),
      virsh.start(UUID),
      virsh.destroy(UUID),
      virsh.domState(UUID),
    ]);
    expect([1, 3, 5, 8, 11].map((i) => parseDomState(out[i]!))).toEqual([
      "shutdown",
      "running",
      "paused",
      "shutdown",
      "shutdown",
    ]);
  });

  it("dominfo of a running and of a shut-off domain", () => {
    const [, off, , on] = session([
      virsh.define(xmlPath()),
      virsh.domInfo(UUID),
      virsh.start(UUID),
      virsh.domInfo(UUID),
    ]);
    const offInfo = parseDomInfo(off!);
    expect(offInfo).toMatchObject({
      id: null,
      name: domainName(UUID),
      uuid: UUID,
      state: "shut off",
      powerState: "shutdown",
      cpus: 2,
      maxMemoryKiB: 64 * 1024,
      persistent: true,
      autostart: false,
    });
    const onInfo = parseDomInfo(on!);
    expect(onInfo).toMatchObject({
      name: domainName(UUID),
      state: "running",
      powerState: "running",
      cpus: 2,
    });
    expect(onInfo.id).toBeGreaterThan(0);
    expect(onInfo.fields["OS Type"]).toBe("linux");
  });

  it("list --all --uuid, with and without our domain", () => {
    const [before, , after] = session([virsh.listAllUuids(), virsh.define(xmlPath()), virsh.listAllUuids()]);
    expect(parseListUuids(before!)).toEqual([TEST_DOMAIN_UUID]);
    expect(parseListUuids(after!).sort()).toEqual([UUID, TEST_DOMAIN_UUID].sort());
    const [, , empty] = session([`virsh destroy test`, `virsh undefine test`, virsh.listAllUuids()]);
    expect(parseListUuids(empty!)).toEqual([]);
  });

  it("domblklist --details", () => {
    const out = session([
      virsh.define(xmlPath()),
      virsh.domBlkList(UUID),
      // The built-in domain's uuid is not RFC 4122 (variant 7), which Uuid refuses: address it by name.
      "virsh domblklist test --details",
    ]);
    const disk = (target: string, source: string) => ({ type: "file", device: "disk", target, source });
    expect(parseDomBlkList(out[1]!)).toEqual([
      disk("vda", "/var/lib/lazarus/instances/0b6e8a7c/disk"),
      disk("vdb", "/var/lib/lazarus/volumes/vol-1"),
    ]);
    expect(parseDomBlkList(out[2]!)).toEqual([disk("vda", "/guest/diskimage1")]);
  });

  it("domiflist", () => {
    const [, , running] = session([virsh.define(xmlPath()), virsh.start(UUID), virsh.domIfList(UUID)]);
    const ifs = parseDomIfList(running!);
    expect(ifs.map(({ interface: _i, ...rest }) => rest)).toEqual([
      { type: "user", source: null, model: "virtio", mac: "52:54:00:12:34:56" },
      { type: "bridge", source: "br-lazarus", model: "virtio", mac: "52:54:00:ab:cd:ef" },
    ]);
  });
});

describe("virsh parsers on fixed and malformed output", () => {
  it("maps every virsh state (nova's mapping)", () => {
    expect(VIRSH_POWER_STATES).toEqual({
      "no state": "nostate",
      running: "running",
      idle: "running",
      blocked: "running",
      paused: "paused",
      "in shutdown": "shutdown",
      "shut off": "shutdown",
      crashed: "crashed",
      pmsuspended: "suspended",
    });
    for (const [word, state] of Object.entries(VIRSH_POWER_STATES)) {
      expect(parseDomState(`${word}\n\n`)).toBe(state);
    }
    expect(parseDomState("running (booted)\n\n")).toBe("running");
    expect(parseDomState("shut off (destroyed)\n")).toBe("shutdown");
    expect(powerStateOf("in shutdown")).toBe("shutdown");
  });

  it("rejects what it does not understand", () => {
    const cases: Array<[() => unknown, RegExp]> = [
      [() => parseDomState(""), /domstate.*one line/],
      [() => parseDomState("laufend\n"), /unknown state "laufend"/],
      [() => parseDomState("running\nrunning\n"), /one line/],
      [() => parseDomState("toString\n"), /unknown state/],
      [() => parseDomInfo("error: failed to get domain 'x'\n"), /dominfo/],
      [() => parseDomInfo("Name: x\n"), /no "UUID" field/],
      [() => parseListUuids("6695eb01-f6a4-8304-79aa-97f2502e193f\nnot-a-uuid\n"), /not a uuid/],
      [() => parseDomBlkList(" Target   Source\n------\n vda  /x\n"), /header/],
      [() => parseDomBlkList(" Type   Device   Target   Source\n vda\n"), /dashes/],
      [() => parseDomBlkList(" Type   Device   Target   Source\n------\n file disk\n"), /fewer than 4/],
      [() => parseDomIfList(" Interface Type Source Model MAC\n---\n vnet0 user - virtio zz:zz\n"), /MAC/],
    ];
    for (const [parse, message] of cases) {
      expect(parse).toThrow(InvalidInput);
      expect(parse).toThrow(message);
    }
  });

  it("keeps a source with spaces whole", () => {
    const out =
      " Type   Device   Target   Source\n------\n file   disk     vda      /a dir/my disk.img\n block  cdrom    hdc      -\n";
    expect(parseDomBlkList(out)).toEqual([
      { type: "file", device: "disk", target: "vda", source: "/a dir/my disk.img" },
      { type: "block", device: "cdrom", target: "hdc", source: null },
    ]);
    const ifs =
      " Interface   Type     Source   Model    MAC\n---\n -   network   my net   virtio   52:54:00:AB:CD:EF\n";
    expect(parseDomIfList(ifs)).toEqual([
      { interface: null, type: "network", source: "my net", model: "virtio", mac: "52:54:00:ab:cd:ef" },
    ]);
  });
});
