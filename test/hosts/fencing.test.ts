/**
 * Issue 16, outcome 3, on real hosts: a host that only *looks* dead (forced down, its qemu still running)
 * keeps its disk's write lock (qemu's own image lock, shared/reference/local-hosts.md). A second copy on
 * the shared disk is refused by the target, whether started by hand or by an evacuation; the evacuation
 * then ends "fencing required" (not ERROR: record, host and vm_state kept, target proven clean, no claim
 * left), and once the host is fenced (powered off) the same evacuation succeeds.
 * Hosts: a, b, c share pool p1; a is forced down but keeps running until it is fenced.
 * No disk is ever used by two running domains, nor the instance run on two hosts: a sampler
 * (test/support/double-runs.ts) looks while the flows run.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { SFNClient } from "@aws-sdk/client-sfn";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalCloud, startLocalCloud } from "#local/cloud.js";
import { disksOpenedTwice } from "#local/invariants.js";
import { isDiskLockRefusal } from "#shared/domain/fencing.js";
import type { Instance } from "#shared/domain/schemas.js";
import { xmlEscape } from "#shared/hosts/domain-xml.js";
import { rootDiskPath } from "#shared/hosts/layout.js";
import { watchDoubleRuns } from "../support/double-runs.js";
import { runFlow, sfnClient } from "../support/flows.js";
import {
  apiGet,
  bootAdopted,
  domState as domStateIn,
  expectInvariants,
  poolHosts,
  runningHosts,
} from "../support/hosts.js";

let cloud: LocalCloud;
let sfn: SFNClient;
let inst: Instance;
const domState = (host: string, uuid: string) => domStateIn(cloud, host, uuid);
const getServer = async (uuid: string) =>
  (await apiGet(cloud, `/servers/${uuid}`)).server as Record<string, unknown>;

beforeAll(async () => {
  cloud = await startLocalCloud({
    hosts: poolHosts("p1", "host-a", "host-b", "host-c"),
    retryIntervalScale: 0.01,
  });
  sfn = sfnClient();
  ({ inst } = await bootAdopted(cloud, { inst: { name: "locked-1", host: "host-a", nics: 1 } }));
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
    // libvirt appends qemu's reason to its error from the domain's log; on a loaded machine it can answer
    // "qemu unexpectedly closed the monitor" before qemu's line is there: the reason is then in the log.
    const qemuLog = join(b.cacheDir, "libvirt", "qemu", "log", "by-hand-copy.log");
    const reason = `${r.stderr}\n${existsSync(qemuLog) ? readFileSync(qemuLog, "utf8") : ""}`;
    expect(isDiskLockRefusal(reason), reason).toBe(true);
    expect(await domState("host-a", inst.uuid)).toBe("running");
    expect(await disksOpenedTwice(runningHosts(cloud))).toEqual([]);
  });

  it("an evacuation is refused by the lock and ends 'fencing required': not ERROR, nothing started twice, no claim left, target clean", async () => {
    const watch = watchDoubleRuns(cloud, [inst]);
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
    await expectInvariants(cloud);
  });

  it("once host-a is fenced (powered off), evacuating again succeeds on the same disk and clears the state", async () => {
    await cloud.killHost("host-a");
    const watch = watchDoubleRuns(cloud, [inst]);
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
    await expectInvariants(cloud);
  });
});
