/**
 * Issue 16, outcome 3, on real hosts: a host that only *looks* dead (forced down, its qemu still running)
 * keeps its disk's write lock (qemu's own image lock, shared/reference/local-hosts.md). A second copy on
 * the shared disk is refused by the target, whether started by hand or by an evacuation; the evacuation
 * then ends "fencing required" (not ERROR: record, host and vm_state kept, target proven clean, no claim
 * left), and once the host is fenced (powered off) the same evacuation succeeds.
 * Hosts: a, b, c share pool p1; a is forced down but keeps running until it is fenced.
 * No disk is ever used by two running domains: a sampler looks every 250 ms while the flows run.
 */
import type { SFNClient } from "@aws-sdk/client-sfn";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalCloud, startLocalCloud } from "#local/cloud.js";
import { bootByAdoption } from "#local/fleet-domains.js";
import { checkInvariants, disksOpenedTwice } from "#local/invariants.js";
import { isDiskLockRefusal } from "#shared/domain/fencing.js";
import type { Instance } from "#shared/domain/schemas.js";
import { xmlEscape } from "#shared/hosts/domain-xml.js";
import { rootDiskPath } from "#shared/hosts/layout.js";
import { runFlow, sfnClient } from "../support/flows.js";

let cloud: LocalCloud;
let sfn: SFNClient;
let inst: Instance;

const runningHosts = () => [...cloud.fleet.hosts.values()].filter((h) => h.running);

async function domState(host: string, uuid: string): Promise<string> {
  const h = cloud.fleet.hosts.get(host)!;
  if (!h.running) return "host off";
  const r = await h.virsh(["domstate", uuid], { allowFail: true });
  return r.exitCode === 0 ? r.stdout.trim() : "absent";
}

/** The API as an operator's client calls it. */
async function getServer(uuid: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${cloud.api.url}/v2.1/servers/${uuid}`, {
    headers: { "openstack-api-version": "compute 2.62" },
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { server: Record<string, unknown> }).server;
}

/** Looks for a disk used by two running domains every 250 ms until stopped; returns what it saw. */
function watchDisks(): { stop: () => Promise<string[]> } {
  const seen: string[] = [];
  let on = true;
  const loop = (async () => {
    while (on) {
      seen.push(...(await disksOpenedTwice(runningHosts())));
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  return {
    stop: async () => {
      on = false;
      await loop;
      return seen;
    },
  };
}

beforeAll(async () => {
  cloud = await startLocalCloud({
    hosts: [
      { name: "host-a", sharedPoolId: "p1" },
      { name: "host-b", sharedPoolId: "p1" },
      { name: "host-c", sharedPoolId: "p1" },
    ],
    retryIntervalScale: 0.01,
  });
  sfn = sfnClient();
  // Defined with virsh on the host and adopted, as a fleet has its VMs.
  [inst] = (await bootByAdoption(cloud, [{ name: "locked-1", host: "host-a", nics: 1 }])) as [Instance];
  // The control plane counts host-a as dead; its qemu goes on running (an agent-only failure).
  await cloud.setForcedDown("host-a", true);
  expect(await domState("host-a", inst.uuid)).toBe("running");
}, 600_000);

afterAll(async () => {
  await cloud?.stop();
});

describe("the disk lock refuses a second copy while the first runs", () => {
  it("a copy started by hand on another host of the pool is refused by qemu's image lock", async () => {
    const a = await cloud.stores.hosts.require("host-a");
    const disk = rootDiskPath(a, inst.uuid);
    const xml = [
      "<domain type='qemu'>",
      "<name>by-hand-copy</name>",
      "<memory unit='MiB'>64</memory>",
      "<vcpu>1</vcpu>",
      "<os><type arch='x86_64'>hvm</type></os>",
      "<devices>",
      `<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='${xmlEscape(disk)}'/><target dev='vda' bus='virtio'/></disk>`,
      "</devices>",
      "</domain>",
    ].join("");
    const b = cloud.fleet.hosts.get("host-b")!;
    const r = await b.runAs(
      "bash",
      [
        "-c",
        'f=$(mktemp); cat > "$f"; virsh -q -c qemu:///session create "$f"; rc=$?; rm -f -- "$f"; exit $rc',
      ],
      { input: xml },
    );
    if (r.exitCode === 0) await b.virsh(["destroy", "by-hand-copy"], { allowFail: true });
    expect(r.exitCode, r.stdout).not.toBe(0);
    expect(isDiskLockRefusal(r.stderr), r.stderr).toBe(true);
    expect(await domState("host-a", inst.uuid)).toBe("running");
    expect(await disksOpenedTwice(runningHosts())).toEqual([]);
  });

  it("an evacuation is refused by the lock and ends 'fencing required': not ERROR, nothing started twice, no claim left, target clean", async () => {
    const watch = watchDisks();
    const run = await runFlow(sfn, cloud.rebuildStateMachineArn, { instanceUuid: inst.uuid, recreate: true });
    expect(await watch.stop()).toEqual([]);
    expect(run.status).toBe("FAILED");
    expect(run.error).toBe("FencingRequired");
    expect(run.cause).toMatch(/fence host-a, then evacuate again/);

    const after = await cloud.stores.instances.require(inst.uuid);
    expect(after).toMatchObject({
      host: "host-a",
      vmState: "active",
      taskState: null,
      taskRequestId: null,
      fault: { code: 409, error: "FencingRequired", step: "spawn", details: { holder: "host-a" } },
      fencingRequired: { host: "host-a", requestId: run.requestId },
    });
    const refusedBy = after.fencingRequired!.refusedBy;
    expect(["host-b", "host-c"]).toContain(refusedBy);
    expect(after.fault?.message).toMatch(
      /Power host-a off \(or destroy the domain there\), then evacuate again/,
    );
    // No other host was tried after the refusal (the old copy would hold the disk there too).
    expect((await cloud.stores.migrations.require(run.requestId)).status).toBe("failed");
    for (const h of ["host-b", "host-c"]) {
      expect(await domState(h, inst.uuid), h).toBe("absent");
      expect((await cloud.stores.hosts.require(h)).claims[inst.uuid], h).toBeUndefined();
    }
    expect(await domState("host-a", inst.uuid)).toBe("running");
    const port = await cloud.stores.ports.require(inst.ports[0]!);
    expect(port.bindingHost).toBe("host-a");
    // The API shows it: ACTIVE on host-a (its copy runs there), and what to do.
    const server = await getServer(inst.uuid);
    expect(server).toMatchObject({ status: "ACTIVE", "OS-EXT-SRV-ATTR:host": "host-a" });
    expect(server["lazarus:fencing_required"]).toMatchObject({
      host: "host-a",
      refused_by: refusedBy,
      message: expect.stringMatching(/then evacuate again/),
    });
    expect(await checkInvariants(cloud.stores, cloud.fleet.hosts, { quiet: true })).toEqual([]);
  });

  it("once host-a is fenced (powered off), evacuating again succeeds on the same disk and clears the state", async () => {
    await cloud.killHost("host-a");
    const watch = watchDisks();
    const run = await runFlow(sfn, cloud.rebuildStateMachineArn, { instanceUuid: inst.uuid, recreate: true });
    expect(await watch.stop()).toEqual([]);
    expect(run.status, run.cause).toBe("SUCCEEDED");
    const moved = await cloud.stores.instances.require(inst.uuid);
    expect(moved).toMatchObject({ vmState: "active", taskState: null, fault: null, fencingRequired: null });
    expect(["host-b", "host-c"]).toContain(moved.host);
    expect(await domState(moved.host, inst.uuid)).toBe("running");
    const a = await cloud.stores.hosts.require("host-a");
    const dest = await cloud.stores.hosts.require(moved.host);
    expect(rootDiskPath(dest, inst.uuid)).toBe(rootDiskPath(a, inst.uuid));
    expect((await getServer(inst.uuid))["lazarus:fencing_required"]).toBeNull();
    expect(await checkInvariants(cloud.stores, cloud.fleet.hosts, { quiet: true })).toEqual([]);
  });
});
