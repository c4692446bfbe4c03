/**
 * Inventory on real hosts: registration through SSM (tags, agent state, capacity from libvirt), adoption
 * of domains defined by hand with virsh, evacuation of adopted instances, and fleet sync.
 * Hosts: a and b share pool p1; c has local disks; u is not tagged as a KVM host; x is killed before it
 * registers. The cloud starts with no host records (`seedHosts: false`): registration makes them.
 */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { InvokeCommand, LambdaClient } from "@aws-sdk/client-lambda";
import type { SFNClient } from "@aws-sdk/client-sfn";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AdoptHostReport, adoptHost } from "#functions/inventory/adopt.js";
import { registerHost } from "#functions/inventory/register.js";
import { syncFleet } from "#functions/inventory/sync.js";
import { type LocalCloud, startLocalCloud } from "#local/cloud.js";
import { type DefinedDomain, defineByHand, inventoryDeps } from "#local/fleet-domains.js";
import { HostCommandTimedOut, HostNotTagged, HostUnreachable } from "#shared/domain/errors.js";
import type { Instance, Resources } from "#shared/domain/schemas.js";
import { useTempDir } from "#test/support/temp-dir.js";
import { runFlow, sfnClient } from "../support/flows.js";
import { domState as domStateIn, killAndForceDown, poolHosts } from "../support/hosts.js";

let cloud: LocalCloud;
let sfn: SFNClient;
const work = useTempDir("lazarus-inventory-");
const defined: Record<string, DefinedDomain> = {};
let firstAdoption: AdoptHostReport;

function host(name: string) {
  const h = cloud.fleet.hosts.get(name);
  if (!h) throw new Error(`no host ${name}`);
  return h;
}

const domState = (hostName: string, uuid: string) => domStateIn(cloud, hostName, uuid);

/** What `virsh dumpxml` says, read with regexes (independently of the code under test). */
async function dumpxmlFacts(hostName: string, uuid: string) {
  const xml = (await host(hostName).virsh(["dumpxml", "--inactive", uuid])).stdout;
  const disks: Record<string, string> = {};
  for (const m of xml.matchAll(
    /<disk[\s\S]*?<source file='([^']+)'[\s\S]*?<target dev='([^']+)'[\s\S]*?<\/disk>/g,
  )) {
    disks[m[2]!] = m[1]!;
  }
  return {
    name: /<name>([^<]+)<\/name>/.exec(xml)?.[1],
    vcpus: Number(/<vcpu[^>]*>(\d+)<\/vcpu>/.exec(xml)?.[1]),
    memoryKiB: Number(/<memory unit='KiB'>(\d+)<\/memory>/.exec(xml)?.[1]),
    macs: [...xml.matchAll(/<mac address='([^']+)'\/>/g)].map((m) => m[1]),
    disks,
  };
}

function validateXml(xml: string): void {
  const file = join(work, `domain-${Math.random().toString(16).slice(2)}.xml`);
  writeFileSync(file, xml);
  const r = spawnSync("virt-xml-validate", [file, "domain"], { encoding: "utf8" });
  expect(r.status, r.stderr + r.stdout).toBe(0);
}

async function usageMatchesPlacement(hostName: string): Promise<{ usage: Resources; placed: Resources }> {
  const h = await cloud.stores.hosts.require(hostName);
  const placed = { vcpus: 0, memoryMiB: 0, diskGiB: 0 };
  for (const i of await cloud.stores.instances.listByHost(hostName)) {
    placed.vcpus += i.flavor.vcpus;
    placed.memoryMiB += i.flavor.memoryMiB;
    placed.diskGiB += i.flavor.diskGiB;
  }
  return { usage: h.usage, placed };
}

beforeAll(async () => {
  cloud = await startLocalCloud({
    hosts: [
      ...poolHosts("p1", "host-a", "host-b"),
      { name: "host-c" },
      { name: "host-u", tagged: false },
      { name: "host-x" },
    ],
    seedHosts: false,
    retryIntervalScale: 0.01,
    hostCommandDeadlineMs: 30_000,
  });
  sfn = sfnClient();
  // "host-a" has the fleet's usual mix; one domain has a PCI passthrough device.
  defined.web = await defineByHand(cloud, {
    name: "web-1",
    host: "host-a",
    nics: 2,
    volumes: [{ name: "data", sizeGiB: 1, device: "vdb" }],
  });
  defined.api = await defineByHand(cloud, { name: "api-1", host: "host-a" });
  defined.batch = await defineByHand(cloud, { name: "batch-1", host: "host-a", stopped: true });
  defined.db = await defineByHand(cloud, {
    name: "db-1",
    host: "host-a",
    flavor: { vcpus: 2, memoryMiB: 96, diskGiB: 2 },
  });
  defined.gpu = await defineByHand(cloud, {
    name: "gpu-1",
    host: "host-a",
    stopped: true,
    autostart: false,
    extraDevicesXml: `    <hostdev mode="subsystem" type="pci" managed="yes"><source><address domain="0x0000" bus="0x03" slot="0x00" function="0x0"/></source></hostdev>`,
  });
  defined.local = await defineByHand(cloud, { name: "local-1", host: "host-c" });
  defined.steady = await defineByHand(cloud, { name: "steady-1", host: "host-b" });
}, 600_000);

afterAll(async () => {
  await cloud?.stop();
});

describe("inventory", () => {
  it("3. refuses an untagged, an unknown and a powered-off host, writing nothing", async () => {
    const deps = inventoryDeps(cloud);
    await expect(
      registerHost(deps, { managedInstanceId: host("host-u").managedInstanceId }),
    ).rejects.toBeInstanceOf(HostNotTagged);
    await expect(registerHost(deps, { managedInstanceId: "mi-0123456789abcdef0" })).rejects.toBeInstanceOf(
      HostUnreachable,
    );
    // host-x is tagged but has just lost power. As in AWS, SSM still says Online (its agent's last health
    // report is seconds old; ConnectionLost comes after 10 minutes: refused then, as the unit tests show),
    // so registration asks the host for its facts: the command is never delivered and the executor's
    // deadline refuses it, with nothing written.
    await cloud.killHost("host-x");
    const x = host("host-x");
    expect(cloud.fleet.ssm.pingStatus(x.managedInstanceId)).toBe("Online");
    const refused = await registerHost(deps, { managedInstanceId: x.managedInstanceId }).catch(
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(HostCommandTimedOut);
    expect((refused as HostCommandTimedOut).details).toMatchObject({ lastStatus: "Pending" });
    // Through the deployed function too: the error type is the class name (what the API maps to 403).
    const lambda = new LambdaClient({});
    const out = await lambda.send(
      new InvokeCommand({
        FunctionName: "lazarus-inventory-register-host",
        Payload: Buffer.from(JSON.stringify({ managedInstanceId: host("host-u").managedInstanceId })),
      }),
    );
    expect(out.FunctionError).toBeDefined();
    expect(JSON.parse(Buffer.from(out.Payload ?? []).toString("utf8")).errorType).toBe("HostNotTagged");
    expect(await cloud.stores.hosts.list()).toEqual([]);
  });

  it("registers tagged hosts with capacity read from libvirt; registering again changes nothing", async () => {
    const deps = inventoryDeps(cloud);
    for (const name of ["host-a", "host-b", "host-c"]) {
      const h = host(name);
      const report = await registerHost(deps, { managedInstanceId: h.managedInstanceId });
      expect(report.outcome).toBe("created");
      const nproc = Number(spawnSync("nproc", ["--all"], { encoding: "utf8" }).stdout.trim());
      expect(report.host).toMatchObject({
        name,
        managedInstanceId: h.managedInstanceId,
        virtType: "qemu", // no /dev/kvm here: libvirt offers TCG only
        capacity: { vcpus: nproc },
        storage: h.storage,
        status: "up",
      });
      expect(report.host.capacity.memoryMiB).toBeGreaterThan(1024);
      expect(report.facts.settingsFile).toBe(true);
    }
    const first = await cloud.stores.hosts.require("host-a");
    const again = await registerHost(deps, { managedInstanceId: host("host-a").managedInstanceId });
    // On a difference, say which fields and how (a registration read twice must read the same facts).
    const diff = again.changed.map((f) => ({
      f,
      was: first[f as keyof typeof first],
      now: again.host[f as keyof typeof first],
    }));
    expect(diff).toEqual([]);
    expect(again.outcome).toBe("unchanged");
    expect((await cloud.stores.hosts.list()).map((h) => h.name)).toEqual(["host-a", "host-b", "host-c"]);
  });

  it("1a. adopts host-a's domains: each record matches virsh dumpxml; autostart turned off; passthrough refused", async () => {
    for (const d of Object.values(defined)) validateXml(d.xml);
    firstAdoption = await adoptHost(inventoryDeps(cloud), { host: "host-a" });
    expect(firstAdoption.adopted.map((a) => a.name).sort()).toEqual(["api-1", "batch-1", "db-1", "web-1"]);
    expect(firstAdoption.refused).toHaveLength(1);
    expect(firstAdoption.refused[0]).toMatchObject({ uuid: defined.gpu!.uuid, name: "gpu-1" });
    expect(firstAdoption.refused[0]!.reasons.join(" ")).toMatch(/hostdev pci/);
    expect(await cloud.stores.instances.get(defined.gpu!.uuid)).toBeNull();
    expect(firstAdoption.adopted.every((a) => a.autostartTurnedOff)).toBe(true);

    const a = await cloud.stores.hosts.require("host-a");
    for (const key of ["web", "api", "batch", "db"]) {
      const d = defined[key]!;
      const inst = await cloud.stores.instances.require(d.uuid);
      const xml = await dumpxmlFacts("host-a", d.uuid);
      expect(inst).toMatchObject({
        name: xml.name,
        host: "host-a",
        flavor: { vcpus: xml.vcpus, memoryMiB: xml.memoryKiB / 1024 },
        imageRef: "cirros-0.6",
        onSharedStorage: true,
        taskState: null,
      });
      expect(xml.disks.vda).toBe(`${a.storage.instancesPath}/${d.uuid}/disk`);
      const ports = await Promise.all(inst.ports.map((id) => cloud.stores.ports.require(id)));
      expect(ports.map((p) => p.mac)).toEqual(xml.macs);
      expect(ports.every((p) => p.bindingHost === "host-a" && p.instanceUuid === d.uuid)).toBe(true);
      const volumes = await Promise.all(inst.volumes.map((v) => cloud.stores.volumes.require(v.volumeId)));
      expect(
        Object.fromEntries(
          inst.volumes.map((v, i) => [v.device, `${a.storage.volumesPath}/${volumes[i]!.backingFile}`]),
        ),
      ).toEqual(Object.fromEntries(Object.entries(xml.disks).filter(([dev]) => dev !== "vda")));
      const state = await domState("host-a", d.uuid);
      expect(inst.powerState).toBe(state === "running" ? "running" : "shutdown");
      expect(inst.vmState).toBe(state === "running" ? "active" : "stopped");
      expect((await host("host-a").virsh(["dominfo", d.uuid])).stdout).toMatch(/Autostart:\s+disable/);
      expect(a.claims[d.uuid]?.resources).toEqual(inst.flavor);
    }
    const web = await cloud.stores.instances.require(defined.web!.uuid);
    expect(web.ports).toHaveLength(2);
    // Adopted volumes are the operator's: deleting the server detaches them, never deletes them.
    expect(web.volumes).toEqual([
      { volumeId: expect.any(String), device: "vdb", deleteOnTermination: false },
    ]);
    expect((await usageMatchesPlacement("host-a")).usage).toEqual(
      (await usageMatchesPlacement("host-a")).placed,
    );
  });

  it("2. adopting again writes nothing new: same records, no duplicates; the passthrough domain still refused", async () => {
    const snapshot = async () => {
      const instances = (await cloud.stores.instances.listByHost("host-a")).sort((x, y) =>
        x.uuid.localeCompare(y.uuid),
      );
      const ports = await Promise.all(instances.map((i) => cloud.stores.ports.listByInstance(i.uuid)));
      const volumes = await Promise.all(
        instances.flatMap((i) => i.volumes.map((v) => cloud.stores.volumes.require(v.volumeId))),
      );
      // The host's claims and usage (not its heartbeat, which the local heartbeats keep refreshing).
      const { claims, usage } = await cloud.stores.hosts.require("host-a");
      return { instances, ports, volumes, claims, usage };
    };
    const before = await snapshot();
    const again = await adoptHost(inventoryDeps(cloud), { host: "host-a" });
    expect(again.adopted).toEqual([]);
    expect(again.alreadyAdopted.map((a) => a.name).sort()).toEqual(["api-1", "batch-1", "db-1", "web-1"]);
    expect(again.refused.map((r) => r.uuid)).toEqual([defined.gpu!.uuid]);
    expect(await snapshot()).toEqual(before);
    expect(before.instances).toHaveLength(4);
    expect(before.ports.flat()).toHaveLength(5);
  });

  it("1b. evacuating the adopted instances after their hosts die recreates them with the same disks, MACs and volume", async () => {
    const local = await adoptHost(inventoryDeps(cloud), { host: "host-c" });
    expect(local.adopted).toMatchObject([{ uuid: defined.local!.uuid, onSharedStorage: false }]);
    const adopted: Instance[] = await Promise.all(
      ["web", "api", "batch", "db", "local"].map((k) => cloud.stores.instances.require(defined[k]!.uuid)),
    );
    await killAndForceDown(cloud, "host-a", "host-c");

    const runs = await Promise.all(
      adopted.map((i) =>
        runFlow(sfn, cloud.rebuildStateMachineArn, { instanceUuid: i.uuid, recreate: true }),
      ),
    );
    for (const run of runs) {
      const faults: unknown[] = [];
      if (run.status !== "SUCCEEDED") {
        const { GetExecutionHistoryCommand } = await import("@aws-sdk/client-sfn");
        const h = await sfn.send(
          new GetExecutionHistoryCommand({ executionArn: run.executionArn, maxResults: 1000 }),
        );
        for (const e of h.events ?? [])
          if (e.type === "TaskFailed") faults.push(e.taskFailedEventDetails?.cause?.slice(0, 600));
      }
      expect(run.status, JSON.stringify(faults)).toBe("SUCCEEDED");
    }

    const b = await cloud.stores.hosts.require("host-b");
    for (const before of adopted) {
      const after = await cloud.stores.instances.require(before.uuid);
      expect(after.host).toBe("host-b");
      const xml = await dumpxmlFacts("host-b", before.uuid);
      expect(xml.disks.vda).toBe(`${b.storage.instancesPath}/${before.uuid}/disk`);
      const ports = await Promise.all(before.ports.map((id) => cloud.stores.ports.require(id)));
      expect(xml.macs).toEqual(ports.map((p) => p.mac));
      for (const v of before.volumes) {
        const volume = await cloud.stores.volumes.require(v.volumeId);
        expect(xml.disks[v.device]).toBe(`${b.storage.volumesPath}/${volume.backingFile}`);
      }
      expect(await domState("host-b", before.uuid)).toBe(
        before.powerState === "running" ? "running" : "shut off",
      );
    }
    // Shared-pool roots are the very files the hand-defined domains used.
    expect((await dumpxmlFacts("host-b", defined.web!.uuid)).disks.vda).toBe(defined.web!.rootDisk);
    expect((await dumpxmlFacts("host-b", defined.web!.uuid)).disks.vdb).toBe(defined.web!.volumeFiles[0]);
  });

  it("4. sync: power drift recorded, a hand-defined domain reported unknown, usage = placed flavors", async () => {
    const deps = inventoryDeps(cloud);
    expect((await adoptHost(deps, { host: "host-b" })).adopted.map((a) => a.name)).toEqual(["steady-1"]);
    await host("host-b").virsh(["destroy", defined.steady!.uuid]); // powered off by hand
    const stray = await defineByHand(cloud, { name: "stray-1", host: "host-b", stopped: true });

    // The scheduled function, as the timer / EventBridge rule invokes it.
    const lambda = new LambdaClient({});
    const out = await lambda.send(
      new InvokeCommand({
        FunctionName: "lazarus-inventory-sync",
        Payload: Buffer.from(JSON.stringify({ orphanClaimGraceSeconds: 0 })),
      }),
    );
    expect(out.FunctionError, Buffer.from(out.Payload ?? []).toString()).toBeUndefined();
    const report = JSON.parse(Buffer.from(out.Payload ?? []).toString("utf8"));
    const b = report.hosts.find((h: { host: string }) => h.host === "host-b");
    expect(b.status).toBe("synced");
    expect(b.powerDrift).toEqual([
      {
        instanceUuid: defined.steady!.uuid,
        name: "steady-1",
        recorded: "running",
        actual: "shutdown",
        recordedNow: true,
      },
    ]);
    expect(b.unknownDomains).toEqual([{ uuid: stray.uuid, powerState: "shutdown", recordedHost: null }]);
    expect(b.missingDomains).toEqual([]);
    expect(report.hosts.find((h: { host: string }) => h.host === "host-a")).toMatchObject({
      status: "skipped",
    });
    expect((await cloud.stores.instances.require(defined.steady!.uuid)).powerState).toBe("shutdown");
    expect(await domState("host-b", stray.uuid)).toBe("shut off"); // reported, never touched
    const usage = await usageMatchesPlacement("host-b");
    expect(usage.usage).toEqual(usage.placed);
    expect(usage.placed.vcpus).toBe(7); // steady-1 + web, api, batch, local (1 each) + db (2)

    // host-a returns: autostart was turned off, so its stale copies stay off; sync reports them and
    // gives back the claims of the instances that now live on host-b.
    await cloud.restartHost("host-a");
    await cloud.setForcedDown("host-a", false);
    const back = (await syncFleet(deps, { hosts: ["host-a"], orphanClaimGraceSeconds: 0 })).hosts[0]!;
    for (const k of ["web", "api", "batch", "db"]) {
      expect(await domState("host-a", defined[k]!.uuid)).toBe("shut off");
      expect(back.unknownDomains).toContainEqual({
        uuid: defined[k]!.uuid,
        powerState: "shutdown",
        recordedHost: "host-b",
      });
    }
    expect(back.unknownDomains).toContainEqual({
      uuid: defined.gpu!.uuid,
      powerState: "shutdown",
      recordedHost: null,
    });
    expect(back.claimsReleased.sort()).toEqual(
      ["web", "api", "batch", "db"].map((k) => defined[k]!.uuid).sort(),
    );
    const a = await usageMatchesPlacement("host-a");
    expect(a.usage).toEqual({ vcpus: 0, memoryMiB: 0, diskGiB: 0 });
    expect(a.usage).toEqual(a.placed);
  });
});
