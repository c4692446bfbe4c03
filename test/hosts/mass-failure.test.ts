/**
 * The mass-failure guard on real hosts (issue 16, outcome 6): half of a 4-host fleet stops beating at once
 * (both hosts killed by pid: heartbeat publisher, agent, qemu). Both alarms fire and both host-evacuation
 * flows prove their host dead, but 2 of 4 is more than a third: nothing is disabled, fenced or evacuated,
 * both incidents are held, and one alert names both hosts. An operator's evacuation of host-1 still works.
 * The instances are domains defined with virsh on their hosts and adopted, as a fleet has them.
 */
import { type SFNClient, StartExecutionCommand } from "@aws-sdk/client-sfn";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalCloud, startLocalCloud } from "#local/cloud.js";
import type { Instance } from "#shared/domain/schemas.js";
import { HOST_ALERT_SOURCE } from "#shared/notifications/host-alerts.js";
import { sfnClient } from "../support/flows.js";
import {
  bootAdopted,
  domState,
  executions as executionsIn,
  expectInvariants,
  FAST_DETECTION,
  poolHosts,
  statesEntered as statesEnteredIn,
  until,
} from "../support/hosts.js";

let cloud: LocalCloud;
let sfn: SFNClient;
let a1: Instance;
let b1: Instance;
const executions = (machine: string) => executionsIn(cloud, machine);
const statesEntered = (executionArn: string) => statesEnteredIn(cloud, executionArn);

beforeAll(async () => {
  cloud = await startLocalCloud({
    hosts: poolHosts("p1", "host-1", "host-2", "host-3", "host-4"),
    retryIntervalScale: 0.05,
    hostCommandDeadlineMs: 30_000,
    hostFailure: { ...FAST_DETECTION, maxConcurrency: 2 },
  });
  sfn = sfnClient();
  ({ a1, b1 } = await bootAdopted(cloud, {
    a1: { name: "a-1", host: "host-1" },
    b1: { name: "b-1", host: "host-2" },
  }));
}, 600_000);

afterAll(async () => {
  await cloud?.stop();
});

describe("mass-failure guard", () => {
  it("6. half of a 4-host fleet dies at once: nothing fenced or evacuated, one alert names both; the operator can still evacuate", async () => {
    await Promise.all([cloud.killHost("host-1"), cloud.killHost("host-2")]);
    const held = await until(
      "both evacuations to end",
      () => {
        const runs = executions("host-evacuation");
        const ended = ["host-1", "host-2"].map((h) =>
          runs.find((e) => e.inputObject.host === h && e.status !== "RUNNING"),
        );
        return ended.every(Boolean) && runs.every((e) => e.status !== "RUNNING") ? ended : undefined;
      },
      180_000,
    );
    for (const run of held) {
      expect(run!.status, run!.cause).toBe("SUCCEEDED");
      const out = JSON.parse(run!.output ?? "{}") as { outcome: string; massFailure: { hosts: string[] } };
      expect(out.outcome).toBe("held");
      expect(out.massFailure.hosts).toEqual(["host-1", "host-2"]);
      const states = statesEntered(run!.executionArn!);
      // Death was proven (the probe failed) before the guard held it.
      expect(states).toContain("ProbeHost");
      expect(states).toContain("HoldIncident");
      expect(states).not.toContain("DisableHost");
      expect(states).not.toContain("EvacuateInstance");
    }
    expect(executions("rebuild")).toEqual([]);
    for (const name of ["host-1", "host-2"]) {
      const h = await cloud.stores.hosts.require(name);
      expect(h, name).toMatchObject({ enabled: true, forcedDown: false });
      expect(h.incident?.status, name).toBe("held");
    }
    const alerts = cloud.events.events.filter(
      (e) => e.source === HOST_ALERT_SOURCE && e.detailType === "Lazarus Mass Host Failure",
    );
    expect(alerts.length).toBeGreaterThanOrEqual(1);
    for (const alert of alerts) {
      expect(alert.detailType).toBe("Lazarus Mass Host Failure");
      expect((alert.detailObject as { hosts: string[] }).hosts).toEqual(["host-1", "host-2"]);
    }
    for (const i of [a1, b1]) expect((await cloud.stores.instances.require(i.uuid)).host).toBe(i.host);

    // The operator evacuates host-1 by hand: the guard does not hold an operator's request.
    await sfn.send(
      new StartExecutionCommand({
        stateMachineArn: cloud.stateMachineArns["host-evacuation"]!,
        name: "operator-host-1",
        input: JSON.stringify({ host: "host-1", reason: "operator: host-1 is really dead" }),
      }),
    );
    const manual = await until(
      "the operator's evacuation",
      () => executions("host-evacuation").find((e) => e.name === "operator-host-1" && e.status !== "RUNNING"),
      180_000,
    );
    expect(manual.status, manual.cause).toBe("SUCCEEDED");
    expect(JSON.parse(manual.output ?? "{}")).toMatchObject({ outcome: "evacuated" });
    const moved = await cloud.stores.instances.require(a1.uuid);
    expect(["host-3", "host-4"]).toContain(moved.host);
    expect(moved).toMatchObject({ vmState: "active", taskState: null });
    expect(await domState(cloud, moved.host, moved.uuid)).toBe("running");
    // host-2 is still held and untouched.
    expect((await cloud.stores.hosts.require("host-2")).incident?.status).toBe("held");
    expect((await cloud.stores.instances.require(b1.uuid)).host).toBe("host-2");
    await expectInvariants(cloud);
  }, 600_000);
});
