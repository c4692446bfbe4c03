/**
 * The evacuation's two target checks (nova's InstanceExists and instance_on_disk) cost one host command
 * together: CheckInstanceNotOnTarget probes the domain, the disk and the image at once, and
 * CheckSharedStorage decides from those answers, probing itself only when they are not for its target. With
 * VerifyRecreate they read no record: the target host is the copy Schedule's claim returned (FlowState
 * `target`), the instance's uuid and image are the flow's.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { checkInstanceNotOnTarget } from "#functions/compute-steps/steps/check-instance-not-on-target.js";
import { checkSharedStorage } from "#functions/compute-steps/steps/check-shared-storage.js";
import { verifyRecreate } from "#functions/compute-steps/steps/verify-recreate.js";
import { accept } from "#functions/conductor/steps/accept.js";
import { prepareReschedule } from "#functions/conductor/steps/prepare-reschedule.js";
import { schedule } from "#functions/conductor/steps/schedule.js";
import type { ScheduledFlow } from "#shared/flow/contract.js";
import { callsBy } from "../../support/scale.js";
import {
  probeFacts,
  rebuildExecutionArn,
  type StepWorld,
  seedHosts,
  seedInstance,
  useStepHarness,
} from "../../support/step-harness.js";

const newWorld = useStepHarness();

async function scheduledEvacuation(w: StepWorld, onSharedStorage: boolean | null = null) {
  await seedHosts(w, [{ name: "src", down: true }, { name: "b" }]);
  const instance = await seedInstance(w, "src");
  const requestId = randomUUID();
  const flow = await accept(w.deps, {
    request: { requestId, instanceUuid: instance.uuid, recreate: true, onSharedStorage },
    executionArn: rebuildExecutionArn(requestId),
  });
  return (await schedule(w.deps, flow)) as ScheduledFlow;
}

describe("target checks", () => {
  it("one host command answers both checks; the probe's answers do not outlive CheckSharedStorage", async () => {
    const w = await newWorld();
    const flow = await scheduledEvacuation(w);
    w.executor.on(probeFacts("b", { domain: "absent", disk: "present", image: "absent" }));
    const checked = await checkInstanceNotOnTarget(w.deps, flow);
    expect(checked.targetProbe).toEqual({ host: "b", disk: "present", image: "absent" });
    const decided = await checkSharedStorage(w.deps, checked);
    expect(decided.sharedStorage).toBe(true);
    expect(decided.targetProbe).toBeUndefined();
    expect(w.executor.calls).toHaveLength(1);
    expect(w.executor.calls[0]).toMatchObject({
      document: "probe-target",
      parameters: { domainUuid: flow.instanceUuid, disk: expect.any(String), image: expect.any(String) },
    });
  });

  it("refuses on the combined answers as it did on its own probe: disk absent and image not cached", async () => {
    const w = await newWorld();
    const flow = await scheduledEvacuation(w);
    w.executor.on(probeFacts("b", { domain: "absent", disk: "absent", image: "absent" }));
    const checked = await checkInstanceNotOnTarget(w.deps, flow);
    await expect(checkSharedStorage(w.deps, checked)).rejects.toMatchObject({ name: "ImageNotCached" });
    expect(w.executor.calls).toHaveLength(1);
  });

  it("answers for another host (a target given up on) are not used: CheckSharedStorage probes its own target", async () => {
    const w = await newWorld();
    const flow = await scheduledEvacuation(w, true);
    w.executor.on(probeFacts("b", { disk: "present", image: "present" }));
    const stale = {
      ...flow,
      targetProbe: { host: "elsewhere", disk: "absent" as const, image: "absent" as const },
    };
    await expect(checkSharedStorage(w.deps, stale)).resolves.toMatchObject({ sharedStorage: true });
    expect(w.executor.calls.map((c) => c.host)).toEqual(["b"]);
  });
});

describe("the target as Schedule's claim left it (FlowState `target`)", () => {
  it("is the claimed host's, and the checks before PrepareTarget read no record with it", async () => {
    const w = await newWorld();
    const flow = await scheduledEvacuation(w);
    const host = await w.db.stores.hosts.require("b");
    expect(flow.target).toEqual({
      name: "b",
      managedInstanceId: host.managedInstanceId,
      virtType: host.virtType,
      supportsRecreate: true,
      storage: host.storage,
    });
    w.executor.on(probeFacts("b", { domain: "absent", disk: "present", image: "present" }));
    const { calls } = await callsBy(w, async () => {
      const verified = await verifyRecreate(w.deps, flow);
      return checkSharedStorage(w.deps, await checkInstanceNotOnTarget(w.deps, verified));
    });
    expect(calls).toEqual([]);
    expect(w.executor.calls[0]?.parameters.image).toBe(`${host.storage.imageCachePath}/cirros-0.6.2.qcow2`);
  });

  it("a flow that carries none, or one of another host, reads the target by key and uses the record", async () => {
    const w = await newWorld();
    const flow = await scheduledEvacuation(w);
    const record = await w.db.stores.hosts.require("b");
    const elsewhere = {
      ...flow.target!,
      name: "elsewhere",
      storage: { ...record.storage, instancesPath: "/x" },
    };
    for (const state of [
      { ...flow, target: undefined },
      { ...flow, target: elsewhere },
    ]) {
      w.executor.reset();
      w.executor.on(probeFacts("b", { domain: "absent", disk: "present", image: "present" }));
      const { calls } = await callsBy(w, () => checkInstanceNotOnTarget(w.deps, state));
      expect(calls).toEqual(["GetItem hosts"]);
      expect(w.executor.calls[0]).toMatchObject({
        host: "b",
        parameters: { disk: `${record.storage.instancesPath}/${flow.instanceUuid}/disk` },
      });
    }
  });

  it("a forced target whose driver cannot recreate is refused by VerifyRecreate from the claim's record", async () => {
    const w = await newWorld();
    await seedHosts(w, [
      { name: "src", down: true },
      { name: "b", overrides: { supportsRecreate: false } },
    ]);
    const instance = await seedInstance(w, "src");
    const requestId = randomUUID();
    const flow = await accept(w.deps, {
      request: { requestId, instanceUuid: instance.uuid, recreate: true, targetHost: "b", force: true },
      executionArn: rebuildExecutionArn(requestId),
    });
    const scheduled = (await schedule(w.deps, flow)) as ScheduledFlow;
    expect(scheduled.target?.supportsRecreate).toBe(false);
    const { result } = await callsBy(w, () => verifyRecreate(w.deps, scheduled).catch((e: unknown) => e));
    expect(result).toMatchObject({ name: "InstanceEvacuateNotSupported" });
  });

  it("is dropped when the flow gives the target up (PrepareReschedule)", async () => {
    const w = await newWorld();
    const flow = await scheduledEvacuation(w);
    const failed = {
      ...flow,
      failure: { checkInstanceNotOnTarget: { Error: "HostUnreachable", Cause: "{}" } },
    };
    const again = await prepareReschedule(w.deps, failed);
    expect(again.destHost).toBeNull();
    expect(again.target).toBeUndefined();
  });
});
