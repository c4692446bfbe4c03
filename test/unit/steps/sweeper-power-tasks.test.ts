/**
 * The sweeper ends power tasks (os-stop/os-start, a recovery's restart) whose owner is gone: never a task
 * held for ever, and vm_state/power_state taken from what the host says, not guessed.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { API_TASK_ABANDONED_MS, SWEEP_MIN_AGE_SECONDS, sweep } from "#functions/sweeper/sweep.js";
import { API_FUNCTIONS } from "#shared/definitions/functions.js";
import { functionTimeoutSeconds } from "#shared/definitions/timeouts.js";
import type { Instance } from "#shared/domain/schemas.js";
import { type StepWorld, seedHosts, seedInstance, useStepHarness } from "../../support/step-harness.js";

const newWorld = useStepHarness();

async function powerTask(
  w: StepWorld,
  task: "powering_on" | "powering_off",
  owner: { executionArn: string | null },
): Promise<Instance> {
  await seedHosts(w, [{ name: "h1" }]);
  const instance = await seedInstance(w, "h1", {
    vmState: task === "powering_on" ? "stopped" : "active",
    powerState: task === "powering_on" ? "shutdown" : "running",
  });
  const held = await w.db.stores.instances.update(instance.uuid, {
    expectTaskState: [null],
    set: { taskState: task, taskRequestId: randomUUID(), taskExecutionArn: owner.executionArn },
  });
  if (owner.executionArn) {
    // The sweeper looks at a task once it is older than its minimum age: a minute later.
    const later = Date.now() + (SWEEP_MIN_AGE_SECONDS + 1) * 1000;
    w.deps.now = () => new Date(later);
  }
  return held;
}

const domstate = (w: StepWorld, answer: string | "unreachable") =>
  w.executor.on((call) =>
    call.probe
      ? answer === "unreachable"
        ? "unreachable"
        : { exitCode: 0, stdout: `${answer}\n`, stderr: "" }
      : undefined,
  );

describe("sweeper: power tasks", () => {
  it("leaves a recovery's restart alone while its execution runs, ends it from the host's answer once it does not", async () => {
    const w = await newWorld();
    const arn = `arn:aws:states:local:000000000000:execution:instance-recovery:${randomUUID()}`;
    const instance = await powerTask(w, "powering_on", { executionArn: arn });
    domstate(w, "running");

    w.executions.statuses.set(arn, "RUNNING");
    const first = await sweep(w.deps);
    expect(first.endedPowerTasks).toEqual([]);
    expect(first.running).toBe(1);
    expect(w.executor.calls).toEqual([]);
    expect((await w.db.stores.instances.require(instance.uuid)).taskState).toBe("powering_on");

    w.executions.statuses.set(arn, "FAILED");
    const second = await sweep(w.deps);
    expect(second.endedPowerTasks).toEqual([
      {
        instanceUuid: instance.uuid,
        requestId: instance.taskRequestId,
        taskState: "powering_on",
        owner: "execution",
        domain: "running",
      },
    ]);
    expect(w.executor.calls.map((c) => c.host)).toEqual(["h1"]);
    expect(await w.db.stores.instances.require(instance.uuid)).toMatchObject({
      taskState: null,
      taskRequestId: null,
      taskExecutionArn: null,
      vmState: "active",
      powerState: "running",
      fault: null,
    });
  });

  it("ends an API request's stop only once the request can no longer be running (older than the API's timeout)", async () => {
    const w = await newWorld();
    const instance = await powerTask(w, "powering_off", { executionArn: null });
    domstate(w, "shut off");

    expect((await sweep(w.deps)).endedPowerTasks).toEqual([]);
    expect((await w.db.stores.instances.require(instance.uuid)).taskState).toBe("powering_off");

    // The threshold is the API function's own timeout (as deployed) plus the clock margin: not before.
    const takenAt = Date.parse((await w.db.stores.instances.require(instance.uuid)).updatedAt);
    expect(API_TASK_ABANDONED_MS).toBeGreaterThan(functionTimeoutSeconds(API_FUNCTIONS[0]!) * 1000);
    w.deps.now = () => new Date(takenAt + API_TASK_ABANDONED_MS - 1000);
    expect((await sweep(w.deps)).endedPowerTasks).toEqual([]);

    const later = takenAt + API_TASK_ABANDONED_MS + 1000;
    w.deps.now = () => new Date(later);
    const report = await sweep(w.deps);
    expect(report.endedPowerTasks).toMatchObject([
      { instanceUuid: instance.uuid, owner: "api", domain: "shutdown" },
    ]);
    expect(await w.db.stores.instances.require(instance.uuid)).toMatchObject({
      taskState: null,
      vmState: "stopped",
      powerState: "shutdown",
    });
  });

  it("a host that does not answer: the task is released, vm_state left as it was (not guessed, not ERROR)", async () => {
    const w = await newWorld();
    const arn = `arn:aws:states:local:000000000000:execution:instance-recovery:${randomUUID()}`;
    const instance = await powerTask(w, "powering_on", { executionArn: arn });
    domstate(w, "unreachable");
    w.executions.end(arn, "ABORTED");

    const report = await sweep(w.deps);
    expect(report.endedPowerTasks).toMatchObject([{ instanceUuid: instance.uuid, domain: null }]);
    expect(await w.db.stores.instances.require(instance.uuid)).toMatchObject({
      taskState: null,
      vmState: "stopped",
      powerState: "shutdown",
      fault: null,
    });
  });
});
