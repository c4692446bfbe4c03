/**
 * The rebuild/evacuate machine's failure paths, step by step against dynalite with a scripted host:
 * what must hold after a step fails at any point (no task held, no leaked claim, bindings on the
 * instance's host, one error notification, a commit never undone, nothing deleted on a failed probe).
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { checkInstanceNotOnTarget } from "#functions/compute-steps/steps/check-instance-not-on-target.js";
import { checkSharedStorage } from "#functions/compute-steps/steps/check-shared-storage.js";
import { cleanUpTarget } from "#functions/compute-steps/steps/clean-up-target.js";
import { prepareRootDisk } from "#functions/compute-steps/steps/prepare-root-disk.js";
import { prepareTarget } from "#functions/compute-steps/steps/prepare-target.js";
import { spawn } from "#functions/compute-steps/steps/spawn.js";
import { accept } from "#functions/conductor/steps/accept.js";
import { finish } from "#functions/conductor/steps/finish.js";
import { handleFailure } from "#functions/conductor/steps/handle-failure.js";
import { prepareReschedule } from "#functions/conductor/steps/prepare-reschedule.js";
import { schedule } from "#functions/conductor/steps/schedule.js";
import { SWEEP_MIN_AGE_SECONDS, sweep } from "#functions/sweeper/sweep.js";
import type { Instance } from "#shared/domain/schemas.js";
import { type FlowState, MAX_SCHEDULING_ATTEMPTS, type ScheduledFlow } from "#shared/flow/contract.js";
import { STOPPED_EXECUTION_MAY_ACT_SECONDS } from "#shared/flow/executions.js";
import { makePort, makeVolume } from "../../support/fixtures.js";
import {
  claimFor,
  probeFacts,
  rebuildExecutionArn,
  type StepWorld,
  seedHosts,
  seedInstance,
  useStepHarness,
} from "../../support/step-harness.js";

const newWorld = useStepHarness();

const failure = (name: string, message = `${name} happened`) => ({
  Error: name,
  Cause: JSON.stringify({ errorType: name, errorMessage: message }),
});

/** A dead source with one instance (2 ports, 1 volume) and two live targets on its pool. */
async function evacuationWorld(opts: { recreate?: boolean } = {}) {
  const w = await newWorld();
  const recreate = opts.recreate ?? true;
  await seedHosts(w, [{ name: "src", down: recreate }, { name: "b" }, { name: "c" }]);
  const ports = [makePort({ bindingHost: "src" }), makePort({ bindingHost: "src" })];
  for (const p of ports) await w.db.stores.ports.put(p);
  const volume = makeVolume({ status: "in-use" });
  await w.db.stores.volumes.put(volume);
  const instance = await seedInstance(w, "src", {
    ports: ports.map((p) => p.id),
    volumes: [{ volumeId: volume.id, device: "vdb", deleteOnTermination: false }],
  });
  await w.db.stores.volumes.attach(volume.id, {
    attachmentId: randomUUID(),
    instanceUuid: instance.uuid,
    host: "src",
    device: "vdb",
  });
  const requestId = randomUUID();
  const flow = await accept(w.deps, {
    request: { requestId, instanceUuid: instance.uuid, recreate },
    executionArn: rebuildExecutionArn(requestId),
  });
  return { w, instance, flow, volumeId: volume.id };
}

/** Run the evacuation's steps on the target up to (not including) `until`, as the machine would. */
async function runUntil(w: StepWorld, flow: FlowState, until: string): Promise<ScheduledFlow> {
  let state = (await schedule(w.deps, flow)) as FlowState;
  const dest = state.destHost!;
  w.executor.on(probeFacts(dest, { domain: "absent", disk: "present", image: "present" }));
  const steps: [string, (s: FlowState) => Promise<FlowState>][] = [
    ["checkInstanceNotOnTarget", (s) => checkInstanceNotOnTarget(w.deps, s)],
    ["checkSharedStorage", (s) => checkSharedStorage(w.deps, s)],
    ["prepareTarget", (s) => prepareTarget(w.deps, s)],
    ["spawn", (s) => spawn(w.deps, s)],
  ];
  for (const [name, step] of steps) {
    if (name === until) break;
    state = await step(state);
  }
  return state as ScheduledFlow;
}

/** The invariant after any failed flow: see shared/flow/end-flow.ts. */
async function expectEnded(w: StepWorld, instance: Instance, opts: { keptClaimOn?: string } = {}) {
  const after = await w.db.stores.instances.require(instance.uuid);
  expect(after.taskState).toBeNull();
  expect(after.taskRequestId).toBeNull();
  expect(after.host).toBe(instance.host);
  for (const h of await w.db.stores.hosts.list()) {
    const claim = h.claims[instance.uuid];
    if (h.name === instance.host || h.name === opts.keptClaimOn) expect(claim, h.name).toBeDefined();
    else expect(claim, `claim left on ${h.name}`).toBeUndefined();
    const sum = Object.values(h.claims).reduce((s, c) => s + c.resources.memoryMiB, 0);
    expect(h.usage.memoryMiB, `usage of ${h.name}`).toBe(sum);
  }
  for (const portId of instance.ports) {
    expect((await w.db.stores.ports.require(portId)).bindingHost).toBe(instance.host);
  }
  for (const bdm of instance.volumes) {
    const live = (await w.db.stores.volumes.require(bdm.volumeId)).attachments.filter(
      (a) => a.status === "attached",
    );
    expect(live.map((a) => a.host)).toEqual([instance.host]);
  }
  for (const m of await w.db.stores.migrations.listByInstance(instance.uuid)) {
    expect(["done", "completed", "failed", "error"]).toContain(m.status);
  }
  return after;
}

describe("HandleFailure", () => {
  it("after a failure at spawn: ERROR, claim released, ports and volumes back on the source, one error notification", async () => {
    const { w, instance, flow } = await evacuationWorld();
    const at = await runUntil(w, flow, "spawn");
    const failed = { ...at, failure: { spawn: failure("SpawnFailed", "qemu said no") } };
    const first = await handleFailure(w.deps, failed);
    expect(first).toMatchObject({ outcome: "failed", error: "SpawnFailed", cause: "qemu said no" });
    const after = await expectEnded(w, instance);
    expect(after.vmState).toBe("error");
    expect(after.fault).toMatchObject({ error: "SpawnFailed", step: "spawn" });
    // Run again (a retried HandleFailure): nothing more happens, no second notification.
    await handleFailure(w.deps, failed);
    const errors = w.notifier.published.filter((n) => n.eventType === "instance.rebuild.error");
    expect(errors).toHaveLength(1);
    expect(await w.db.stores.faults.list(instance.uuid)).toHaveLength(1);
  });

  it("a claim left on a host the flow tried before is released too (the flow names every host it claims on)", async () => {
    const { w, instance, flow } = await evacuationWorld();
    const at = await runUntil(w, flow, "checkInstanceNotOnTarget");
    const other = at.destHost === "b" ? "c" : "b";
    // An earlier attempt's claim whose release did not happen (a crash in PrepareReschedule).
    await claimFor(w, other, instance, flow.migrationId);
    await handleFailure(w.deps, {
      ...at,
      attemptedHosts: [other],
      failure: { checkInstanceNotOnTarget: failure("InstanceExists") },
    });
    await expectEnded(w, instance);
  });

  it("a target not proven clean keeps its claim, and the fault names it and says what to do", async () => {
    const { w, instance, flow } = await evacuationWorld();
    const at = await runUntil(w, flow, "spawn");
    const out = await handleFailure(w.deps, {
      ...at,
      failure: { spawn: failure("HostCommandTimedOut") },
      cleanUpFailure: failure("HostUnreachable"),
    });
    expect(out.error).toBe("TargetNotClean");
    const after = await expectEnded(w, instance, { keptClaimOn: at.destHost });
    expect(after.fault).toMatchObject({ error: "TargetNotClean", details: { uncleanHost: at.destHost } });
    expect(after.fault?.message).toMatch(new RegExp(`${at.destHost}.*Evacuate again`));
  });

  it("a start refused by the disk lock is DiskLocked and ends 'fencing required': not ERROR, target's claim released, the fault names the holder; a later evacuation clears it", async () => {
    const { w, instance, flow } = await evacuationWorld();
    const at = await runUntil(w, flow, "spawn");
    // qemu's own words when another process holds the image (shared/reference/local-hosts.md).
    const lockMessage =
      "error: Failed to start domain 'instance-x'\nerror: internal error: process exited while connecting to monitor: qemu-system-x86_64: -blockdev {...}: Failed to get \"write\" lock\nIs another process using the image [/srv/pool/instances/x/disk]?";
    w.executor.on(() => ({ fail: lockMessage }));
    const refused = await spawn(w.deps, at).then(
      () => null,
      (e: unknown) => e as Error & { details: Record<string, unknown> },
    );
    expect(refused).toMatchObject({ name: "DiskLocked", details: { host: at.destHost, holder: "src" } });
    w.executor.on(() => ({ exitCode: 0, stdout: "", stderr: "" }));
    await cleanUpTarget(w.deps, { ...at, failure: { spawn: failure("DiskLocked", refused!.message) } });
    const out = await handleFailure(w.deps, {
      ...at,
      failure: { spawn: failure("DiskLocked", refused!.message) },
    });
    expect(out).toMatchObject({ outcome: "fencing-required", error: "FencingRequired" });
    expect(out.cause).toMatch(/fence src, then evacuate again/);
    const after = await expectEnded(w, instance);
    expect(after).toMatchObject({
      vmState: "active",
      fault: { code: 409, error: "FencingRequired", details: { holder: "src", refusedBy: at.destHost } },
      fencingRequired: { host: "src", refusedBy: at.destHost, requestId: flow.requestId },
    });
    expect(after.fault?.message).toMatch(/Power src off .* then evacuate again/);
    expect(await w.db.stores.migrations.require(flow.migrationId)).toMatchObject({ status: "failed" });
    const errors = w.notifier.published.filter((n) => n.eventType === "instance.rebuild.error");
    expect(errors.at(-1)?.payload).toMatchObject({ fencing_required: "src" });

    // Once the old copy is gone, evacuating again succeeds and clears the state.
    const again = await accept(w.deps, {
      request: { requestId: randomUUID(), instanceUuid: instance.uuid, recreate: true },
      executionArn: "arn:aws:states:us-east-1:000000000000:execution:lazarus-rebuild:again",
    });
    w.executor.reset();
    const done = await runUntil(w, again, "end");
    await finish(w.deps, done);
    const moved = await w.db.stores.instances.require(instance.uuid);
    expect(moved).toMatchObject({ host: done.destHost, fault: null, fencingRequired: null });
  });

  it("a disk-lock refusal whose target could not be cleaned stays TargetNotClean (ERROR, claim kept)", async () => {
    const { w, instance, flow } = await evacuationWorld();
    const at = await runUntil(w, flow, "spawn");
    const out = await handleFailure(w.deps, {
      ...at,
      failure: { spawn: failure("DiskLocked") },
      cleanUpFailure: failure("HostUnreachable"),
    });
    expect(out).toMatchObject({ outcome: "failed", error: "TargetNotClean" });
    const after = await expectEnded(w, instance, { keptClaimOn: at.destHost });
    expect(after).toMatchObject({ vmState: "error", fencingRequired: null });
  });

  it("a rebuild in place whose start is refused by a lock is SpawnFailed, not DiskLocked (no other host holds it)", async () => {
    const { w, flow } = await evacuationWorld({ recreate: false });
    const at = (await schedule(w.deps, flow)) as ScheduledFlow;
    await w.db.stores.instances.update(at.instanceUuid, {
      expectTaskState: ["rebuilding"],
      set: { taskState: "rebuild_block_device_mapping" },
    });
    w.executor.on(() => ({ fail: 'Failed to get "write" lock' }));
    await expect(spawn(w.deps, at)).rejects.toMatchObject({ name: "SpawnFailed" });
  });

  it("a Finish that committed before failing is not undone: ACTIVE on the target, claim kept, migration done", async () => {
    const { w, instance, flow } = await evacuationWorld();
    const at = await runUntil(w, flow, "end");
    w.notifier.failing = true; // even the end notification fails: Finish still succeeds
    await finish(w.deps, at);
    const out = await handleFailure(w.deps, { ...at, failure: { finish: failure("Lambda.Unknown") } });
    expect(out.outcome).toBe("finished");
    const after = await w.db.stores.instances.require(instance.uuid);
    expect(after).toMatchObject({ vmState: "active", host: at.destHost, taskState: null });
    const dest = await w.db.stores.hosts.require(at.destHost);
    expect(dest.claims[instance.uuid]?.owner).toBe(flow.migrationId);
    expect(await w.db.stores.migrations.require(flow.migrationId)).toMatchObject({ status: "done" });
  });

  it("a failure in Accept before the take changes nothing and needs no valid state", async () => {
    const w = await newWorld();
    const out = await handleFailure(w.deps, {
      request: { bogus: true },
      failure: { accept: failure("InvalidInput") },
    });
    expect(out).toMatchObject({ outcome: "failed", error: "InvalidInput" });
    expect(w.notifier.published).toEqual([]);
  });

  it("a rebuild refused before anything was taken down keeps its vm_state (ACTIVE), with the fault", async () => {
    const { w, instance, flow } = await evacuationWorld({ recreate: false });
    const at = await schedule(w.deps, flow);
    await handleFailure(w.deps, { ...at, failure: { updateInstanceState: failure("ImageNotCached") } });
    const after = await expectEnded(w, instance);
    expect(after.vmState).toBe("active");
    expect(after.fault?.error).toBe("ImageNotCached");
  });
});

describe("Finish", () => {
  it("a failing end notification never fails Finish: recorded, and published by the sweeper once it can be", async () => {
    const { w, instance, flow } = await evacuationWorld();
    const at = await runUntil(w, flow, "end");
    w.notifier.failing = true;
    await expect(finish(w.deps, at)).resolves.toMatchObject({ host: at.destHost, vmState: "active" });
    const pending = await w.db.stores.outbox.list();
    expect(pending.map((p) => p.eventType).sort()).toEqual(["instance.evacuate", "instance.rebuild.end"]);
    expect((await w.db.stores.hosts.require(at.destHost)).claims[instance.uuid]).toBeDefined();

    w.notifier.failing = false;
    const report = await sweep(w.deps);
    expect(report.republished).toBe(2);
    expect(await w.db.stores.outbox.list()).toEqual([]);
    const ends = w.notifier.published.filter((n) => n.eventType === "instance.rebuild.end");
    expect(ends).toHaveLength(1);
    expect(ends[0]!.id).toBe(pending.find((p) => p.eventType === "instance.rebuild.end")!.id);
  });
});

describe("PrepareTarget (evacuate: five phases in one step)", () => {
  /** Where an instance's bindings are: its task, its ports' host, its volumes' live attachments. */
  async function bindings(w: StepWorld, instance: Instance) {
    const now = await w.db.stores.instances.require(instance.uuid);
    const ports = await Promise.all(instance.ports.map((p) => w.db.stores.ports.require(p)));
    const volumes = await Promise.all(instance.volumes.map((v) => w.db.stores.volumes.require(v.volumeId)));
    return {
      taskState: now.taskState,
      portHosts: ports.map((p) => p.bindingHost),
      attached: volumes.map((v) =>
        v.attachments.filter((a) => a.status === "attached").map((a) => `${a.host}:${a.attachmentId}`),
      ),
    };
  }

  it("moves task, ports and volumes to the target in nova's order; retried after its work (a crash), it ends as one run", async () => {
    const { w, instance, flow } = await evacuationWorld();
    const at = await runUntil(w, flow, "prepareTarget");
    const once = await prepareTarget(w.deps, at);
    const after = await bindings(w, instance);
    expect(after.taskState).toBe("rebuild_block_device_mapping");
    expect(after.portHosts).toEqual([at.destHost, at.destHost]);
    expect(after.attached).toHaveLength(1);
    expect(after.attached[0]).toHaveLength(1);
    expect(after.attached[0]![0]).toMatch(new RegExp(`^${at.destHost}:`));
    // The state machine's Retry runs the whole step again with the same input.
    const again = await prepareTarget(w.deps, at);
    expect(again).toEqual(once);
    expect(await bindings(w, instance)).toEqual(after);
    // On shared storage it asked the target nothing.
    expect(w.executor.calls.filter((c) => !c.probe)).toEqual([]);
  });

  it("its root-disk command failing on local disks (after the DynamoDB phases): the target is cleaned, and HandleFailure puts every binding back on the source", async () => {
    const { w, instance, flow } = await evacuationWorld();
    const at = await runUntil(w, flow, "prepareTarget");
    const local = { ...at, sharedStorage: false };
    w.executor.on((c) => (c.document === "create-root-disk" ? "timeout" : undefined));
    const err = await prepareTarget(w.deps, local).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(err?.name).toBe("HostCommandTimedOut");
    // It got that far: the DynamoDB phases had moved everything to the target.
    expect((await bindings(w, instance)).portHosts).toEqual([at.destHost, at.destHost]);

    const failed = { ...local, failure: { prepareTarget: failure("HostCommandTimedOut") } };
    w.executor.reset();
    await cleanUpTarget(w.deps, failed);
    // A timed-out command counts as run: the folder it may have made goes (the disk was proven absent).
    expect(w.executor.calls.map((c) => c.host)).toEqual([at.destHost]);
    expect(w.executor.calls[0]).toMatchObject({
      document: "remove-domain",
      parameters: { uuid: instance.uuid, instancesPath: "/srv/pool/instances" },
    });
    await handleFailure(w.deps, failed);
    const ended = await expectEnded(w, instance);
    expect(ended.fault).toMatchObject({ error: "HostCommandTimedOut", step: "prepareTarget" });
  });

  /** Every read of a record (GetItem, or a Query/Scan of a table) by this world's tables, until `stop()`. */
  function recordReads(w: StepWorld) {
    const tables = new Map(Object.entries(w.db.tables).map(([id, name]) => [name, id]));
    const reads: string[] = [];
    const stop = w.dynamo.onOperation((o) => {
      if (!["GetItem", "BatchGetItem", "Query", "Scan"].includes(o.op)) return;
      const body = JSON.parse(o.body) as { TableName?: string; Key?: Record<string, { S?: string }> };
      const table = tables.get(body.TableName ?? "");
      if (!table) return;
      const key = Object.values(body.Key ?? {})[0]?.S ?? "(no key)";
      reads.push(`${o.op} ${table} ${key}`);
    });
    return { reads, stop };
  }

  it("reads each record once: the instance at its start (the host is Schedule's copy), each port and volume where first changed; its retry too", async () => {
    const { w, instance, flow, volumeId } = await evacuationWorld();
    const at = { ...(await runUntil(w, flow, "prepareTarget")), sharedStorage: false };
    expect(at.target?.name).toBe(at.destHost);
    const watch = recordReads(w);
    const expected = [
      `GetItem instances ${instance.uuid}`,
      ...instance.ports.map((p) => `GetItem ports ${p}`),
      `GetItem volumes ${volumeId}`,
    ].sort();
    try {
      await prepareTarget(w.deps, at);
      expect([...watch.reads].sort()).toEqual(expected);
      // A retry after the attach phase began (a crash): the same reads, nothing twice.
      watch.reads.length = 0;
      await prepareTarget(w.deps, at);
      expect([...watch.reads].sort()).toEqual(expected);
    } finally {
      watch.stop();
    }
    expect((await w.db.stores.instances.require(instance.uuid)).taskState).toBe(
      "rebuild_block_device_mapping",
    );
  });

  it("refuses a rebuild (same host): there PowerOff and Destroy run between its phases", async () => {
    const { w, flow } = await evacuationWorld({ recreate: false });
    const at = await schedule(w.deps, flow);
    await expect(prepareTarget(w.deps, at)).rejects.toThrow(/evacuate path/);
  });
});

describe("CleanUpTarget", () => {
  it("does nothing on the target when the flow never reached it", async () => {
    const { w, flow } = await evacuationWorld();
    const at = await runUntil(w, flow, "prepareTarget");
    w.executor.reset();
    // On shared storage PrepareTarget sends the target nothing: a failure in it leaves nothing there.
    await cleanUpTarget(w.deps, { ...at, failure: { prepareTarget: failure("VolumeAttachRefused") } });
    expect(w.executor.calls).toEqual([]);
  });

  it("after a timed-out spawn: destroys and undefines the domain; keeps a shared disk", async () => {
    const { w, flow } = await evacuationWorld();
    const at = await runUntil(w, flow, "spawn");
    w.executor.reset();
    await cleanUpTarget(w.deps, { ...at, failure: { spawn: failure("HostCommandTimedOut") } });
    const [call] = w.executor.calls;
    expect(call?.host).toBe(at.destHost);
    // Destroyed and undefined, and no folder named: the shared disk stays.
    expect(call).toMatchObject({ document: "remove-domain", parameters: { uuid: at.instanceUuid } });
    expect(call?.parameters.instancesPath).toBeUndefined();
  });

  it("removes the instance folder only where this flow proved the disk absent before creating it", async () => {
    const { w, flow } = await evacuationWorld();
    const at = await runUntil(w, flow, "spawn");
    w.executor.reset();
    await cleanUpTarget(w.deps, { ...at, sharedStorage: false, failure: { spawn: failure("SpawnFailed") } });
    expect(w.executor.calls[0]).toMatchObject({
      document: "remove-domain",
      parameters: { uuid: at.instanceUuid, instancesPath: "/srv/pool/instances" },
    });
  });

  it("a failing clean-up throws (the machine then tries no other host)", async () => {
    const { w, flow } = await evacuationWorld();
    const at = await runUntil(w, flow, "spawn");
    w.executor.on(() => ({ fail: "virsh destroy: domain is locked" }));
    await expect(
      cleanUpTarget(w.deps, { ...at, failure: { spawn: failure("HostCommandTimedOut") } }),
    ).rejects.toMatchObject({ name: "HostCommandFailed" });
  });

  it("never touches the host the instance record names (a committed Finish)", async () => {
    const { w, flow } = await evacuationWorld();
    const at = await runUntil(w, flow, "end");
    await finish(w.deps, at);
    w.executor.reset();
    await cleanUpTarget(w.deps, { ...at, failure: { finish: failure("Lambda.Unknown") } });
    expect(w.executor.calls).toEqual([]);
  });
});

describe("probes and disks", () => {
  it("a probe that fails (virsh down) is ProbeFailed, never read as 'absent'", async () => {
    const { w, flow } = await evacuationWorld();
    const at = await schedule(w.deps, flow);
    w.executor.on(() => ({ exitCode: 2, stdout: "", stderr: "virsh list failed" }));
    await expect(checkInstanceNotOnTarget(w.deps, at)).rejects.toMatchObject({ name: "ProbeFailed" });
    await expect(checkSharedStorage(w.deps, at)).rejects.toMatchObject({ name: "ProbeFailed" });
  });

  it("an evacuation never deletes or overwrites a root disk: created only when absent", async () => {
    const { w, flow } = await evacuationWorld();
    const at = await runUntil(w, flow, "prepareTarget");
    w.executor.reset();
    await prepareRootDisk(w.deps, { ...at, sharedStorage: false });
    // replace=false: the create-root-disk document keeps a disk that is there (its own test runs it).
    expect(w.executor.calls[0]).toMatchObject({
      document: "create-root-disk",
      parameters: { replace: "false" },
    });
  });

  it("the image is checked with the disk before anything is created (ImageNotCached)", async () => {
    const { w, flow } = await evacuationWorld();
    const at = await schedule(w.deps, flow);
    w.executor.on(probeFacts(at.destHost, { disk: "absent", image: "absent" }));
    await expect(checkSharedStorage(w.deps, at)).rejects.toMatchObject({ name: "ImageNotCached" });
  });
});

describe("PrepareReschedule", () => {
  it(`stops after ${MAX_SCHEDULING_ATTEMPTS} targets`, async () => {
    const { w, flow } = await evacuationWorld();
    const at = await schedule(w.deps, flow);
    const out = await prepareReschedule(w.deps, {
      ...at,
      attemptedHosts: ["x1", "x2"].slice(0, MAX_SCHEDULING_ATTEMPTS - 1),
      failure: { spawn: failure("SpawnFailed") },
    });
    expect(out.canReschedule).toBe(false);
    const again = await prepareReschedule(w.deps, { ...at, failure: { spawn: failure("SpawnFailed") } });
    expect(again.canReschedule).toBe(true);
  });
});

/** The sweeper looks at tasks older than its minimum age: its clock, that much later. */
function sweepLater(w: StepWorld): void {
  const later = Date.now() + (SWEEP_MIN_AGE_SECONDS + 1) * 1000;
  w.deps.now = () => new Date(later);
}

describe("sweeper", () => {
  it("looks only at tasks older than its minimum age (their flows are at work)", async () => {
    const { w, instance, flow } = await evacuationWorld();
    await runUntil(w, flow, "spawn");
    w.executions.end(flow.executionArn, "ABORTED");
    expect(await sweep(w.deps)).toMatchObject({ endedTasks: [], running: 0 });
    sweepLater(w);
    expect((await sweep(w.deps)).endedTasks).toHaveLength(1);
    await expectEnded(w, instance);
  });

  it("ends a task whose execution ended (stopped mid-way) once no invocation of it can still run, cleans the target, and leaves running ones alone", async () => {
    const { w, instance, flow } = await evacuationWorld();
    const at = await runUntil(w, flow, "spawn");
    sweepLater(w);
    w.executions.statuses.set(flow.executionArn, "RUNNING");
    expect((await sweep(w.deps)).running).toBe(1);
    expect((await w.db.stores.instances.require(instance.uuid)).taskState).not.toBeNull();

    // Stopped just now: its Spawn invocation may still be defining and starting the domain on the target
    // (Step Functions does not wait for it), so nothing is touched until Lambda's maximum has passed.
    const stoppedAt = w.deps.now();
    w.executions.end(flow.executionArn, "ABORTED", stoppedAt);
    w.executor.reset();
    expect(await sweep(w.deps)).toMatchObject({ endedTasks: [], running: 1 });
    w.deps.now = () => new Date(stoppedAt.getTime() + (STOPPED_EXECUTION_MAY_ACT_SECONDS - 1) * 1000);
    expect(await sweep(w.deps)).toMatchObject({ endedTasks: [], running: 1 });
    expect(w.executor.calls).toEqual([]);
    expect((await w.db.stores.instances.require(instance.uuid)).taskState).not.toBeNull();
    w.deps.now = () => new Date(stoppedAt.getTime() + STOPPED_EXECUTION_MAY_ACT_SECONDS * 1000);
    const report = await sweep(w.deps);
    expect(report.endedTasks).toEqual([
      expect.objectContaining({ instanceUuid: instance.uuid, executionStatus: "ABORTED", uncleanHost: null }),
    ]);
    expect(w.executor.calls.map((c) => c.host)).toEqual([at.destHost]);
    const after = await expectEnded(w, instance);
    expect(after).toMatchObject({ vmState: "error", fault: { error: "FlowEnded" } });
  });

  it("a task held by a flow that crashed right after taking it (no migration yet) is ended too", async () => {
    const w = await newWorld();
    await seedHosts(w, [{ name: "src", down: true }, { name: "b" }]);
    const instance = await seedInstance(w, "src");
    await w.db.stores.instances.update(instance.uuid, {
      expectTaskState: [null],
      set: { taskState: "rebuilding", taskRequestId: randomUUID(), taskExecutionArn: "arn:gone" },
    });
    sweepLater(w);
    const report = await sweep(w.deps);
    expect(report.endedTasks).toHaveLength(1);
    await expectEnded(w, instance);
  });
});
