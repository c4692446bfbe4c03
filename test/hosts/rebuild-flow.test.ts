/**
 * The rebuild/evacuate state machine end to end on the local cloud: the real ASL file run by the local
 * Step Functions, the real handlers behind the Lambda endpoint, dynalite, SSM agents, libvirtd and qemu.
 * Hosts: a, b, c share pool p1 (their instances folder is one shared folder); d and e have local disks.
 * a and d are killed (power loss) and forced down before the evacuations. The instances are domains defined
 * with virsh on their hosts and adopted (local/fleet-domains.ts), as a fleet has them.
 */
import type { SFNClient } from "@aws-sdk/client-sfn";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalCloud, startLocalCloud } from "#local/cloud.js";
import { scheduleHosts } from "#shared/domain/scheduling.js";
import type { Instance } from "#shared/domain/schemas.js";
import { rootDiskPath } from "#shared/hosts/layout.js";
import { runFlow, sfnClient, startFlow, waitFlow } from "../support/flows.js";
import {
  bootAdopted,
  definedOn as definedOnIn,
  domState as domStateIn,
  expectUsageConsistent,
  killAndForceDown,
  poolHosts,
} from "../support/hosts.js";

let cloud: LocalCloud;
let sfn: SFNClient;
const LIVE = ["host-b", "host-c", "host-e"];

const booted: Record<string, Instance> = {};

const domState = (host: string, uuid: string) => domStateIn(cloud, host, uuid);
const definedOn = (uuid: string) => definedOnIn(cloud, uuid, LIVE);
const usageConsistent = () => expectUsageConsistent(cloud);

async function blockDevices(host: string, uuid: string): Promise<Record<string, string>> {
  const r = await cloud.fleet.hosts.get(host)!.virsh(["domblklist", uuid]);
  return Object.fromEntries(
    r.stdout
      .trim()
      .split("\n")
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f.length === 2)
      .map(([t, s]) => [t!, s!]),
  );
}

async function checksum(host: string, path: string): Promise<string> {
  const r = await cloud.fleet.hosts
    .get(host)!
    .runAs("bash", ["-c", `head -c 1048576 "$1" | sha256sum`, "_", path]);
  expect(r.exitCode).toBe(0);
  return r.stdout.split(" ")[0]!;
}

async function hostsSnapshot() {
  return (await cloud.stores.hosts.list())
    .map((h) => ({ name: h.name, usage: h.usage, claims: h.claims, antiAffinity: h.antiAffinity }))
    .sort((x, y) => x.name.localeCompare(y.name));
}

async function hypervisorSnapshot() {
  const out: Record<string, string> = {};
  for (const h of LIVE) out[h] = (await cloud.fleet.hosts.get(h)!.virsh(["list", "--all", "--uuid"])).stdout;
  return out;
}

beforeAll(async () => {
  cloud = await startLocalCloud({
    hosts: [...poolHosts("p1", "host-a", "host-b", "host-c"), { name: "host-d" }, { name: "host-e" }],
    retryIntervalScale: 0.01,
    hostCommandDeadlineMs: 30_000,
  });
  sfn = sfnClient();
  Object.assign(
    booted,
    await bootAdopted(cloud, {
      shared: {
        name: "web-1",
        host: "host-a",
        nics: 2,
        volumes: [{ name: "data-1", sizeGiB: 1, device: "vdb" }],
      },
      stopped: { name: "batch-1", host: "host-a", stopped: true },
      refused: { name: "refused-1", host: "host-a" },
      groupMember: {
        name: "ha-1",
        host: "host-a",
        policy: { serverGroup: { id: "g1", policy: "anti-affinity" } },
      },
      failures: { name: "fail-1", host: "host-a" },
      reschedule: { name: "resched-1", host: "host-a" },
      race: { name: "race-1", host: "host-a" },
      crash: {
        name: "crash-1",
        host: "host-a",
        volumes: [{ name: "data-crash", sizeGiB: 1, device: "vdb" }],
      },
      local: { name: "local-1", host: "host-d" },
      inPlace: {
        name: "rebuild-1",
        host: "host-b",
        volumes: [{ name: "data-2", sizeGiB: 1, device: "vdc" }],
      },
      up: { name: "up-1", host: "host-c" },
    }),
  );
  expect(await domState("host-b", booted.inPlace!.uuid)).toBe("running");
  await killAndForceDown(cloud, "host-a", "host-d");
}, 600_000);

afterAll(async () => {
  await cloud?.stop();
});

describe("evacuate", () => {
  it("1. moves an ACTIVE instance on shared storage to another host, with its disk, MACs, volumes and ports", async () => {
    const inst = booted.shared!;
    const hostA = await cloud.stores.hosts.require("host-a");
    const disk = rootDiskPath(hostA, inst.uuid);
    const before = await checksum("host-b", disk);

    const run = await runFlow(sfn, cloud.rebuildStateMachineArn, { instanceUuid: inst.uuid, recreate: true });
    expect(run.status, run.cause).toBe("SUCCEEDED");

    const after = await cloud.stores.instances.require(inst.uuid);
    expect(after.host).not.toBe("host-a");
    expect(["host-b", "host-c"]).toContain(after.host);
    expect(after).toMatchObject({
      node: after.host,
      vmState: "active",
      taskState: null,
      powerState: "running",
    });
    expect(await domState(after.host, inst.uuid)).toBe("running");
    expect(await definedOn(inst.uuid)).toEqual([after.host]);
    // Defined anew on the target (no `autostart --disable` sent): libvirt's default, autostart off.
    const info = await cloud.fleet.hosts.get(after.host)!.virsh(["dominfo", inst.uuid]);
    expect(info.stdout).toMatch(/^Autostart:\s+disable$/m);

    const target = await cloud.stores.hosts.require(after.host);
    expect(rootDiskPath(target, inst.uuid)).toBe(disk);
    const devices = await blockDevices(after.host, inst.uuid);
    expect(devices.vda).toBe(disk);
    const volume = await cloud.stores.volumes.require(inst.volumes[0]!.volumeId);
    expect(devices.vdb).toBe(`${target.storage.volumesPath}/${volume.backingFile}`);
    expect(await checksum(after.host, disk)).toBe(before);

    const live = volume.attachments.filter((a) => a.status === "attached");
    expect(live).toHaveLength(1);
    expect(live[0]).toMatchObject({ host: after.host, device: "vdb", instanceUuid: inst.uuid });

    const ifaces = await cloud.fleet.hosts.get(after.host)!.virsh(["domiflist", inst.uuid]);
    for (const portId of inst.ports) {
      const port = await cloud.stores.ports.require(portId);
      expect(port.bindingHost).toBe(after.host);
      expect(ifaces.stdout).toContain(port.mac);
    }

    const [migration] = await cloud.stores.migrations.listByInstance(inst.uuid);
    expect(migration).toMatchObject({
      type: "evacuation",
      status: "done",
      sourceHost: "host-a",
      destHost: after.host,
    });
    expect(target.claims[inst.uuid]?.owner).toBe(migration!.id);
    await usageConsistent();

    const types = cloud.events.events.filter((e) => e.resources.includes(inst.uuid)).map((e) => e.detailType);
    expect(types).toEqual(["instance.rebuild.start", "instance.rebuild.end", "instance.evacuate"]);
  });

  it("2. recreates the root disk from the image cache when the disk was local to the dead host", async () => {
    const inst = booted.local!;
    const run = await runFlow(sfn, cloud.rebuildStateMachineArn, { instanceUuid: inst.uuid, recreate: true });
    expect(run.status, run.cause).toBe("SUCCEEDED");
    const after = await cloud.stores.instances.require(inst.uuid);
    expect(LIVE).toContain(after.host);
    expect(await domState(after.host, inst.uuid)).toBe("running");
    const target = await cloud.stores.hosts.require(after.host);
    const info = await cloud.fleet.hosts
      .get(after.host)!
      .runAs("qemu-img", ["info", "-U", "--output=json", rootDiskPath(target, inst.uuid)]);
    const parsed = JSON.parse(info.stdout) as { "backing-filename"?: string };
    expect(parsed["backing-filename"]).toBe(`${target.storage.imageCachePath}/${inst.imageRef}.qcow2`);
  });

  it("3. keeps a STOPPED instance stopped: defined on the target, not running", async () => {
    const inst = booted.stopped!;
    const run = await runFlow(sfn, cloud.rebuildStateMachineArn, { instanceUuid: inst.uuid, recreate: true });
    expect(run.status, run.cause).toBe("SUCCEEDED");
    const after = await cloud.stores.instances.require(inst.uuid);
    expect(after).toMatchObject({ vmState: "stopped", taskState: null, powerState: "shutdown" });
    expect(await domState(after.host, inst.uuid)).toBe("shut off");
  });
});

describe("rebuild", () => {
  it("4. rebuilds in place from a new image, volumes re-attached", async () => {
    const inst = booted.inPlace!;
    const run = await runFlow(sfn, cloud.rebuildStateMachineArn, {
      instanceUuid: inst.uuid,
      recreate: false,
      imageRef: "ubuntu-24.04",
    });
    expect(run.status, run.cause).toBe("SUCCEEDED");
    const after = await cloud.stores.instances.require(inst.uuid);
    expect(after).toMatchObject({
      host: "host-b",
      imageRef: "ubuntu-24.04",
      vmState: "active",
      taskState: null,
    });
    expect(await domState("host-b", inst.uuid)).toBe("running");
    const hostB = await cloud.stores.hosts.require("host-b");
    const info = await cloud.fleet.hosts
      .get("host-b")!
      .runAs("qemu-img", ["info", "-U", "--output=json", rootDiskPath(hostB, inst.uuid)]);
    expect((JSON.parse(info.stdout) as { "backing-filename": string })["backing-filename"]).toBe(
      `${hostB.storage.imageCachePath}/ubuntu-24.04.qcow2`,
    );
    const devices = await blockDevices("host-b", inst.uuid);
    expect(Object.keys(devices).sort()).toEqual(["vda", "vdc"]);
    const [migration] = await cloud.stores.migrations.listByInstance(inst.uuid);
    expect(migration).toMatchObject({ type: "rebuild", status: "done", destHost: "host-b" });
    const types = cloud.events.events.filter((e) => e.resources.includes(inst.uuid)).map((e) => e.detailType);
    expect(types).toEqual(["instance.rebuild.start", "instance.rebuild.end"]);
  });
});

describe("refusals change nothing", () => {
  it("5. source up, target = source, instance in a task, unknown instance, vm_state not allowed", async () => {
    const { inTask } = await bootAdopted(cloud, { inTask: { name: "busy-1", host: "host-e" } });
    await cloud.stores.instances.update(inTask.uuid, { set: { taskState: "migrating" } });
    const paused = booted.refused!;
    await cloud.stores.instances.update(paused.uuid, { set: { vmState: "paused" } });
    const watched = [booted.up!.uuid, booted.groupMember!.uuid, inTask.uuid, paused.uuid];
    const records = async () => Promise.all(watched.map((u) => cloud.stores.instances.require(u)));
    const before = {
      records: await records(),
      hosts: await hostsSnapshot(),
      virsh: await hypervisorSnapshot(),
    };

    const cases: Array<[Parameters<typeof runFlow>[2], string]> = [
      [{ instanceUuid: booted.up!.uuid, recreate: true }, "ComputeServiceInUse"],
      [{ instanceUuid: booted.groupMember!.uuid, recreate: true, targetHost: "host-a" }, "InvalidTargetHost"],
      [{ instanceUuid: inTask.uuid, recreate: true }, "InstanceInvalidState"],
      [{ instanceUuid: "6f1c1a43-9d1e-4c1e-8f6a-0a6c7b1d2e3f", recreate: true }, "InstanceNotFound"],
      [{ instanceUuid: paused.uuid, recreate: true }, "InstanceInvalidState"],
    ];
    for (const [req, error] of cases) {
      const run = await runFlow(sfn, cloud.rebuildStateMachineArn, req);
      expect(run.status).toBe("FAILED");
      expect(run.error).toBe(error);
    }
    expect(await records()).toEqual(before.records);
    expect(await hostsSnapshot()).toEqual(before.hosts);
    expect(await hypervisorSnapshot()).toEqual(before.virsh);
  });
});

describe("no valid host", () => {
  it("6. ends in ERROR with a NoValidHost fault and no claim; succeeds once a host has room", async () => {
    const group = { id: "g1", policy: "anti-affinity" as const };
    const { onB, onC } = await bootAdopted(cloud, {
      onB: { name: "ha-2", host: "host-b", policy: { serverGroup: group } },
      onC: { name: "ha-3", host: "host-c", policy: { serverGroup: group } },
    });
    const inst = booted.groupMember!;

    const run = await runFlow(sfn, cloud.rebuildStateMachineArn, { instanceUuid: inst.uuid, recreate: true });
    expect(run.status).toBe("FAILED");
    expect(run.error).toBe("NoValidHost");
    const after = await cloud.stores.instances.require(inst.uuid);
    expect(after).toMatchObject({ vmState: "error", taskState: null, host: "host-a", node: "host-a" });
    expect(after.fault).toMatchObject({ error: "NoValidHost", step: "schedule" });
    expect(after.fault?.message).toMatch(/anti-affinity/);
    const [migration] = await cloud.stores.migrations.listByInstance(inst.uuid);
    expect(migration?.status).toBe("error");
    for (const h of await cloud.stores.hosts.list()) {
      if (h.name !== "host-a") expect(h.claims[inst.uuid], h.name).toBeUndefined();
    }
    const types = cloud.events.events.filter((e) => e.resources.includes(inst.uuid)).map((e) => e.detailType);
    expect(types).toEqual(["instance.rebuild.start", "instance.rebuild.error"]);

    // Room appears on host-c: its group member is deleted.
    const hostC = cloud.fleet.hosts.get("host-c")!;
    await hostC.virsh(["destroy", onC.uuid]);
    await hostC.virsh(["undefine", onC.uuid]);
    await cloud.stores.hosts.release("host-c", onC.uuid);
    const again = await runFlow(sfn, cloud.rebuildStateMachineArn, {
      instanceUuid: inst.uuid,
      recreate: true,
    });
    expect(again.status, again.cause).toBe("SUCCEEDED");
    const moved = await cloud.stores.instances.require(inst.uuid);
    expect(moved).toMatchObject({ host: "host-c", vmState: "active", taskState: null });
    expect(await domState("host-c", inst.uuid)).toBe("running");
    expect(onB.host).toBe("host-b");
    await usageConsistent();
  });
});

describe("compute-side failures", () => {
  async function expectFailed(
    inst: Instance,
    run: Awaited<ReturnType<typeof runFlow>>,
    error: string,
    step: string,
    target: string,
  ) {
    expect(run.status).toBe("FAILED");
    expect(run.error).toBe(error);
    const after = await cloud.stores.instances.require(inst.uuid);
    expect(after).toMatchObject({ vmState: "error", taskState: null, host: "host-a" });
    expect(after.fault).toMatchObject({ error, step });
    const migration = await cloud.stores.migrations.require(run.requestId);
    expect(migration.status).toBe("failed");
    expect((await cloud.stores.hosts.require(target)).claims[inst.uuid]).toBeUndefined();
    const faults = await cloud.stores.faults.list(inst.uuid);
    expect(faults[0]).toMatchObject({ error, step });
  }

  it("7. InstanceExists, InvalidSharedStorage both ways, recreate unsupported: failed, ERROR, claim released", async () => {
    const inst = booted.failures!;
    const hostB = cloud.fleet.hosts.get("host-b")!;
    const xml = `<domain type='qemu'><name>squatter</name><uuid>${inst.uuid}</uuid><memory unit='MiB'>32</memory><os><type arch='x86_64'>hvm</type></os></domain>`;
    const file = `${hostB.homeDir}/squatter.xml`;
    await hostB.runAs("bash", ["-c", `cat > "$1"`, "_", file], { input: xml });
    await hostB.virsh(["define", file]);

    let run = await runFlow(sfn, cloud.rebuildStateMachineArn, {
      instanceUuid: inst.uuid,
      recreate: true,
      targetHost: "host-b",
      force: true,
    });
    await expectFailed(inst, run, "InstanceExists", "checkInstanceNotOnTarget", "host-b");
    expect(await domState("host-b", inst.uuid)).toBe("shut off"); // someone else's domain: left alone
    await hostB.virsh(["undefine", inst.uuid]);

    run = await runFlow(sfn, cloud.rebuildStateMachineArn, {
      instanceUuid: inst.uuid,
      recreate: true,
      targetHost: "host-e",
      force: true,
      onSharedStorage: true,
    });
    await expectFailed(inst, run, "InvalidSharedStorage", "checkSharedStorage", "host-e");

    run = await runFlow(sfn, cloud.rebuildStateMachineArn, {
      instanceUuid: inst.uuid,
      recreate: true,
      targetHost: "host-c",
      force: true,
      onSharedStorage: false,
    });
    await expectFailed(inst, run, "InvalidSharedStorage", "checkSharedStorage", "host-c");

    const hostE = await cloud.stores.hosts.require("host-e");
    await cloud.stores.hosts.put({ ...hostE, supportsRecreate: false });
    run = await runFlow(sfn, cloud.rebuildStateMachineArn, {
      instanceUuid: inst.uuid,
      recreate: true,
      targetHost: "host-e",
      force: true,
    });
    await cloud.stores.hosts.put({ ...(await cloud.stores.hosts.require("host-e")), supportsRecreate: true });
    await expectFailed(inst, run, "InstanceEvacuateNotSupported", "verifyRecreate", "host-e");
    expect(await definedOn(inst.uuid)).toEqual([]);
    await usageConsistent();
  });

  it("8. a spawn that fails on the first target is rescheduled; the shared disk is untouched", async () => {
    const inst = booted.reschedule!;
    const hostA = await cloud.stores.hosts.require("host-a");
    const disk = rootDiskPath(hostA, inst.uuid);
    const before = await checksum("host-b", disk);
    const hosts = await cloud.stores.hosts.list();
    const decision = scheduleHosts(hosts, {
      instanceUuid: inst.uuid,
      flavor: inst.flavor,
      availabilityZone: inst.availabilityZone,
      serverGroup: null,
      sourceHost: hostA,
      requestedHost: null,
      excludedHosts: [],
      sharedPoolId: "p1",
      now: new Date(),
      serviceDownSeconds: 10,
    });
    const first = decision.candidates[0]!.name;
    const faulty = cloud.fleet.hosts.get(first)!;
    faulty.injectCommandFault("virsh", "start", "injected: qemu refused to start");
    let run: Awaited<ReturnType<typeof runFlow>>;
    try {
      run = await runFlow(sfn, cloud.rebuildStateMachineArn, { instanceUuid: inst.uuid, recreate: true });
    } finally {
      faulty.clearFaults();
    }
    expect(run.status, run.cause).toBe("SUCCEEDED");
    const after = await cloud.stores.instances.require(inst.uuid);
    expect(after.host).not.toBe(first);
    expect(["host-b", "host-c"]).toContain(after.host);
    expect(await domState(after.host, inst.uuid)).toBe("running");
    expect(await domState(first, inst.uuid)).toBe("absent");
    expect((await cloud.stores.hosts.require(first)).claims[inst.uuid]).toBeUndefined();
    expect(await checksum(after.host, disk)).toBe(before);
    expect((await blockDevices(after.host, inst.uuid)).vda).toBe(disk);
    const migration = await cloud.stores.migrations.require(run.requestId);
    expect(migration).toMatchObject({ status: "done", destHost: after.host, attemptedHosts: [first] });
    await usageConsistent();
  });

  it("9. two evacuations of one instance at once: one runs, the other is refused", async () => {
    const inst = booted.race!;
    const [s1, s2] = await Promise.all([
      startFlow(sfn, cloud.rebuildStateMachineArn, { instanceUuid: inst.uuid, recreate: true }),
      startFlow(sfn, cloud.rebuildStateMachineArn, { instanceUuid: inst.uuid, recreate: true }),
    ]);
    const runs = await Promise.all([waitFlow(sfn, s1), waitFlow(sfn, s2)]);
    const statuses = runs.map((r) => r.status).sort();
    expect(statuses).toEqual(["FAILED", "SUCCEEDED"]);
    const refused = runs.find((r) => r.status === "FAILED")!;
    expect(["InstanceInvalidState", "UnexpectedTaskState"]).toContain(refused.error);
    const after = await cloud.stores.instances.require(inst.uuid);
    expect(await definedOn(inst.uuid)).toEqual([after.host]);
    expect(await cloud.stores.migrations.get(refused.requestId)).toBeNull();
    await usageConsistent();
  });

  it("10. steps retried after a crash mid-step leave the same result as once", async () => {
    const inst = booted.crash!;
    const crashed = new Set<string>();
    const crashOnce = [
      "lazarus-conductor-schedule",
      "lazarus-compute-prepare-target",
      "lazarus-compute-spawn",
    ];
    cloud.lambda.setHooks({
      afterInvoke(name, event) {
        if ((event as { instanceUuid?: string }).instanceUuid !== inst.uuid) return;
        if (!crashOnce.includes(name) || crashed.has(name)) return;
        crashed.add(name);
        const e = new Error(`simulated crash of ${name} after its work`);
        e.name = "Lambda.Unknown";
        throw e;
      },
    });
    let run: Awaited<ReturnType<typeof runFlow>>;
    try {
      run = await runFlow(sfn, cloud.rebuildStateMachineArn, { instanceUuid: inst.uuid, recreate: true });
    } finally {
      cloud.lambda.setHooks(undefined);
    }
    expect(run.status, run.cause).toBe("SUCCEEDED");
    expect([...crashed].sort()).toEqual([...crashOnce].sort());
    const calls = cloud.lambda.invocations.filter(
      (i) => (i.event as { instanceUuid?: string }).instanceUuid === inst.uuid,
    );
    for (const name of crashOnce) expect(calls.filter((c) => c.functionName === name)).toHaveLength(2);

    const after = await cloud.stores.instances.require(inst.uuid);
    expect(after).toMatchObject({ vmState: "active", taskState: null });
    expect(await definedOn(inst.uuid)).toEqual([after.host]);
    expect(await domState(after.host, inst.uuid)).toBe("running");
    const claims = (await cloud.stores.hosts.list()).filter(
      (h) => h.name !== "host-a" && h.claims[inst.uuid],
    );
    expect(claims.map((h) => h.name)).toEqual([after.host]);
    const volume = await cloud.stores.volumes.require(inst.volumes[0]!.volumeId);
    expect(volume.attachments.filter((a) => a.status === "attached")).toHaveLength(1);
    await usageConsistent();
  });
});
