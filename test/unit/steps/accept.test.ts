/**
 * Accept, step by step against dynalite: every refusal changes nothing (no task taken, no migration, no
 * notification); the input is the request only; a retry finds its own take; a success takes the task.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { accept } from "#functions/conductor/steps/accept.js";
import type { Instance } from "#shared/domain/schemas.js";
import {
  rebuildExecutionArn,
  type StepWorld,
  seedHosts,
  seedInstance,
  useStepHarness,
} from "../../support/step-harness.js";

const newWorld = useStepHarness();

const ARN = rebuildExecutionArn("x");

async function world(sourceDown: boolean) {
  const w = await newWorld();
  await seedHosts(w, [{ name: "src", down: sourceDown }, { name: "dst" }]);
  return w;
}

async function unchanged(w: StepWorld, before: Instance, requestId: string) {
  const after = await w.db.stores.instances.require(before.uuid);
  expect(after).toEqual(before);
  expect(await w.db.stores.migrations.get(requestId)).toBeNull();
  expect(w.notifier.published).toEqual([]);
}

describe("accept refuses without changing anything", () => {
  const cases: [string, boolean, Partial<Instance>, Record<string, unknown>, string][] = [
    ["unknown instance", true, {}, { instanceUuid: randomUUID() }, "InstanceNotFound"],
    ["instance in a task", true, { taskState: "migrating" }, {}, "InstanceInvalidState"],
    ["vm_state building", true, { vmState: "building" }, {}, "InstanceInvalidState"],
    ["never launched", true, { launchedAt: null }, {}, "InstanceInvalidState"],
    ["evacuate while the source is up", false, {}, {}, "ComputeServiceInUse"],
    ["evacuate with a new image", true, {}, { imageRef: "ubuntu-24.04" }, "InvalidInput"],
    ["evacuate to an unknown host", true, {}, { targetHost: "nowhere" }, "HostNotFound"],
    ["evacuate to its own host", true, {}, { targetHost: "src" }, "InvalidTargetHost"],
    ["force without a host", true, {}, { force: true }, "InvalidInput"],
    ["preserve_ephemeral", true, {}, { preserveEphemeral: true }, "PreserveEphemeralNotSupported"],
    ["rebuild while the host is down", true, {}, { recreate: false }, "ComputeServiceUnavailable"],
    ["rebuild of a locked instance", false, { locked: true }, { recreate: false }, "InstanceIsLocked"],
    ["rebuild to another host", false, {}, { recreate: false, targetHost: "dst" }, "InvalidInput"],
    ["an internal field in the input", true, {}, { createdRootDisk: true }, "InvalidInput"],
    ["sharedStorage in the input", true, {}, { sharedStorage: false }, "InvalidInput"],
    ["a destHost in the input", true, {}, { destHost: "dst" }, "InvalidInput"],
  ];

  it.each(cases)("%s", async (_what, sourceDown, patch, extra, error) => {
    const w = await world(sourceDown);
    const before = await seedInstance(w, "src", patch);
    const requestId = randomUUID();
    const request = { requestId, instanceUuid: before.uuid, recreate: true, ...extra };
    await expect(accept(w.deps, { request, executionArn: ARN })).rejects.toMatchObject({ name: error });
    await unchanged(w, before, requestId);
  });

  it("names the offending field of a malformed request", async () => {
    const w = await world(true);
    const instance = await seedInstance(w, "src");
    const request = {
      requestId: "not-a-uuid",
      instanceUuid: instance.uuid,
      recreate: "yes",
      createdRootDisk: true,
    };
    const err = await accept(w.deps, { request, executionArn: ARN }).catch((e: Error) => e);
    expect(err).toMatchObject({ name: "InvalidInput" });
    expect(String((err as Error).message)).toMatch(/requestId/);
    expect(String((err as Error).message)).toMatch(/recreate/);
    expect(String((err as Error).message)).toMatch(/createdRootDisk/);
  });
});

describe("accept takes the instance", () => {
  it("task_state rebuilding owned by the request and its execution, a migration accepted, one start notification", async () => {
    const w = await world(true);
    const instance = await seedInstance(w, "src");
    const requestId = randomUUID();
    const request = { requestId, instanceUuid: instance.uuid, recreate: true };
    const flow = await accept(w.deps, { request, executionArn: ARN });
    expect(flow).toMatchObject({
      migrationId: requestId,
      sourceHost: "src",
      executionArn: ARN,
      destHost: null,
    });
    const taken = await w.db.stores.instances.require(instance.uuid);
    expect(taken).toMatchObject({ taskState: "rebuilding", taskRequestId: requestId, taskExecutionArn: ARN });
    expect(await w.db.stores.migrations.require(requestId)).toMatchObject({
      status: "accepted",
      executionArn: ARN,
    });
    expect(w.notifier.published.map((n) => n.eventType)).toEqual(["instance.rebuild.start"]);

    // A retry (its first result lost) finds its own take and changes nothing more.
    const again = await accept(w.deps, { request, executionArn: ARN });
    expect(again).toEqual(flow);
    expect(await w.db.stores.instances.require(instance.uuid)).toEqual(taken);

    // Another request is refused while the task is held.
    const other = { requestId: randomUUID(), instanceUuid: instance.uuid, recreate: true };
    await expect(accept(w.deps, { request: other, executionArn: ARN })).rejects.toMatchObject({
      name: "InstanceInvalidState",
    });
  });

  it("evacuation of a locked instance is allowed (nova locks rebuild only)", async () => {
    const w = await world(true);
    const instance = await seedInstance(w, "src", { locked: true });
    const request = { requestId: randomUUID(), instanceUuid: instance.uuid, recreate: true };
    await expect(accept(w.deps, { request, executionArn: ARN })).resolves.toMatchObject({
      sourceHost: "src",
    });
  });
});
