/**
 * The boot and delete machines' failure paths, step by step against dynalite with a scripted host (outcome 3
 * of issue 31 at the step level; test/hosts/api-clients-lifecycle.test.ts runs them on real hosts): a boot that fails
 * at any step leaves no claim, no port, no attachment, no made volume, and its host was told to remove the
 * domain, the instance folder and the made volumes' files; a clean-up that fails keeps everything with the
 * instance (and says so) until a delete cleans it; a delete that fails keeps the instance whole; every step
 * run twice makes nothing twice; the sweeper ends a boot whose execution died the same way.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { bootRootDisk } from "#functions/compute-steps/steps/boot-root-disk.js";
import { cleanUpBoot } from "#functions/compute-steps/steps/clean-up-boot.js";
import { destroyInstance } from "#functions/compute-steps/steps/destroy-instance.js";
import { prepareBoot } from "#functions/compute-steps/steps/prepare-boot.js";
import { spawnBoot } from "#functions/compute-steps/steps/spawn-boot.js";
import { acceptBoot } from "#functions/conductor/steps/accept-boot.js";
import { acceptDelete } from "#functions/conductor/steps/accept-delete.js";
import { finishBoot } from "#functions/conductor/steps/finish-boot.js";
import { finishDelete } from "#functions/conductor/steps/finish-delete.js";
import { handleBootFailure } from "#functions/conductor/steps/handle-boot-failure.js";
import { handleDeleteFailure } from "#functions/conductor/steps/handle-delete-failure.js";
import { scheduleBoot } from "#functions/conductor/steps/schedule-boot.js";
import { SWEEP_MIN_AGE_SECONDS, sweep } from "#functions/sweeper/sweep.js";
import type { BuildSpec } from "#shared/domain/schemas.js";
import { type BootState, bootPortId, bootVolumeId, type DeleteState } from "#shared/flow/boot-contract.js";
import { makeBuildSpec, makePort, makeVolume } from "../../support/fixtures.js";
import {
  executionArn as arn,
  caughtAs,
  type StepWorld,
  seedHosts,
  useStepHarness,
} from "../../support/step-harness.js";

const newWorld = useStepHarness();

const failure = caughtAs;

/** A fleet of one live host, a given port and a given volume; a build asking for a made port and volume too. */
async function bootWorld(opts: { hostDown?: boolean } = {}) {
  const w = await newWorld();
  await seedHosts(w, [{ name: "h1", down: opts.hostDown === true }]);
  const givenPort = await w.db.stores.ports.put(makePort({ instanceUuid: null, bindingHost: null }));
  const givenVolume = await w.db.stores.volumes.put(makeVolume());
  const build = makeBuildSpec({
    ports: [{ network: "default" }, { portId: givenPort.id }],
    volumes: [
      { blankGiB: 1, device: "vdb", deleteOnTermination: true },
      { volumeId: givenVolume.id, device: "vdc", deleteOnTermination: false },
    ],
  });
  const requestId = randomUUID();
  return { w, build, requestId, givenPort, givenVolume };
}

type Step = (s: BootState) => Promise<unknown>;

/**
 * Runs the boot's steps as the machine does until one throws; then (past ScheduleBoot) CleanUpBoot, whose
 * own failure is recorded as the machine's Catch records it, then HandleBootFailure.
 */
async function runBoot(w: StepWorld, requestId: string, build: BuildSpec) {
  const d = w.deps;
  let state = await acceptBoot(d, { request: { requestId, build }, executionArn: arn("boot", requestId) });
  const steps: [string, Step][] = [
    ["scheduleBoot", (s) => scheduleBoot(d, s)],
    ["prepareBoot", (s) => prepareBoot(d, s)],
    ["bootRootDisk", (s) => bootRootDisk(d, s)],
    ["spawnBoot", (s) => spawnBoot(d, s)],
    ["finishBoot", (s) => finishBoot(d, s)],
  ];
  for (const [name, step] of steps) {
    try {
      const out = await step(state);
      if (name !== "finishBoot") state = out as BootState;
    } catch (e) {
      let failed: BootState = { ...state, failure: { [name]: failure(e) } };
      if (name !== "scheduleBoot") {
        try {
          await cleanUpBoot(d, failed);
        } catch (c) {
          failed = { ...failed, cleanUpFailure: failure(c) };
        }
      }
      return { ending: await handleBootFailure(d, failed), state: failed };
    }
  }
  return { ending: null, state };
}

/** Nothing of the boot is held anywhere in the records. */
async function expectNothingHeld(
  w: StepWorld,
  requestId: string,
  build: BuildSpec,
  givenPortId: string,
  givenVolumeId: string,
) {
  const uuid = build.instanceUuid;
  for (const h of await w.db.stores.hosts.list()) {
    expect(h.claims[uuid], `claim on ${h.name}`).toBeUndefined();
    expect(h.usage).toEqual({ vcpus: 0, memoryMiB: 0, diskGiB: 0 });
  }
  expect(await w.db.stores.ports.get(bootPortId(requestId, 0))).toBeNull();
  expect(await w.db.stores.ports.require(givenPortId)).toMatchObject({
    instanceUuid: null,
    bindingHost: null,
  });
  expect(await w.db.stores.volumes.get(bootVolumeId(requestId, 0))).toBeNull();
  const given = await w.db.stores.volumes.require(givenVolumeId);
  expect(given.status).toBe("available");
  const instance = await w.db.stores.instances.get(uuid);
  // A failed build holds nothing; a deleted instance keeps its record (nova's deleted row), holding nothing.
  if (instance?.vmState === "deleted") expect(instance.taskState).toBeNull();
  else if (instance)
    expect(instance).toMatchObject({ vmState: "error", taskState: null, ports: [], volumes: [] });
}

/** The host was told to remove the domain, the instance folder and the made volume's file. */
function expectHostCleaned(w: StepWorld, build: BuildSpec, requestId: string) {
  const cleanUp = w.executor.calls.filter((c) => c.comment === `clean up failed boot ${build.instanceUuid}`);
  expect(cleanUp.map((c) => [c.document, c.parameters])).toEqual([
    ["remove-domain", { uuid: build.instanceUuid, instancesPath: "/srv/pool/instances" }],
    ["delete-volume", expect.objectContaining({ fileName: `volume-${bootVolumeId(requestId, 0)}.img` })],
  ]);
}

describe("a boot that fails leaves nothing behind", () => {
  it("succeeds end to end, and every step run twice makes nothing twice", async () => {
    const { w, build, requestId, givenPort, givenVolume } = await bootWorld();
    const d = w.deps;
    let state = await acceptBoot(d, { request: { requestId, build }, executionArn: arn("boot", requestId) });
    state = await scheduleBoot(d, state);
    expect(await scheduleBoot(d, state)).toEqual(state);
    await prepareBoot(d, state);
    await prepareBoot(d, state);
    await bootRootDisk(d, state);
    await spawnBoot(d, state);
    await finishBoot(d, state);
    await finishBoot(d, state);
    const instance = await w.db.stores.instances.require(build.instanceUuid);
    expect(instance).toMatchObject({ host: "h1", vmState: "active", taskState: null, flavorId: "m1.nano" });
    expect(instance.ports).toEqual([bootPortId(requestId, 0), givenPort.id]);
    expect(instance.volumes.map((v) => v.volumeId)).toEqual([bootVolumeId(requestId, 0), givenVolume.id]);
    const h1 = await w.db.stores.hosts.require("h1");
    expect(Object.keys(h1.claims)).toEqual([build.instanceUuid]);
    expect(h1.usage).toEqual({ vcpus: 1, memoryMiB: 64, diskGiB: 1 });
    expect((await w.db.stores.ports.require(givenPort.id)).bindingHost).toBe("h1");
    expect((await w.db.stores.volumes.require(givenVolume.id)).status).toBe("in-use");
    // A failure reported after FinishBoot committed undoes nothing: the server is built.
    const late = await handleBootFailure(d, {
      ...state,
      failure: { finishBoot: failure(new Error("late")) },
    });
    expect(late.outcome).toBe("finished");
    expect((await w.db.stores.instances.require(build.instanceUuid)).vmState).toBe("active");
  });

  it("no valid host: no record, no claim; the build is failed with its fault", async () => {
    const { w, build, requestId, givenPort, givenVolume } = await bootWorld({ hostDown: true });
    const { ending } = await runBoot(w, requestId, build);
    expect(ending).toMatchObject({ outcome: "failed", error: "NoValidHost" });
    expect(await w.db.stores.instances.get(build.instanceUuid)).toBeNull();
    expect((await w.db.stores.actions.require(requestId)).build).toMatchObject({
      status: "failed",
      fault: { error: "NoValidHost" },
    });
    await expectNothingHeld(w, requestId, build, givenPort.id, givenVolume.id);
    expect(w.executor.calls).toEqual([]);
  });

  it("fails while taking its ports (a given port taken meanwhile): the volumes it made and took are undone", async () => {
    const { w, build, requestId, givenPort, givenVolume } = await bootWorld();
    await w.db.stores.ports.put({ ...givenPort, instanceUuid: randomUUID(), bindingHost: "h1", version: 1 });
    const { ending } = await runBoot(w, requestId, build);
    expect(ending).toMatchObject({ error: "PortInUse" });
    expectHostCleaned(w, build, requestId);
    await w.db.stores.ports.put(givenPort); // the other instance's port is not ours to check
    await expectNothingHeld(w, requestId, build, givenPort.id, givenVolume.id);
  });

  it("fails at the root disk (the image is not in the host's cache) or at spawn: nothing left", async () => {
    for (const [match, answer, error] of [
      [
        "create-root-disk",
        { exitCode: 2, stdout: "", stderr: "image cirros-0.6 is not in the image cache" },
        "ImageNotCached",
      ],
      ["define-domain", { fail: "error: Failed to start domain" }, "SpawnFailed"],
    ] as const) {
      const { w, build, requestId, givenPort, givenVolume } = await bootWorld();
      w.executor.on((c) => (c.document === match ? answer : undefined));
      const { ending } = await runBoot(w, requestId, build);
      expect(ending).toMatchObject({ error });
      expectHostCleaned(w, build, requestId);
      await expectNothingHeld(w, requestId, build, givenPort.id, givenVolume.id);
      const instance = await w.db.stores.instances.require(build.instanceUuid);
      expect(instance.fault?.error).toBe(error);
      expect(w.notifier.published.filter((n) => n.eventType === "instance.create.error")).toHaveLength(1);
    }
  });

  it("a clean-up that fails keeps everything with the instance and says so; a delete later removes it all", async () => {
    const { w, build, requestId, givenPort, givenVolume } = await bootWorld();
    let hostAnswers = false;
    w.executor.on((c) => (c.document === "define-domain" ? { fail: "error: start failed" } : undefined));
    w.executor.on((c) =>
      c.comment?.startsWith("clean up failed boot") && !hostAnswers ? "unreachable" : undefined,
    );
    const { ending } = await runBoot(w, requestId, build);
    expect(ending).toMatchObject({ error: "SpawnFailed" });
    const kept = await w.db.stores.instances.require(build.instanceUuid);
    expect(kept.fault).toMatchObject({ error: "BootTargetNotClean", details: { uncleanHost: "h1" } });
    expect(kept.ports).toHaveLength(2);
    expect((await w.db.stores.hosts.require("h1")).claims[build.instanceUuid]).toBeDefined();

    hostAnswers = true;
    const deleteId = randomUUID();
    const d = w.deps;
    const state = await acceptDelete(d, {
      request: { requestId: deleteId, instanceUuid: kept.uuid },
      executionArn: arn("delete", deleteId),
    });
    await destroyInstance(d, state);
    await finishDelete(d, state);
    await finishDelete(d, state);
    const destroy = w.executor.calls.filter((c) => c.comment === `delete ${kept.uuid}`);
    // The domain and its folder, and the made volume's file (deleted with it); the given volume kept.
    expect(destroy.map((c) => [c.document, c.parameters])).toEqual([
      ["remove-domain", { uuid: kept.uuid, instancesPath: "/srv/pool/instances" }],
      ["delete-volume", expect.objectContaining({ fileName: `volume-${bootVolumeId(requestId, 0)}.img` })],
    ]);
    expect(JSON.stringify(destroy)).not.toContain(givenVolume.backingFile);
    expect((await w.db.stores.instances.require(kept.uuid)).vmState).toBe("deleted");
    await expectNothingHeld(w, requestId, build, givenPort.id, givenVolume.id);
  });

  it("the sweeper ends a boot whose execution died mid-way as its failure handler would", async () => {
    const { w, build, requestId, givenPort, givenVolume } = await bootWorld();
    const d = w.deps;
    let state = await acceptBoot(d, { request: { requestId, build }, executionArn: arn("boot", requestId) });
    state = await scheduleBoot(d, state);
    await prepareBoot(d, state);
    w.executions.end(arn("boot", requestId), "ABORTED");
    // The sweeper looks at held tasks older than its minimum age (younger ones' flows are at work).
    expect((await sweep(d)).endedTasks).toEqual([]);
    const later = Date.now() + (SWEEP_MIN_AGE_SECONDS + 1) * 1000;
    d.now = () => new Date(later);
    const report = await sweep(d);
    expect(report.endedTasks).toEqual([expect.objectContaining({ requestId, outcome: "ended-in-error" })]);
    expectHostCleaned(w, build, requestId);
    await expectNothingHeld(w, requestId, build, givenPort.id, givenVolume.id);
  });
  it("the sweeper ends a build whose execution died before it placed the instance: failed, no claim", async () => {
    const { w, build, requestId, givenPort, givenVolume } = await bootWorld();
    const d = w.deps;
    await acceptBoot(d, { request: { requestId, build }, executionArn: arn("boot", requestId) });
    w.executions.statuses.set(arn("boot", requestId), "RUNNING");
    expect((await sweep(d)).endedTasks).toEqual([]);
    w.executions.end(arn("boot", requestId), "TIMED_OUT");
    const report = await sweep(d);
    expect(report.endedTasks).toEqual([expect.objectContaining({ requestId, outcome: "ended-in-error" })]);
    expect((await w.db.stores.actions.require(requestId)).build).toMatchObject({
      status: "failed",
      fault: { error: "FlowEnded" },
    });
    await expectNothingHeld(w, requestId, build, givenPort.id, givenVolume.id);
  });
});

describe("a delete that fails keeps the instance whole", () => {
  it("the host does not answer: ERROR with the fault, claim, ports and volumes kept; delete again succeeds", async () => {
    const { w, build, requestId } = await bootWorld();
    const d = w.deps;
    let state = await acceptBoot(d, { request: { requestId, build }, executionArn: arn("boot", requestId) });
    state = await scheduleBoot(d, state);
    for (const step of [prepareBoot, bootRootDisk, spawnBoot]) await step(d, state);
    await finishBoot(d, state);
    const deleteId = randomUUID();
    const del: DeleteState = await acceptDelete(d, {
      request: { requestId: deleteId, instanceUuid: build.instanceUuid },
      executionArn: arn("delete", deleteId),
    });
    w.executor.on(() => "unreachable");
    const error = await destroyInstance(d, del).catch((e: unknown) => e);
    const ending = await handleDeleteFailure(d, { ...del, failure: { destroyInstance: failure(error) } });
    expect(ending).toMatchObject({ error: "HostUnreachable" });
    const after = await w.db.stores.instances.require(build.instanceUuid);
    expect(after).toMatchObject({ vmState: "error", taskState: null, fault: { step: "destroyInstance" } });
    expect(after.ports).toHaveLength(2);
    expect((await w.db.stores.hosts.require("h1")).claims[build.instanceUuid]).toBeDefined();
    expect((await w.db.stores.ports.require(bootPortId(requestId, 0))).bindingHost).toBe("h1");
  });
});
