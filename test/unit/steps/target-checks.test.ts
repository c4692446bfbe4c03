/**
 * The evacuation's two target checks (nova's InstanceExists and instance_on_disk) cost one host command
 * together: CheckInstanceNotOnTarget probes the domain, the disk and the image at once, and
 * CheckSharedStorage decides from those answers, probing itself only when they are not for its target.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { checkInstanceNotOnTarget } from "#functions/compute-steps/steps/check-instance-not-on-target.js";
import { checkSharedStorage } from "#functions/compute-steps/steps/check-shared-storage.js";
import { accept } from "#functions/conductor/steps/accept.js";
import { schedule } from "#functions/conductor/steps/schedule.js";
import type { ScheduledFlow } from "#shared/flow/contract.js";
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
