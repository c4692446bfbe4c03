/**
 * Issue 26 on real hosts, the control plane's outcomes (the watchdog device's own, 1, 2 and 6, are the host
 * agent's tests), one fleet: host-1 and host-2 with local disks, host-a and host-b sharing pool p1 (qemu's
 * image lock). Every host's record says it has a watchdog; none runs one: its heartbeats say 0.
 *
 *  3. host-1's agent and heartbeat stop while its guests run, its power fence refuses: however long past
 *     the lease, nothing of it moves on `lease` (its heartbeats never said a watchdog was armed).
 *  4. Meanwhile an evacuate by hand at 2.29 and at 2.95, and the rebuild machine started with recreate,
 *     are refused (FencingRequired, 409) and start nothing. The operator then powers host-1 off and forces
 *     it down (nova's `os-services` force-down, as `openstack compute service set --down` does): the
 *     evacuations work, and the instance actions say proof `operator`.
 *  5. host-a's agent and heartbeat stop, its fence refuses; the operator evacuates by hand while the
 *     automatic evacuation runs (admitted on the disk lock, refused by it while host-a runs the guest);
 *     then the fence works and the operator tries again. Every instance ends running elsewhere once, or is
 *     listed as not evacuated and the execution fails HostEvacuationIncomplete.
 * A double-run sampler (test/support/double-runs.ts) looks all along: no instance runs on two hosts and
 * no disk is opened twice at any look.
 */
import type { SFNClient } from "@aws-sdk/client-sfn";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalCloud, startLocalCloud } from "#local/cloud.js";
import type { Instance } from "#shared/domain/schemas.js";
import { type DoubleRunWatch, watchDoubleRuns } from "../support/double-runs.js";
import { runFlow, sfnClient, waitFlow } from "../support/flows.js";
import {
  bootAdopted,
  domState,
  executionFor,
  executions,
  expectInvariants,
  FAST_FENCING,
  HOST_FAILURE_WAIT_MS,
  POWER_FENCE_REFUSES,
  poolHosts,
  statesEntered,
  until,
} from "../support/hosts.js";

const LEASE_SECONDS = 20;
let cloud: LocalCloud;
let sfn: SFNClient;
let watch: DoubleRunWatch;
let booted: Record<"web1" | "db1" | "app1" | "app2", Instance>;

/** The compute API as a client calls it, at a microversion; the status and the parsed body. */
async function api(method: string, path: string, version: string, body?: unknown) {
  const res = await fetch(`${cloud.api.url}/v2.1${path}`, {
    method,
    headers: { "openstack-api-version": `compute ${version}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : null) as never };
}
const rebuildRuns = () => executions(cloud, "rebuild");

beforeAll(async () => {
  cloud = await startLocalCloud({
    hosts: [{ name: "host-1" }, { name: "host-2" }, ...poolHosts("p1", "host-a", "host-b")],
    retryIntervalScale: 0.05,
    hostCommandDeadlineMs: 30_000,
    hostFailure: {
      ...FAST_FENCING,
      // The records say "watchdog"; no host runs one: only the heartbeats' value is evidence.
      fencing: { power: "local", watchdog: true, diskLocks: true },
      // host-1 stays dead while host-a fails: 2 of 4 must not hold the automatic evacuation.
      massFailureShare: 0.5,
      maxProofRounds: 25,
      leaseSeconds: LEASE_SECONDS,
    },
  });
  sfn = sfnClient();
  booted = await bootAdopted(cloud, {
    web1: { name: "web-1", host: "host-1" },
    db1: { name: "db-1", host: "host-1" },
    app1: { name: "app-1", host: "host-a" },
    app2: { name: "app-2", host: "host-a" },
  });
  watch = watchDoubleRuns(cloud, Object.values(booted));
}, 600_000);

afterAll(async () => {
  cloud?.ec2.setFault(null);
  await watch?.stop();
  await cloud?.stop();
});

describe("proof of death on real hosts", () => {
  it("3/4. a host that never reported an armed watchdog: nothing moves on `lease`; evacuations by hand are refused until the operator's force-down, then proof `operator`", async () => {
    const h1 = cloud.fleet.hosts.get("host-1")!;
    const { web1, db1 } = booted;
    cloud.ec2.setFault(POWER_FENCE_REFUSES);
    await h1.stopHeartbeat();
    await h1.stopAgent();
    const lastBeat = Date.now();
    const execution = await executionFor(cloud, "host-evacuation", "host-1");
    await until(
      "web-1 and db-1 marked fencing required",
      async () =>
        (await cloud.stores.instances.require(web1.uuid)).fencingRequired !== null &&
        (await cloud.stores.instances.require(db1.uuid)).fencingRequired !== null,
      HOST_FAILURE_WAIT_MS,
    );

    // 4. Refused at every way in, with the host named and what would prove it dead; nothing started.
    for (const [uuid, version] of [
      [web1.uuid, "2.29"],
      [db1.uuid, "2.95"],
    ] as const) {
      const res = await api("POST", `/servers/${uuid}/action`, version, { evacuate: {} });
      expect(res.status, JSON.stringify(res.body)).toBe(409);
      expect((res.body as { conflictingRequest: { message: string } }).conflictingRequest.message).toMatch(
        /^Fencing required: .*host-1 is not proven dead.*service set --down host-1 nova-compute/,
      );
    }
    const direct = await runFlow(sfn, cloud.rebuildStateMachineArn, {
      instanceUuid: web1.uuid,
      recreate: true,
    });
    expect(direct).toMatchObject({ status: "FAILED", error: "FencingRequired" });
    expect(await cloud.stores.migrations.listByInstance(web1.uuid)).toEqual([]);

    // 3. Well past the lease and its margin, still nothing: the heartbeats said no watchdog was armed.
    const fences = () => statesEntered(cloud, execution.executionArn).filter((s) => s === "Fence").length;
    await until(
      "the lease and its margin to pass",
      () => Date.now() > lastBeat + (LEASE_SECONDS + 10) * 1000,
      120_000,
    );
    const before = fences();
    await until("two more looks for proof after the lease", () => fences() >= before + 2, 60_000);
    expect((await cloud.stores.hosts.require("host-1")).incident?.status).toBe("evacuating");
    expect(await cloud.stores.hosts.require("host-1")).toMatchObject({ forcedDown: false, deathProof: null });
    for (const i of [web1, db1]) {
      expect(await cloud.stores.instances.require(i.uuid)).toMatchObject({ host: "host-1", taskState: null });
      expect(await domState(cloud, "host-1", i.uuid)).toBe("running");
    }
    expect(rebuildRuns().filter((r) => r.inputObject.instanceUuid === web1.uuid)).toHaveLength(1); // the refused direct one
    expect(rebuildRuns().filter((r) => r.inputObject.instanceUuid === db1.uuid)).toEqual([]);

    // The operator powers host-1 off and says so: nova's force-down (2.11), as the clients send it.
    await cloud.killHost("host-1");
    const down = await api("PUT", "/os-services/force-down", "2.11", {
      host: "host-1",
      binary: "nova-compute",
      forced_down: true,
    });
    expect(down.status).toBe(200);
    expect(await cloud.stores.hosts.require("host-1")).toMatchObject({
      forcedDown: true,
      deathProof: { kind: "operator" },
    });
    // The running incident proceeds on it: both evacuated, the report says `operator`.
    const run = await waitFlow(sfn, execution, HOST_FAILURE_WAIT_MS);
    expect(run.status, run.cause).toBe("SUCCEEDED");
    const report = (run.output as { report: { evacuated: { name: string; proof: string }[] } }).report;
    expect(report.evacuated.map((e) => [e.name, e.proof]).sort()).toEqual([
      ["db-1", "operator"],
      ["web-1", "operator"],
    ]);
    for (const i of [web1, db1]) {
      const after = await cloud.stores.instances.require(i.uuid);
      expect(after.host).not.toBe("host-1");
      expect(await domState(cloud, after.host, i.uuid)).toBe("running");
      const actions = await api("GET", `/servers/${i.uuid}/os-instance-actions`, "2.58");
      expect((actions.body as { instanceActions: Record<string, unknown>[] }).instanceActions).toEqual([
        expect.objectContaining({
          action: "evacuate",
          "lazarus:proof": expect.objectContaining({ kind: "operator" }),
        }),
      ]);
    }
    cloud.ec2.setFault(null);
    await expectInvariants(cloud, false);
  }, 600_000);

  it("5. operator evacuations race the automatic one: each instance ends running elsewhere once, or is listed and the execution fails HostEvacuationIncomplete", async () => {
    const ha = cloud.fleet.hosts.get("host-a")!;
    const { app1, app2 } = booted;
    cloud.ec2.setFault(POWER_FENCE_REFUSES);
    await ha.stopHeartbeat();
    await ha.stopAgent();
    const execution = await executionFor(cloud, "host-evacuation", "host-a");
    // The automatic evacuation tries both on `lock` (shared pool under qemu's image lock) and is refused.
    await until(
      "the automatic evacuation tried and was refused by the lock",
      async () => (await cloud.stores.instances.require(app1.uuid)).fencingRequired?.refusedBy === "host-b",
      HOST_FAILURE_WAIT_MS,
    );
    // The operator evacuates app-1 by hand meanwhile: admitted on `lock`, refused by it (host-a runs it),
    // or refused at once because the automatic one holds it.
    const byHand = await api("POST", `/servers/${app1.uuid}/action`, "2.29", { evacuate: {} });
    expect([200, 409], JSON.stringify(byHand.body)).toContain(byHand.status);
    expect(byHand.status === 409 ? JSON.stringify(byHand.body) : "").not.toMatch(/Fencing required/);
    if (byHand.status === 200) {
      const m = await cloud.stores.migrations.require(byHand.headers.get("x-lazarus-migration-id")!);
      expect(m.proof?.kind).toBe("lock");
    }
    // The fence works again: host-a is powered off, the automatic evacuation proceeds on `power`, and the
    // operator tries app-2 again at the same time.
    cloud.ec2.setFault(null);
    await until("host-a powered off", () => !ha.running, HOST_FAILURE_WAIT_MS);
    const again = await api("POST", `/servers/${app2.uuid}/action`, "2.29", { evacuate: {} });
    // Taken (the operator's wins), held by the automatic one (409), or already moved (400: its host is up).
    expect([200, 400, 409], JSON.stringify(again.body)).toContain(again.status);
    const run = await waitFlow(sfn, execution, HOST_FAILURE_WAIT_MS);
    // Whoever won each race, every flow ends: wait for the rebuilds, then look.
    await until("every rebuild to end", () => rebuildRuns().every((r) => r.status !== "RUNNING"), 180_000);
    const report = JSON.parse(
      run.status === "SUCCEEDED" ? JSON.stringify(run.output) : (run.cause ?? "{}"),
    ) as {
      report?: { notEvacuated: { name: string }[] };
      notEvacuated?: { name: string }[];
      complete?: boolean;
    };
    const notEvacuated = (report.report ?? report).notEvacuated ?? [];
    for (const i of [app1, app2]) {
      const after = await cloud.stores.instances.require(i.uuid);
      if (after.host === "host-a") {
        // Left on host-a: listed, and the execution says it is incomplete.
        expect(notEvacuated.map((n) => n.name)).toContain(i.name);
        expect(run.error).toBe("HostEvacuationIncomplete");
      } else {
        expect(after).toMatchObject({ host: "host-b", taskState: null });
        expect(await domState(cloud, "host-b", i.uuid)).toBe("running");
      }
    }
    if (run.status === "SUCCEEDED") expect(notEvacuated).toEqual([]);
    expect(await watch.stop()).toEqual([]);
    await expectInvariants(cloud, false);
  }, 600_000);
});
