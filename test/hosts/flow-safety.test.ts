/**
 * The rebuild/evacuate machine keeps its promises when its own steps fail, on real hosts: each test makes
 * a failure happen (a host command that hangs after doing its work, a clean-up that fails, a crashed
 * step, a stopped execution, a refused notification, a missing image, a bad input) and then checks the
 * invariants of local/invariants.ts: one copy, no leaked claim, bindings on the instance's host, and no
 * task held once the system is quiet.
 * Hosts: a, b, c share pool p1 (a is killed and forced down); e has local disks. The instances are domains
 * defined with virsh on their hosts and adopted (local/fleet-domains.ts), as a fleet has them.
 */
import { type SFNClient, StopExecutionCommand } from "@aws-sdk/client-sfn";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SWEEP_MIN_AGE_SECONDS, sweep } from "#functions/sweeper/sweep.js";
import { type LocalCloud, startLocalCloud } from "#local/cloud.js";
import type { Instance } from "#shared/domain/schemas.js";
import { STOPPED_EXECUTION_MAY_ACT_SECONDS } from "#shared/flow/executions.js";
import { depsFromEnv } from "#shared/lambda/runtime.js";
import { runFlow, sfnClient, startFlow, waitFlow } from "../support/flows.js";
import {
  bootAdopted,
  definedOn as definedOnIn,
  expectInvariants as expectInvariantsIn,
  killAndForceDown,
  poolHosts,
  runningOn as runningOnIn,
  until,
} from "../support/hosts.js";

let cloud: LocalCloud;
let sfn: SFNClient;
const booted: Record<string, Instance> = {};

const definedOn = (uuid: string) => definedOnIn(cloud, uuid);
const runningOn = (uuid: string) => runningOnIn(cloud, uuid);
const expectInvariants = () => expectInvariantsIn(cloud);
/**
 * The sweeper's run as its schedule would run it `aheadSeconds` from now: the same code and endpoints as its
 * Lambda (the local cloud's environment), its clock moved.
 */
const sweepAt = (aheadSeconds: number) =>
  sweep({ ...depsFromEnv(), now: () => new Date(Date.now() + aheadSeconds * 1000) });

beforeAll(async () => {
  cloud = await startLocalCloud({
    hosts: [...poolHosts("p1", "host-a", "host-b", "host-c"), { name: "host-e" }],
    retryIntervalScale: 0.01,
    hostCommandDeadlineMs: 12_000,
  });
  sfn = sfnClient();
  Object.assign(
    booted,
    await bootAdopted(cloud, {
      timeout: { name: "timeout-1", host: "host-a", volumes: [{ name: "v-t", sizeGiB: 1, device: "vdb" }] },
      stopped: { name: "stop-1", host: "host-a" },
      acceptCrash: { name: "accept-1", host: "host-a" },
      notify: { name: "notify-1", host: "host-a" },
      input: { name: "input-1", host: "host-a" },
      rebuild: { name: "rebuild-1", host: "host-e" },
    }),
  );
  await killAndForceDown(cloud, "host-a");
}, 600_000);

afterAll(async () => {
  await cloud?.stop();
});

describe("a target that cannot be proven clean", () => {
  it("spawn times out after starting the domain and the clean-up fails: no second host, the fault names the host; once it is clean, a new evacuation succeeds", async () => {
    const inst = booted.timeout!;
    const b = cloud.fleet.hosts.get("host-b")!;
    b.injectCommandFault("virsh", "start", "injected: start reported nothing", "hang-after");
    b.injectCommandFault("virsh", "destroy", "injected: destroy failed");
    let run: Awaited<ReturnType<typeof runFlow>>;
    try {
      run = await runFlow(sfn, cloud.rebuildStateMachineArn, {
        instanceUuid: inst.uuid,
        recreate: true,
        targetHost: "host-b",
      });
    } finally {
      b.clearFaults();
    }
    expect(run.status).toBe("FAILED");
    expect(run.error).toBe("TargetNotClean");
    // The domain may run on b (its start did happen); it runs nowhere else: no second host was tried.
    expect(await definedOn(inst.uuid)).toEqual(["host-b"]);
    expect((await runningOn(inst.uuid)).length).toBeLessThanOrEqual(1);
    const after = await cloud.stores.instances.require(inst.uuid);
    expect(after).toMatchObject({ vmState: "error", taskState: null, host: "host-a" });
    expect(after.fault).toMatchObject({ error: "TargetNotClean", details: { uncleanHost: "host-b" } });
    expect((await cloud.stores.hosts.require("host-b")).claims[inst.uuid]).toBeDefined();
    const migration = await cloud.stores.migrations.require(run.requestId);
    expect(migration).toMatchObject({ status: "failed", attemptedHosts: [] });
    await expectInvariants();

    // The operator ends that target through the API (lazarus:cleanTarget): refused while host-b cannot be
    // cleaned (nothing released), done once it can (Lazarus destroys and undefines the copy itself).
    const clean = () =>
      fetch(`${cloud.api.url}/v2.1/servers/${inst.uuid}/action`, {
        method: "POST",
        headers: { "content-type": "application/json", "OpenStack-API-Version": "compute 2.95" },
        body: JSON.stringify({ "lazarus:cleanTarget": { host: "host-b" } }),
      });
    b.injectCommandFault("virsh", "destroy", "injected: destroy failed");
    let refused: Response;
    try {
      refused = await clean();
    } finally {
      b.clearFaults();
    }
    expect(refused.status, await refused.clone().text()).toBe(409);
    expect(await refused.text()).toMatch(/Host host-b could not be cleaned .*nothing was released/);
    expect((await cloud.stores.hosts.require("host-b")).claims[inst.uuid]).toBeDefined();
    const cleaned = await clean();
    expect(cleaned.status, await cleaned.clone().text()).toBe(200);
    expect(await cleaned.json()).toMatchObject({ cleanTarget: { how: "cleaned", claimReleased: true } });
    expect(await definedOn(inst.uuid)).toEqual([]);
    expect((await cloud.stores.hosts.require("host-b")).claims[inst.uuid]).toBeUndefined();
    expect(await cloud.stores.instances.require(inst.uuid)).toMatchObject({
      vmState: "error",
      uncleanTargets: [],
    });
    await expectInvariants();

    // A new evacuation places the instance (Schedule's own clean-first of an unclean target: unit-tested).
    const again = await runFlow(sfn, cloud.rebuildStateMachineArn, {
      instanceUuid: inst.uuid,
      recreate: true,
    });
    expect(again.status, again.cause).toBe("SUCCEEDED");
    const moved = await cloud.stores.instances.require(inst.uuid);
    expect(moved).toMatchObject({ vmState: "active", fault: null });
    expect(await definedOn(inst.uuid)).toEqual([moved.host]);
    expect(await runningOn(inst.uuid)).toEqual([moved.host]);
    await expectInvariants();
  });
});

describe("no task is ever left held", () => {
  it("Accept fails after taking the task: the failure path ends it (no task, migration failed)", async () => {
    const inst = booted.acceptCrash!;
    cloud.lambda.setHooks({
      afterInvoke(name, event) {
        const req = (event as { request?: { instanceUuid?: string } }).request;
        if (name !== "lazarus-conductor-accept" || req?.instanceUuid !== inst.uuid) return;
        const e = new Error("simulated failure after the take");
        e.name = "SimulatedFault"; // not a transient name: not retried
        throw e;
      },
    });
    let run: Awaited<ReturnType<typeof runFlow>>;
    try {
      run = await runFlow(sfn, cloud.rebuildStateMachineArn, { instanceUuid: inst.uuid, recreate: true });
    } finally {
      cloud.lambda.setHooks(undefined);
    }
    expect(run.status).toBe("FAILED");
    expect(run.error).toBe("SimulatedFault");
    const after = await cloud.stores.instances.require(inst.uuid);
    expect(after.taskState).toBeNull();
    expect((await cloud.stores.migrations.require(run.requestId)).status).toBe("failed");
    await expectInvariants();
  });

  it("a flow stopped mid-way (StopExecution) is left while its Spawn may still act, then ended by the sweeper: target cleaned, claim released, no task", async () => {
    const inst = booted.stopped!;
    const c = cloud.fleet.hosts.get("host-c")!;
    c.injectCommandFault("virsh", "define", "injected: define never reports", "hang-after");
    const started = await startFlow(sfn, cloud.rebuildStateMachineArn, {
      instanceUuid: inst.uuid,
      recreate: true,
      targetHost: "host-c",
    });
    const spawnInvocations = () =>
      cloud.lambda.invocations.filter(
        (r) =>
          r.functionName.endsWith("compute-spawn") && JSON.stringify(r.event).includes(started.requestId),
      );
    try {
      await until(
        "spawn",
        async () => (await cloud.stores.instances.require(inst.uuid)).taskState === "rebuild_spawning",
      );
      await until("the domain defined on host-c", async () =>
        (await definedOn(inst.uuid)).includes("host-c"),
      );
      await sfn.send(
        new StopExecutionCommand({ executionArn: started.executionArn, error: "OperatorStopped" }),
      );
      const stopped = await waitFlow(sfn, started);
      expect(stopped.status).toBe("ABORTED");
      // Step Functions did not wait for the Spawn invocation in flight: it still runs, and may still define
      // and start the domain on host-c. The sweeper (past its minimum age) leaves the task and the claim.
      expect(spawnInvocations().some((r) => r.status === "running")).toBe(true);
      const left = await sweepAt(SWEEP_MIN_AGE_SECONDS + 1);
      expect(left.endedTasks.map((t) => t.instanceUuid)).not.toContain(inst.uuid);
      expect(left.running).toBeGreaterThanOrEqual(1);
      expect((await cloud.stores.instances.require(inst.uuid)).taskState).toBe("rebuild_spawning");
      expect((await cloud.stores.hosts.require("host-c")).claims[inst.uuid]).toBeDefined();
    } finally {
      c.clearFaults();
    }
    // Lambda's maximum after the stop: no invocation of the flow can run by then. Here the Spawn
    // invocation's end is awaited (it ends on its host command's deadline), and the sweeper's clock moved.
    await until("the Spawn invocation has ended", async () =>
      spawnInvocations().every((r) => r.status !== "running"),
    );
    const report = await sweepAt(STOPPED_EXECUTION_MAY_ACT_SECONDS + 1);
    expect(report.endedTasks.map((t) => t.instanceUuid)).toContain(inst.uuid);
    const after = await cloud.stores.instances.require(inst.uuid);
    expect(after).toMatchObject({ taskState: null, vmState: "error", fault: { error: "FlowEnded" } });
    expect(await definedOn(inst.uuid)).toEqual([]);
    expect((await cloud.stores.hosts.require("host-c")).claims[inst.uuid]).toBeUndefined();
    expect((await cloud.stores.migrations.require(started.requestId)).status).toBe("failed");
    await expectInvariants();
  });
});

describe("notifications never undo work", () => {
  it("the end notification is refused: the instance is ACTIVE on the target with its claim; published once it can be", async () => {
    const inst = booted.notify!;
    cloud.events.refuseEntries((type) => type === "instance.rebuild.end");
    let run: Awaited<ReturnType<typeof runFlow>>;
    try {
      run = await runFlow(sfn, cloud.rebuildStateMachineArn, { instanceUuid: inst.uuid, recreate: true });
    } finally {
      cloud.events.refuseEntries(null);
    }
    expect(run.status, run.cause).toBe("SUCCEEDED");
    const after = await cloud.stores.instances.require(inst.uuid);
    expect(after).toMatchObject({ vmState: "active", taskState: null });
    expect((await cloud.stores.hosts.require(after.host)).claims[inst.uuid]?.owner).toBe(run.requestId);
    expect((await cloud.stores.migrations.require(run.requestId)).status).toBe("done");
    const ends = () =>
      cloud.events.events.filter(
        (e) => e.resources.includes(inst.uuid) && e.detailType === "instance.rebuild.end",
      );
    expect(ends()).toHaveLength(0);
    await cloud.runScheduled("sweeper");
    expect(ends()).toHaveLength(1);
    await cloud.runScheduled("sweeper");
    expect(ends()).toHaveLength(1);
    await expectInvariants();
  });
});

describe("the input is the request only", () => {
  it("internal fields in the execution input are refused and nothing changes", async () => {
    const inst = booted.input!;
    const before = await cloud.stores.instances.require(inst.uuid);
    const run = await runFlow(sfn, cloud.rebuildStateMachineArn, {
      instanceUuid: inst.uuid,
      recreate: true,
      ...({ createdRootDisk: true, sharedStorage: false, destHost: "host-b" } as object),
    });
    expect(run.status).toBe("FAILED");
    expect(run.error).toBe("InvalidInput");
    expect(run.cause).toMatch(/createdRootDisk|sharedStorage|destHost/);
    expect(await cloud.stores.instances.require(inst.uuid)).toEqual(before);
    expect(await cloud.stores.migrations.get(run.requestId)).toBeNull();
  });
});

describe("rebuild checks before it destroys", () => {
  it("an image missing from the cache is refused before anything is destroyed; a domain-less instance can be rebuilt", async () => {
    const inst = booted.rebuild!;
    const run = await runFlow(sfn, cloud.rebuildStateMachineArn, {
      instanceUuid: inst.uuid,
      recreate: false,
      imageRef: "no-such-image",
    });
    expect(run.status).toBe("FAILED");
    expect(run.error).toBe("ImageNotCached");
    expect(await runningOn(inst.uuid)).toEqual(["host-e"]);
    const after = await cloud.stores.instances.require(inst.uuid);
    expect(after).toMatchObject({ vmState: "active", taskState: null, fault: { error: "ImageNotCached" } });

    // The domain disappears (undefined by hand): a rebuild recreates it.
    const e = cloud.fleet.hosts.get("host-e")!;
    await e.virsh(["destroy", inst.uuid]);
    await e.virsh(["undefine", inst.uuid]);
    const rebuilt = await runFlow(sfn, cloud.rebuildStateMachineArn, {
      instanceUuid: inst.uuid,
      recreate: false,
    });
    expect(rebuilt.status, rebuilt.cause).toBe("SUCCEEDED");
    expect(await runningOn(inst.uuid)).toEqual(["host-e"]);
    await expectInvariants();
  });
});
