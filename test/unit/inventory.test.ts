/**
 * The inventory core in milliseconds: domain XML -> records, refusals, idempotency, a crash between the
 * records, registration's refusals, and sync. Hosts are a RecordingHost (a HostExecutor fake at the
 * interface); the records live in dynalite over HTTP. Every XML fed in is checked by virt-xml-validate.
 */
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { DeleteTableCommand } from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { adoptHost } from "#functions/inventory/adopt.js";
import { adoptedPortId } from "#functions/inventory/adoption-plan.js";
import type { InventoryDeps } from "#functions/inventory/deps.js";
import { deregisterHost } from "#functions/inventory/deregister.js";
import { registerHost } from "#functions/inventory/register.js";
import { syncFleet } from "#functions/inventory/sync.js";
import {
  HostInUse,
  HostNotFound,
  HostNotTagged,
  HostUnreachable,
  InvalidInput,
} from "#shared/domain/errors.js";
import { type Host, NO_FENCING } from "#shared/domain/schemas.js";
import { buildDomainXml, type DomainSpec } from "#shared/hosts/domain-xml.js";
import type { HostDirectory, ManagedHostInfo } from "#shared/hosts/host-directory.js";
import { createTables } from "#shared/store/create-tables.js";
import { useTempDir } from "#test/support/temp-dir.js";
import { startTestDynamo, type TestDynamo } from "../support/dynamo.js";
import { makeHost, makeInstance, makeMigration, randomMac } from "../support/fixtures.js";
import { RecordingHost } from "../support/recording-host.js";

const GiB = 1024 ** 3;
const NOW = "2026-03-01T12:00:00.000Z";
const work = useTempDir("lazarus-inventory-unit-");
const hasValidator = spawnSync("virt-xml-validate", ["--help"]).status === 0;

let db: TestDynamo;
let hostRecord: Host;
let fake: RecordingHost;
let directory: Map<string, ManagedHostInfo>;
let deps: InventoryDeps;
/** What registration did outside the table: tags per managed node, alarms created and deleted. */
let tags: Map<string, Record<string, string>>;
let alarmsPut: string[];
let alarmsRemoved: string[];

beforeAll(async () => {
  db = await startTestDynamo({ prefix: "inventory" });
});
afterAll(async () => {
  await db.close();
});

function validated(xml: string): string {
  if (!hasValidator) return xml;
  const file = join(work, `${randomUUID()}.xml`);
  writeFileSync(file, xml);
  const r = spawnSync("virt-xml-validate", [file, "domain"], { encoding: "utf8" });
  expect(r.status, r.stderr + r.stdout).toBe(0);
  return xml;
}

let hostCounter = 0;
beforeEach(async () => {
  // A fresh host per test: tests share the tables, never a host or its instances.
  hostCounter++;
  hostRecord = makeHost({
    name: `host-${hostCounter}`,
    capacity: { vcpus: 16, memoryMiB: 8192, diskGiB: 100 },
    allocationRatios: { cpu: 1, ram: 1, disk: 1 },
    storage: {
      instancesPath: "/srv/pool-1/instances",
      sharedPoolId: "pool-1",
      imageCachePath: "/var/lib/lazarus/_base",
      volumesPath: "/srv/volumes",
    },
  });
  await db.stores.hosts.put(hostRecord);
  fake = new RecordingHost();
  directory = new Map();
  tags = new Map();
  alarmsPut = [];
  alarmsRemoved = [];
  const dir: HostDirectory = {
    describe: async (id) => directory.get(id) ?? null,
    tag: async (id, t) => {
      tags.set(id, { ...tags.get(id), ...t });
      return true;
    },
    untag: async (id, keys) => {
      const left = { ...tags.get(id) };
      for (const k of keys) delete left[k];
      tags.set(id, left);
      return true;
    },
  };
  deps = {
    stores: db.stores,
    executor: fake,
    directory: dir,
    alarms: {
      put: async (host) => {
        alarmsPut.push(host);
        return [`lazarus-heartbeat-${host}`];
      },
      remove: async (host) => {
        alarmsRemoved.push(host);
        return [`lazarus-heartbeat-${host}`];
      },
    },
    deployment: { region: "eu-west-1", prefix: "lazarus" },
    now: () => new Date(NOW),
  };
  fake.addImage("/var/lib/lazarus/_base/cirros-0.6.qcow2", {
    format: "qcow2",
    virtualSizeBytes: 64 * 1024 ** 2,
  });
});

/** A domain as the hand-defined fleet has it: root overlay on the image cache, optional volumes. */
function addDomain(
  name: string,
  opts: {
    macs?: string[];
    volumes?: string[];
    state?: string;
    spec?: Partial<DomainSpec>;
    edit?: (xml: string) => string;
  } = {},
) {
  const uuid = randomUUID();
  const root = `${hostRecord.storage.instancesPath}/${uuid}/disk`;
  const macs = opts.macs ?? [randomMac()];
  const volumes = (opts.volumes ?? []).map((file, i) => ({
    path: `${hostRecord.storage.volumesPath}/${file}`,
    device: `vd${String.fromCharCode(98 + i)}`,
    format: "raw" as const,
  }));
  let xml = buildDomainXml({
    uuid,
    name,
    virtType: "qemu",
    memoryMiB: 128,
    vcpus: 2,
    rootDisk: { path: root, format: "qcow2" },
    volumes,
    interfaces: macs.map((mac) => ({ mac, network: { type: "user" as const } })),
    ...opts.spec,
  });
  if (opts.edit) xml = opts.edit(xml);
  fake.addDomain({ uuid, name, xml: validated(xml), state: opts.state ?? "running", autostart: true });
  fake.addImage(root, {
    format: "qcow2",
    virtualSizeBytes: 3 * GiB,
    backing: "/var/lib/lazarus/_base/cirros-0.6.qcow2",
  });
  for (const v of volumes) fake.addImage(v.path, { format: "raw", virtualSizeBytes: 2 * GiB });
  return { uuid, root, macs, volumes };
}

async function written(uuid: string) {
  const instance = await db.stores.instances.get(uuid);
  const ports = await db.stores.ports.listByInstance(uuid);
  const host = await db.stores.hosts.require(hostRecord.name);
  return { instance, ports, claim: host.claims[uuid] ?? null };
}

describe("adoption: domain XML -> records", () => {
  it("maps flavor, power state, root disk, NICs as ports and extra disks as volumes; turns autostart off", async () => {
    const web = addDomain("web-1", {
      macs: ["52:54:00:aa:00:01", "52:54:00:aa:00:02"],
      volumes: ["data.img"],
    });
    const stopped = addDomain("batch-1", { state: "shut off" });
    const report = await adoptHost(deps, { host: hostRecord.name });

    expect(report.refused).toEqual([]);
    expect(report.adopted.map((a) => a.name).sort()).toEqual(["batch-1", "web-1"]);
    const w = await written(web.uuid);
    expect(w.instance).toMatchObject({
      uuid: web.uuid,
      name: "web-1",
      host: hostRecord.name,
      node: hostRecord.name,
      availabilityZone: hostRecord.availabilityZone,
      flavor: { vcpus: 2, memoryMiB: 128, diskGiB: 3 },
      imageRef: "cirros-0.6",
      vmState: "active",
      powerState: "running",
      taskState: null,
      onSharedStorage: true,
      haEnabled: true,
      createdAt: NOW,
    });
    expect(w.instance!.ports).toEqual(web.macs.map((mac) => adoptedPortId(web.uuid, mac)));
    expect(w.ports.map((p) => p.mac).sort()).toEqual([...web.macs].sort());
    expect(w.ports.every((p) => p.bindingHost === hostRecord.name && p.status === "ACTIVE")).toBe(true);
    const volume = await db.stores.volumes.require(w.instance!.volumes[0]!.volumeId);
    expect(volume).toMatchObject({ backingFile: "data.img", name: "data", sizeGiB: 2, status: "in-use" });
    expect(volume.attachments).toMatchObject([
      { instanceUuid: web.uuid, host: hostRecord.name, device: "vdb", status: "attached" },
    ]);
    expect(w.claim).toMatchObject({
      owner: `adopt:${web.uuid}`,
      resources: { vcpus: 2, memoryMiB: 128, diskGiB: 3 },
    });
    expect((await written(stopped.uuid)).instance).toMatchObject({
      vmState: "stopped",
      powerState: "shutdown",
    });

    // The one change on the host: autostart off, for exactly the adopted domains.
    const autostart = fake.commandsOf("disable-autostart");
    expect(autostart).toHaveLength(1);
    expect(autostart[0]!.parameters.uuids!.split(" ")).toContain(web.uuid);
    expect(fake.domains.get(web.uuid)!.autostart).toBe(false);
    expect(report.adopted.every((a) => a.autostartTurnedOff)).toBe(true);
    // Everything else it sent only reads.
    expect(
      [...new Set(fake.commands.map((c) => c.document))].filter(
        (d) => !["list-domains", "read-domain", "read-disk-chains", "disable-autostart"].includes(d),
      ),
    ).toEqual([]);
  });

  it.each([
    [
      "a PCI passthrough device",
      (x: string) =>
        x.replace(
          "  </devices>",
          `    <hostdev mode="subsystem" type="pci" managed="yes"><source><address domain="0x0000" bus="0x03" slot="0x00" function="0x0"/></source></hostdev>\n  </devices>`,
        ),
      /hostdev pci/,
    ],
    [
      "a bridged NIC",
      (x: string) =>
        x.replace(`<interface type="user">`, `<interface type="bridge">\n      <source bridge="br0"/>`),
      /type bridge/,
    ],
    [
      "an e1000 NIC",
      (x: string) => x.replace(`<model type="virtio"/>`, `<model type="e1000"/>`),
      /model e1000/,
    ],
    [
      "UEFI firmware",
      (x: string) =>
        x.replace(
          `<boot dev="hd"/>`,
          `<loader readonly="yes" type="pflash">/usr/share/OVMF/OVMF_CODE.fd</loader>\n    <boot dev="hd"/>`,
        ),
      /UEFI/,
    ],
    [
      "a cdrom",
      (x: string) =>
        x.replace(
          "  </devices>",
          `    <disk type="file" device="cdrom"><target dev="hdc" bus="ide"/><readonly/></disk>\n  </devices>`,
        ),
      /cdrom/,
    ],
    [
      "a raw root disk",
      (x: string) => x.replace(`<driver name="qemu" type="qcow2"/>`, `<driver name="qemu" type="raw"/>`),
      /qcow2 roots/,
    ],
  ])("refuses a domain with %s, writing nothing for it", async (_what, edit, reason) => {
    const ok = addDomain("fine-1");
    const bad = addDomain("odd-1", { edit });
    const report = await adoptHost(deps, { host: hostRecord.name });
    expect(report.adopted.map((a) => a.uuid)).toEqual([ok.uuid]);
    expect(report.refused).toHaveLength(1);
    expect(report.refused[0]).toMatchObject({ uuid: bad.uuid, name: "odd-1" });
    expect(report.refused[0]!.reasons.join("\n")).toMatch(reason);
    expect(await written(bad.uuid)).toEqual({ instance: null, ports: [], claim: null });
    expect(fake.domains.get(bad.uuid)!.autostart).toBe(true); // untouched
  });

  it("refuses disks it does not know: root outside the instances folder, backing chain outside the pool, missing file", async () => {
    const elsewhere = addDomain("elsewhere-1", {
      edit: (x) =>
        x.replace(/\/srv\/pool-1\/instances\/[^/]+\/disk/, "/var/lib/libvirt/images/elsewhere.qcow2"),
    });
    const snap = addDomain("snap-1");
    fake.addImage(snap.root, {
      format: "qcow2",
      virtualSizeBytes: GiB,
      backing: "/backups/snap-1-base.qcow2",
    });
    fake.addImage("/backups/snap-1-base.qcow2", { format: "qcow2", virtualSizeBytes: GiB });
    const gone = addDomain("gone-1", { volumes: ["gone.img"] });
    fake.images.delete(gone.volumes[0]!.path);
    const report = await adoptHost(deps, { host: hostRecord.name });
    const reasons = Object.fromEntries(report.refused.map((r) => [r.uuid, r.reasons.join("; ")]));
    expect(reasons[elsewhere.uuid]).toMatch(/not at \/srv\/pool-1\/instances/);
    expect(reasons[snap.uuid]).toMatch(/backing file \/backups\/snap-1-base.qcow2 is outside/);
    expect(reasons[gone.uuid]).toMatch(/does not exist/);
    expect(report.adopted).toEqual([]);
    expect(fake.commandsOf("disable-autostart")).toEqual([]);
    expect((await db.stores.hosts.require(hostRecord.name)).claims).toEqual({});
  });

  it("is idempotent: a second run reports the domains as already adopted and writes nothing", async () => {
    const web = addDomain("web-1", { volumes: ["web-data.img"] });
    await adoptHost(deps, { host: hostRecord.name });
    const before = { ...(await written(web.uuid)), host: await db.stores.hosts.require(hostRecord.name) };
    fake.domains.get(web.uuid)!.autostart = true; // someone turned it back on
    const again = await adoptHost(deps, { host: hostRecord.name });
    expect(again.adopted).toEqual([]);
    expect(again.alreadyAdopted).toEqual([{ uuid: web.uuid, name: "web-1", autostartTurnedOff: true }]);
    expect({ ...(await written(web.uuid)), host: await db.stores.hosts.require(hostRecord.name) }).toEqual(
      before,
    );
    expect(fake.domains.get(web.uuid)!.autostart).toBe(false);
  });

  it("refuses a domain recorded on another host (a stale copy) and one the host has no room for", async () => {
    const stale = addDomain("moved-1");
    await db.stores.instances.create(
      makeInstance({ uuid: stale.uuid, host: "elsewhere", node: "elsewhere" }),
    );
    const big = addDomain("big-1", { spec: { vcpus: 32 } });
    const report = await adoptHost(deps, { host: hostRecord.name });
    const reasons = Object.fromEntries(report.refused.map((r) => [r.uuid, r.reasons.join("; ")]));
    expect(reasons[stale.uuid]).toMatch(/recorded on host elsewhere: this definition is a stale copy/);
    expect(reasons[big.uuid]).toMatch(/claim refused: .*not enough vcpus/);
    expect(fake.domains.get(big.uuid)!.autostart).toBe(true);
    expect(await written(big.uuid)).toEqual({ instance: null, ports: [], claim: null });
  });

  it("an autostart failure leaves nothing behind: claims given back, no records", async () => {
    const web = addDomain("web-1");
    fake.failWhen = (c) => c.document === "disable-autostart";
    await expect(adoptHost(deps, { host: hostRecord.name })).rejects.toThrow(/injected/);
    expect(await written(web.uuid)).toEqual({ instance: null, ports: [], claim: null });
  });

  it("a crash between the records leaves no instance; the next run completes it without duplicates", async () => {
    const web = addDomain("web-1", { macs: [randomMac(), randomMac()], volumes: ["crash-data.img"] });
    // The instances table disappears after the claim and before the records: a real DynamoDB failure.
    fake.onCommand = async (c) => {
      if (c.document === "disable-autostart")
        await db.client.send(new DeleteTableCommand({ TableName: db.tables.instances }));
    };
    await expect(adoptHost(deps, { host: hostRecord.name })).rejects.toThrow();
    fake.onCommand = null;
    await createTables(db.client, db.tables);
    const half = await written(web.uuid);
    expect(half.instance).toBeNull(); // never half-adopted: no instance without its ports, volume, claim
    expect(half.ports).toHaveLength(2);
    expect(half.claim?.owner).toBe(`adopt:${web.uuid}`);

    const report = await adoptHost(deps, { host: hostRecord.name });
    expect(report.adopted.map((a) => a.uuid)).toEqual([web.uuid]);
    const done = await written(web.uuid);
    expect(done.ports).toHaveLength(2);
    expect(done.instance!.volumes).toHaveLength(1);
    expect(Object.keys((await db.stores.hosts.require(hostRecord.name)).claims)).toEqual([web.uuid]);
  });
});

describe("registration", () => {
  const id = "mi-0123456789abcdef1";
  const online = (tagged: boolean): ManagedHostInfo => ({
    managedInstanceId: id,
    computerName: "kvm-07",
    pingStatus: "Online",
    tagged,
  });

  it("refuses untagged, unknown and offline hosts before running anything on them", async () => {
    directory.set(id, online(false));
    await expect(registerHost(deps, { managedInstanceId: id })).rejects.toBeInstanceOf(HostNotTagged);
    directory.set(id, { ...online(true), pingStatus: "ConnectionLost" });
    await expect(registerHost(deps, { managedInstanceId: id })).rejects.toBeInstanceOf(HostUnreachable);
    directory.delete(id);
    await expect(registerHost(deps, { managedInstanceId: id })).rejects.toBeInstanceOf(HostUnreachable);
    expect(fake.commands).toEqual([]);
    expect(await db.stores.hosts.get("kvm-07")).toBeNull();
  });

  it("refuses a host whose storage folders are missing, writing nothing", async () => {
    directory.set(id, online(true));
    fake.facts.settings = { instancesPath: "/srv/i", imageCachePath: "/srv/c", volumesPath: "/srv/v" };
    fake.facts.folders = ["/srv/i", "/srv/c"];
    await expect(registerHost(deps, { managedInstanceId: id, name: "kvm-08" })).rejects.toThrow(InvalidInput);
    await expect(registerHost(deps, { managedInstanceId: id, name: "kvm-08" })).rejects.toThrow(
      /missing: \/srv\/v/,
    );
    expect(await db.stores.hosts.get("kvm-08")).toBeNull();
  });

  it("records capacity from libvirt, settings from the host's file, and is idempotent", async () => {
    directory.set(id, online(true));
    fake.facts = {
      cpus: 32,
      memoryKiB: 256 * 1024 * 1024,
      domainTypes: ["kvm", "qemu"],
      settings: {
        instancesPath: "/srv/i",
        imageCachePath: "/srv/c",
        volumesPath: "/srv/v",
        sharedPoolId: "nfs-1",
        availabilityZone: "az-2",
      },
      folders: ["/srv/i", "/srv/c", "/srv/v"],
      fsBytes: 2000 * GiB,
    };
    const first = await registerHost(deps, {
      managedInstanceId: id,
      name: "kvm-09",
      reserved: { memoryMiB: 4096 },
    });
    expect(first.outcome).toBe("created");
    // No redeploy: the alarms exist, the node carries its host name, the set-up says what to run.
    expect(first.alarms).toEqual(["lazarus-heartbeat-kvm-09"]);
    expect(alarmsPut).toEqual(["kvm-09"]);
    expect(tags.get(id)).toEqual({ "lazarus:host": "kvm-09" });
    expect(first.setup.config).toMatchObject({
      host: "kvm-09",
      region: "eu-west-1",
      heartbeat: { logGroup: "/lazarus/host-heartbeats" },
      instancesPath: "/srv/i",
      sharedPoolId: "nfs-1",
    });
    expect(first.setup.commands.join("\n")).toMatch(
      /cat > \/etc\/lazarus\/host\.json <<'LAZARUS_HOST_JSON'\n\{/,
    );
    expect(first.setup.commands.at(-1)).toBe("lazarus-host status");
    expect(first.host).toMatchObject({
      name: "kvm-09",
      virtType: "kvm",
      availabilityZone: "az-2",
      capacity: { vcpus: 32, memoryMiB: 256 * 1024 - 4096, diskGiB: 2000 },
      allocationRatios: { cpu: 4, ram: 1.5, disk: 1 },
      storage: {
        instancesPath: "/srv/i",
        imageCachePath: "/srv/c",
        volumesPath: "/srv/v",
        sharedPoolId: "nfs-1",
      },
      usage: { vcpus: 0, memoryMiB: 0, diskGiB: 0 },
    });
    await db.stores.hosts.claim("kvm-09", {
      instanceUuid: randomUUID(),
      resources: { vcpus: 1, memoryMiB: 64, diskGiB: 1 },
      owner: "t",
      serverGroup: null,
    });
    expect(
      (await registerHost(deps, { managedInstanceId: id, name: "kvm-09", reserved: { memoryMiB: 4096 } }))
        .outcome,
    ).toBe("unchanged");
    fake.facts.cpus = 48; // the host got more cores
    const updated = await registerHost(deps, {
      managedInstanceId: id,
      name: "kvm-09",
      reserved: { memoryMiB: 4096 },
    });
    expect(updated.outcome).toBe("updated");
    expect(updated.host.capacity.vcpus).toBe(48);
    expect(updated.host.usage.vcpus).toBe(1); // claims survive re-registration
    await expect(registerHost(deps, { managedInstanceId: id, name: "kvm-10" })).rejects.toThrow(
      /already registered as host kvm-09/,
    );
  });
  it("records how the host's death can be proven: from the request or the settings file; kept when neither says", async () => {
    const mi = "mi-0123456789abcdef2"; // a machine of its own: the tests above registered \`id\`
    directory.set(mi, { ...online(true), managedInstanceId: mi });
    fake.facts = {
      cpus: 8,
      memoryKiB: 32 * 1024 * 1024,
      domainTypes: ["kvm", "qemu"],
      settings: {
        instancesPath: "/srv/i",
        imageCachePath: "/srv/c",
        volumesPath: "/srv/v",
        sharedPoolId: "nfs-1",
        fencing: { watchdog: true, diskLocks: true },
      },
      folders: ["/srv/i", "/srv/c", "/srv/v"],
      fsBytes: 500 * GiB,
    };
    const created = await registerHost(deps, { managedInstanceId: mi, name: "kvm-11" });
    expect(created.host.fencing).toEqual({ ...NO_FENCING, watchdog: true, diskLocks: true });

    // The request wins over the file; only what changed is reported.
    const asked = await registerHost(deps, {
      managedInstanceId: mi,
      name: "kvm-11",
      fencing: { watchdog: false, diskLocks: true },
    });
    expect(asked).toMatchObject({ outcome: "updated", changed: ["fencing"] });
    expect(asked.host.fencing).toEqual({ ...NO_FENCING, diskLocks: true });

    // Neither says anything: the host keeps its fencing (a re-registration never drops a proof silently).
    delete (fake.facts.settings as { fencing?: unknown }).fencing;
    const again = await registerHost(deps, { managedInstanceId: mi, name: "kvm-11" });
    expect(again).toMatchObject({ outcome: "unchanged", changed: [] });
    expect((await db.stores.hosts.require("kvm-11")).fencing).toEqual({ ...NO_FENCING, diskLocks: true });

    // The EC2 power fence needs an EC2 instance: a hybrid-activated machine (mi-...) is refused, unchanged.
    await expect(
      registerHost(deps, { managedInstanceId: mi, name: "kvm-11", fencing: { power: "ec2" } }),
    ).rejects.toThrow(/needs an EC2 instance/);
    expect((await db.stores.hosts.require("kvm-11")).fencing.power).toBe("none");
  });

  it("takes an IPMI or Redfish fence with its BMC; refuses a bad one whole (400, nothing stored, never the password)", async () => {
    const mi = "mi-0123456789abcdef3";
    directory.set(mi, { ...online(true), managedInstanceId: mi });
    fake.facts = {
      cpus: 8,
      memoryKiB: 32 * 1024 * 1024,
      domainTypes: ["kvm", "qemu"],
      settings: { instancesPath: "/srv/i", imageCachePath: "/srv/c", volumesPath: "/srv/v" },
      folders: ["/srv/i", "/srv/c", "/srv/v"],
      fsBytes: 500 * GiB,
    };
    const bmc = {
      address: "bmc-12.oob.example.net",
      port: 623,
      network: "oob-a",
      username: "fence",
      credentials: { secretsManager: "lazarus/bmc/kvm-12" },
    };
    const commandsBefore = fake.commands.length;
    const refused = async (fencing: unknown, message: RegExp) => {
      const at = fake.commands.length;
      const e = await registerHost(deps, { managedInstanceId: mi, name: "kvm-12", fencing } as never).then(
        () => null,
        (err: unknown) => err,
      );
      expect(e).toBeInstanceOf(InvalidInput);
      expect((e as InvalidInput).httpStatus).toBe(400);
      expect((e as Error).message).toMatch(message);
      // Refused before anything was asked of the host, and nothing stored.
      expect(fake.commands.length).toBe(at);
      expect(await db.stores.hosts.get("kvm-12")).toBeNull();
      return (e as Error).message;
    };
    await refused({ power: "ipmi", bmc: { ...bmc, address: "bmc 12; reboot" } }, /fencing\.bmc\.address/);
    await refused({ power: "ipmi", bmc: { ...bmc, address: "-bmc" } }, /a BMC address is a host name/);
    await refused({ power: "ipmi", bmc: { ...bmc, port: 70000 } }, /fencing\.bmc\.port/);
    await refused({ power: "ipmi", bmc: { ...bmc, port: 0 } }, /fencing\.bmc\.port/);
    const { credentials: _, ...noCredentials } = bmc;
    await refused({ power: "ipmi", bmc: noCredentials }, /fencing\.bmc\.credentials/);
    await refused({ power: "ipmi", bmc: { ...bmc, credentials: {} } }, /a reference, never the password/);
    await refused({ power: "ipmi" }, /power "ipmi" needs bmc/);
    await refused({ power: "none", bmc }, /bmc is only for power "ipmi" or "redfish"/);
    await refused({ power: "ipmi", bmc: { ...bmc, systemsUri: "/redfish/v1/Systems/1" } }, /Redfish option/);
    const leaked = await refused(
      { power: "ipmi", bmc: { ...bmc, password: "hunter2-very-secret" } },
      /a BMC password is never stored/,
    );
    expect(leaked).not.toContain("hunter2-very-secret");
    expect(fake.commands.length).toBe(commandsBefore);

    const ipmi = await registerHost(deps, {
      managedInstanceId: mi,
      name: "kvm-12",
      fencing: { power: "ipmi", bmc, bmcNetworks: ["oob-a"] },
    });
    expect(ipmi.host.fencing).toEqual({
      power: "ipmi",
      watchdog: false,
      diskLocks: false,
      bmcNetworks: ["oob-a"],
      bmc: { ...bmc, lanplus: true, cipher: 3, verifyTls: true, systemsUri: null },
    });
    // Redfish from the host's settings file: a parameter reference, TLS verification off, the system named.
    fake.facts.settings = {
      ...fake.facts.settings,
      fencing: {
        power: "redfish",
        bmc: {
          address: "2001:db8::12",
          network: "oob-a",
          username: "fence",
          credentials: { ssmParameter: "/lazarus/bmc/kvm-12" },
          verifyTls: false,
          systemsUri: "/redfish/v1/Systems/1",
        },
      },
    };
    const redfish = await registerHost(deps, { managedInstanceId: mi, name: "kvm-12" });
    expect(redfish.host.fencing).toMatchObject({
      power: "redfish",
      bmcNetworks: [],
      bmc: { address: "2001:db8::12", port: null, verifyTls: false, systemsUri: "/redfish/v1/Systems/1" },
    });
  });
});

describe("sync", () => {
  it("records power drift, reports missing and unknown domains, audits claims; skips instances in a task", async () => {
    const running = addDomain("run-1");
    const missing = addDomain("miss-1");
    const busy = addDomain("busy-1");
    await adoptHost(deps, { host: hostRecord.name });
    fake.domains.get(running.uuid)!.state = "shut off";
    const missingDomain = fake.domains.get(missing.uuid)!;
    fake.domains.delete(missing.uuid);
    fake.domains.get(busy.uuid)!.state = "paused";
    await db.stores.instances.update(busy.uuid, { set: { taskState: "rebuilding" } });
    const stray = addDomain("stray-1");
    // Claims that no instance here explains: an old one (released), a fresh one and an in-flight migration's (kept).
    const at = (iso: string) => ({ now: () => new Date(iso) });
    const old = randomUUID();
    const fresh = randomUUID();
    const migration = await db.stores.migrations.create(makeMigration({ status: "pre-migrating" }));
    const moving = migration.instanceUuid;
    const claim = (uuid: string, owner: string) => ({
      instanceUuid: uuid,
      resources: { vcpus: 1, memoryMiB: 64, diskGiB: 1 },
      owner,
      serverGroup: null,
    });
    await db.storesWith(at("2026-03-01T10:00:00.000Z")).hosts.claim(hostRecord.name, claim(old, "boot:old"));
    await db
      .storesWith(at("2026-03-01T10:00:00.000Z"))
      .hosts.claim(hostRecord.name, claim(moving, migration.id));
    await db
      .storesWith(at("2026-03-01T11:59:00.000Z"))
      .hosts.claim(hostRecord.name, claim(fresh, "boot:fresh"));

    const report = await syncFleet(deps, { hosts: [hostRecord.name] });
    const h = report.hosts[0]!;
    expect(report.drift).toBe(true);
    expect(h.powerDrift).toEqual([
      {
        instanceUuid: running.uuid,
        name: "run-1",
        recorded: "running",
        actual: "shutdown",
        recordedNow: true,
      },
    ]);
    expect(h.missingDomains).toEqual([{ instanceUuid: missing.uuid, name: "miss-1" }]);
    expect(h.unknownDomains).toEqual([{ uuid: stray.uuid, powerState: "running", recordedHost: null }]);
    expect(h.claimsReleased).toEqual([old]);
    expect((await db.stores.instances.require(running.uuid)).powerState).toBe("shutdown");
    expect((await db.stores.instances.require(missing.uuid)).powerState).toBe("nostate");
    expect((await db.stores.instances.require(busy.uuid)).powerState).toBe("running");
    const after = await db.stores.hosts.require(hostRecord.name);
    expect(Object.keys(after.claims).sort()).toEqual(
      [running.uuid, missing.uuid, busy.uuid, fresh, moving].sort(),
    );
    expect(h.usage).toEqual(after.usage);
    // What is left for an operator is on the host record (the console's work waiting).
    expect(after.drift).toEqual({
      at: expect.any(String),
      unknownDomains: [{ uuid: stray.uuid, recordedHost: null }],
      missingDomains: [{ instanceUuid: missing.uuid, name: "miss-1" }],
    });
    // Report-only: nothing written.
    fake.domains.get(running.uuid)!.state = "running";
    fake.domains.delete(stray.uuid);
    const dry = await syncFleet(deps, { hosts: [hostRecord.name], apply: false });
    expect(dry.hosts[0]!.powerDrift[0]).toMatchObject({ actual: "running", recordedNow: false });
    expect((await db.stores.instances.require(running.uuid)).powerState).toBe("shutdown");
    expect((await db.stores.hosts.require(hostRecord.name)).drift?.unknownDomains).toHaveLength(1);
    // A recording sync with the stray gone and the missing domain back clears it.
    fake.domains.set(missing.uuid, missingDomain);
    await syncFleet(deps, { hosts: [hostRecord.name] });
    expect((await db.stores.hosts.require(hostRecord.name)).drift).toBeNull();
  });
});

describe("deregistration", () => {
  /** A tagged managed node `id`, registered as host `name`. */
  async function registered(id: string, name: string) {
    directory.set(id, { managedInstanceId: id, computerName: name, pingStatus: "Online", tagged: true });
    fake.facts = {
      cpus: 8,
      memoryKiB: 16 * 1024 * 1024,
      domainTypes: ["qemu"],
      settings: { instancesPath: "/srv/i", imageCachePath: "/srv/c", volumesPath: "/srv/v" },
      folders: ["/srv/i", "/srv/c", "/srv/v"],
      fsBytes: 100 * GiB,
    };
    await registerHost(deps, { managedInstanceId: id, name });
  }

  it("refuses a host that holds instances or claims; then deletes its alarms, its name tag and its record", async () => {
    const id = "mi-0000000000000d00d";
    await registered(id, "kvm-dd");
    expect(tags.get(id)).toEqual({ "lazarus:host": "kvm-dd" });
    const claim = randomUUID();
    await db.stores.hosts.claim("kvm-dd", {
      instanceUuid: claim,
      resources: { vcpus: 1, memoryMiB: 64, diskGiB: 1 },
      owner: "t",
      serverGroup: null,
    });
    await expect(deregisterHost(deps, { host: "kvm-dd" })).rejects.toBeInstanceOf(HostInUse);
    expect(alarmsRemoved).toEqual([]);
    await db.stores.hosts.release("kvm-dd", claim);
    const report = await deregisterHost(deps, { host: "kvm-dd" });
    expect(report).toMatchObject({ host: "kvm-dd", managedInstanceId: id, untagged: ["lazarus:host"] });
    expect(alarmsRemoved).toEqual(["kvm-dd"]);
    expect(tags.get(id)).toEqual({});
    expect(await db.stores.hosts.get("kvm-dd")).toBeNull();
    await expect(deregisterHost(deps, { host: "kvm-dd" })).rejects.toBeInstanceOf(HostNotFound);
  });

  /** A registered idle host kvm-<n>; `during` runs while the deregistration takes its name tag off. */
  async function registeredIdle(n: string, during: (name: string) => Promise<void>) {
    const id = `mi-00000000000000${n}`;
    const name = `kvm-${n}`;
    await registered(id, name);
    const untag = deps.directory.untag.bind(deps.directory);
    deps.directory.untag = async (node, keys) => {
      await during(name);
      return untag(node, keys);
    };
    return { id, name };
  }

  it("a record changed meanwhile by a writer that places nothing is checked again and deleted", async () => {
    const { id, name } = await registeredIdle("e01", (h) =>
      db.stores.hosts.recordDrift(h, null).then(() => {}),
    );
    const report = await deregisterHost(deps, { host: name });
    expect(report).toMatchObject({ host: name, untagged: ["lazarus:host"] });
    expect(await db.stores.hosts.get(name)).toBeNull();
    expect(tags.get(id)).toEqual({});
  });

  it("a claim made meanwhile refuses it, and the host keeps its alarms and its name tag: it stays watched", async () => {
    const claim = randomUUID();
    const { id, name } = await registeredIdle("e02", (h) =>
      db.stores.hosts
        .claim(h, {
          instanceUuid: claim,
          resources: { vcpus: 1, memoryMiB: 64, diskGiB: 1 },
          owner: "t",
          serverGroup: null,
        })
        .then(() => {}),
    );
    alarmsPut = [];
    await expect(deregisterHost(deps, { host: name })).rejects.toBeInstanceOf(HostInUse);
    expect((await db.stores.hosts.require(name)).claims[claim]).toBeDefined();
    expect(alarmsRemoved).toEqual([name]);
    expect(alarmsPut).toEqual([name]);
    expect(tags.get(id)).toEqual({ "lazarus:host": name });
  });
});
