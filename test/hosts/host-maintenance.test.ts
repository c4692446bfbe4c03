/**
 * Issue 32, outcome 4, on real hosts: host-4 drained (maintenance: empty), then powered off for its repair:
 * its heartbeat alarm starts no evacuation; back on, undrained, it takes instances again (x-1 migrated back
 * live). Driven through the `lazarus` CLI as an operator runs it; invariants hold after it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalCloud, startLocalCloud } from "#local/cloud.js";
import type { Instance } from "#shared/domain/schemas.js";
import {
  bootAdopted,
  executions,
  expectInvariants,
  FAST_FENCING,
  HOST_FAILURE_WAIT_MS,
  poolHosts,
  runningOn,
  until,
} from "../support/hosts.js";
import { lazarusJson } from "../support/lazarus-cli.js";

let cloud: LocalCloud;
let x: Instance;

beforeAll(async () => {
  cloud = await startLocalCloud({
    hosts: poolHosts("p1", "host-2", "host-3", "host-4"),
    retryIntervalScale: 0.05,
    hostCommandDeadlineMs: 30_000,
    hostFailure: FAST_FENCING,
    maintenance: { liveMigrationTimeoutSeconds: 45, drainMaxConcurrency: 2 },
  });
  ({ x } = await bootAdopted(cloud, {
    x: { name: "x-1", host: "host-4", flavor: { vcpus: 1, memoryMiB: 128, diskGiB: 1 } },
  }));
}, 600_000);

afterAll(async () => {
  await cloud?.stop();
});

/** `lazarus --json ARGS` as an operator runs it. */
const lazarus = (...args: string[]) => lazarusJson(cloud.api.url, ...args);
const record = (i: Instance) => cloud.stores.instances.require(i.uuid);

describe("a host in maintenance powered off for its repair", () => {
  it("starts no evacuation; back and undrained, it takes instances again", async () => {
    const drain = await lazarus("host", "drain", "host-4", "--reason", "PSU swap");
    expect(drain.code, `${drain.stderr} ${JSON.stringify(drain.doc.report)}`).toBe(0);
    expect(drain.doc.report).toMatchObject({ state: "maintenance", left: [] });
    expect(await record(x)).toMatchObject({ vmState: "active" });
    expect((await record(x)).host).not.toBe("host-4");
    const evacuationsBefore = executions(cloud, "host-evacuation").length;

    const killedAt = new Date();
    await cloud.killHost("host-4");
    // The alarm fires and its trigger runs: it starts nothing for a host in maintenance.
    const handled = await until(
      "host-4's heartbeat alarm handled",
      () =>
        cloud.lambda.invocations.find(
          (i) =>
            i.functionName === "lazarus-hostfail-on-alarm" &&
            i.startedAt >= killedAt &&
            i.status === "succeeded" &&
            (i.event as { detail: { state: { value: string } } }).detail.state.value === "ALARM" &&
            (i.result as { host?: string }).host === "host-4",
        ),
      HOST_FAILURE_WAIT_MS,
    );
    expect(handled.result).toMatchObject({
      action: "ignore",
      started: false,
      reason: expect.stringContaining("maintenance"),
    });
    // The trigger has answered; whatever it or a duplicate delivery started has been started by now.
    await cloud.lambda.idle();
    expect(executions(cloud, "host-evacuation").length).toBe(evacuationsBefore);
    expect(executions(cloud, "host-evacuation").some((e) => e.inputObject.host === "host-4")).toBe(false);
    expect(await cloud.stores.hosts.require("host-4")).toMatchObject({
      enabled: false,
      forcedDown: false,
      incident: null,
      maintenance: { state: "maintenance" },
    });
    const host4 = cloud.fleet.hosts.get("host-4")!;
    expect(cloud.ec2.stops.filter((x) => x.instanceIds.includes(host4.managedInstanceId))).toEqual([]);

    await cloud.restartHost("host-4");
    await until(
      "host-4's heartbeat back",
      async () => (await cloud.stores.hosts.require("host-4")).status === "up" || undefined,
      HOST_FAILURE_WAIT_MS,
    );
    const undrain = await lazarus("host", "undrain", "host-4");
    expect(undrain.code, undrain.stderr).toBe(0);
    expect(await cloud.stores.hosts.require("host-4")).toMatchObject({ enabled: true, maintenance: null });
    const back = await lazarus("migrate", x.uuid, "--live", "--host", "host-4");
    expect(back.code, back.stderr).toBe(0);
    expect(await record(x)).toMatchObject({ host: "host-4", vmState: "active" });
    expect(await runningOn(cloud, x.uuid)).toEqual(["host-4"]);
    await expectInvariants(cloud);
  });
});
