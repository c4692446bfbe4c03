/**
 * Host failure end to end on real libvirt hosts: heartbeats published by each host to the local CloudWatch
 * endpoint, one alarm per host evaluated there, its "CloudWatch Alarm State Change" event routed by the local
 * EventBridge rule to the trigger Lambda, the host-evacuation and host-recovery machines run by the local
 * Step Functions, the rebuild machine as their child. Nothing is forced down by hand: failures are made by
 * killing a host's processes (by pid) or stopping its heartbeat publisher.
 *
 * Hosts host-1..host-4 share pool p1. host-1 holds 7 instances (6 that fit elsewhere + one too big for any
 * survivor); app-b, the anti-affinity peer of app-a, lives on host-2. The instances are domains defined
 * with virsh on their hosts and adopted, their HA priority and server group set after adoption.
 */

import { EventBridgeClient, PutEventsCommand } from "@aws-sdk/client-eventbridge";
import { DescribeExecutionCommand, type SFNClient, StartExecutionCommand } from "@aws-sdk/client-sfn";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalCloud, startLocalCloud } from "#local/cloud.js";
import { putEntryOf } from "#local/events/events-endpoint.js";
import { evacuationRequestId } from "#shared/domain/host-failure.js";
import type { Instance } from "#shared/domain/schemas.js";
import { runFlow, sfnClient } from "../support/flows.js";
import {
  bootAdopted,
  domState as domStateIn,
  executions as executionsIn,
  expectUsageConsistent,
  FAST_DETECTION,
  poolHosts,
  sleep,
  statesEntered as statesEnteredIn,
  until,
} from "../support/hosts.js";

let cloud: LocalCloud;
let sfn: SFNClient;
const booted: Record<string, Instance> = {};
const SIX = ["db-1", "app-a", "cache-1", "web-1", "web-2", "batch-1"];
const executions = (machine: string) => executionsIn(cloud, machine);
const statesEntered = (executionArn: string) => statesEnteredIn(cloud, executionArn);
const domState = (host: string, uuid: string) => domStateIn(cloud, host, uuid);
const usageConsistent = () => expectUsageConsistent(cloud);

beforeAll(async () => {
  cloud = await startLocalCloud({
    hosts: [
      { name: "host-1", sharedPoolId: "p1", capacity: { vcpus: 8, memoryMiB: 16384, diskGiB: 40 } },
      ...poolHosts("p1", "host-2", "host-3", "host-4"),
    ],
    retryIntervalScale: 0.05,
    hostCommandDeadlineMs: 30_000,
    hostFailure: {
      ...FAST_DETECTION,
      // Longer than the alarm's window (one 10 s period: ALARM 10-20 s after the last heartbeat), so a blip
      // that sets the alarm off is still inside the grace period when it is assessed (outcome 2).
      graceSeconds: 25,
      maxConcurrency: 2,
      // Outcome 7 kills a second host of four while the first is evacuated: 2 of 4 is more than the default
      // third, which the mass-failure guard would hold (test/hosts/mass-failure.test.ts); here half may fail.
      massFailureShare: 0.5,
    },
  });
  sfn = sfnClient();
  const g1 = { id: "g1", policy: "anti-affinity" as const };
  Object.assign(
    booted,
    await bootAdopted(cloud, {
      db: {
        name: "db-1",
        host: "host-1",
        volumes: [{ name: "db-data", sizeGiB: 1, device: "vdb" }],
        policy: { haPriority: 10 },
      },
      appA: { name: "app-a", host: "host-1", policy: { haPriority: 10, serverGroup: g1 } },
      cache: { name: "cache-1", host: "host-1" },
      web1: { name: "web-1", host: "host-1", nics: 2 },
      web2: { name: "web-2", host: "host-1" },
      batch: { name: "batch-1", host: "host-1", stopped: true },
      // More memory than any survivor's limit (4096 MiB x 1.5): its evacuation finds no room.
      big: {
        name: "big-1",
        host: "host-1",
        stopped: true,
        flavor: { vcpus: 1, memoryMiB: 7000, diskGiB: 1 },
      },
      appB: { name: "app-b", host: "host-2", policy: { serverGroup: g1 } },
    }),
  );
}, 600_000);

afterAll(async () => {
  await cloud?.stop();
});

describe("host failure", () => {
  it("2. a heartbeat blip shorter than the grace period: nothing evacuated, host not disabled", async () => {
    const host3 = cloud.fleet.hosts.get("host-3")!;
    await host3.stopHeartbeat();
    await until(
      "host-3's alarm",
      () => cloud.cloudwatch.evaluator.get("lazarus-heartbeat-host-3")?.state === "ALARM",
    );
    host3.startHeartbeat();
    const run = await until("host-3's evacuation to end", () =>
      executions("host-evacuation").find((e) => e.inputObject.host === "host-3" && e.status !== "RUNNING"),
    );
    expect(run.status).toBe("SUCCEEDED");
    const out = JSON.parse(run.output ?? "{}") as { outcome: string; heartbeat: { verdict: string } };
    // The grace period decided it (the heartbeat came back), not the probe.
    expect(out.outcome).toBe("not-dead");
    expect(out.heartbeat.verdict).toBe("alive");
    expect(statesEntered(run.executionArn!)).not.toContain("ProbeHost");
    expect(statesEntered(run.executionArn!)).not.toContain("DisableHost");
    const h3 = await cloud.stores.hosts.require("host-3");
    expect(h3).toMatchObject({ enabled: true, forcedDown: false });
    expect(h3.incident?.status).toBe("not-dead");
    expect(executions("rebuild")).toEqual([]);
    await until(
      "host-3's alarm OK",
      () => cloud.cloudwatch.evaluator.get("lazarus-heartbeat-host-3")?.state === "OK",
    );
  }, 120_000);

  it("1/3/4/7. killed host: one evacuation despite duplicates, priorities, anti-affinity, power states, a no-room failure reported, a second host dying meanwhile", async () => {
    await cloud.killHost("host-1");
    const alarm = await until("host-1's ALARM event", () =>
      cloud.events.events.find(
        (e) =>
          e.source === "aws.cloudwatch" &&
          (e.detailObject as { alarmName?: string }).alarmName === "lazarus-heartbeat-host-1" &&
          (e.detailObject as { state?: { value?: string } }).state?.value === "ALARM",
      ),
    );
    // 3. The same alarm event delivered three more times (and, below, an operator's request).
    const eb = new EventBridgeClient({});
    for (let i = 0; i < 3; i++) {
      await eb.send(new PutEventsCommand({ Entries: [putEntryOf(alarm)] }));
    }
    // 7. A second host dies while the first host's evacuation runs: in its grace period, before its plan.
    // (Killed while a child is already starting a domain there, that child could not prove host-4 clean
    // and would rightly end TargetNotClean: a race with the kill, not what this outcome is about. Killed
    // before the plan, a child the plan still places on host-4 fails before it touches it, and is placed
    // again.)
    await until("host-1's evacuation in its grace period", () =>
      executions("host-evacuation").find(
        (e) => e.inputObject.host === "host-1" && statesEntered(e.executionArn!).includes("AssessHeartbeat"),
      ),
    );
    await cloud.killHost("host-4");
    const main = await until("host-1's evacuation to start evacuating", () =>
      executions("host-evacuation").find(
        (e) => e.inputObject.host === "host-1" && statesEntered(e.executionArn!).includes("EvacuateInstance"),
      ),
    );
    // The operator asks too, while the alarm's evacuation runs (sent once it runs: sent earlier, either
    // request could be the one that opens the incident, and this test follows the alarm's).
    await sfn.send(
      new StartExecutionCommand({
        stateMachineArn: cloud.stateMachineArns["host-evacuation"]!,
        name: "operator-host-1",
        input: JSON.stringify({ host: "host-1", reason: "operator: host-1 is down" }),
      }),
    );

    const ended = await until(
      "both evacuations to end",
      () => {
        const all = executions("host-evacuation").filter((e) => e.inputObject.host !== "host-3");
        const h4 = all.find((e) => e.inputObject.host === "host-4");
        return h4 && all.every((e) => e.status !== "RUNNING") ? all : undefined;
      },
      240_000,
    );

    // 3. One evacuation: the alarm's execution; the operator's ended as a duplicate; redeliveries started nothing.
    const forHost1 = ended.filter((e) => e.inputObject.host === "host-1");
    expect(forHost1.map((e) => e.name).sort()).toEqual([main.name, "operator-host-1"].sort());
    const operator = forHost1.find((e) => e.name === "operator-host-1")!;
    expect(operator.status).toBe("SUCCEEDED");
    expect(JSON.parse(operator.output ?? "{}")).toMatchObject({
      outcome: "duplicate",
      duplicateOf: main.inputObject.incidentId,
    });
    expect(forHost1.filter((e) => statesEntered(e.executionArn!).includes("DisableHost"))).toHaveLength(1);
    const triggerRuns = cloud.lambda.invocations.filter(
      (i) => i.functionName === "lazarus-hostfail-on-alarm",
    );
    expect(
      triggerRuns.filter((i) => (i.result as { executionName?: string })?.executionName === main.name).length,
    ).toBeGreaterThanOrEqual(4);

    // 4. The execution failed with the report: big-1 found no room, the other six were evacuated.
    const final = await sfn.send(new DescribeExecutionCommand({ executionArn: main.executionArn! }));
    expect(final.status).toBe("FAILED");
    expect(final.error).toBe("HostEvacuationIncomplete");
    const report = JSON.parse(final.cause ?? "{}") as {
      evacuated: { name: string }[];
      failed: { name: string; error: string; message: string }[];
    };
    expect(report.failed).toEqual([
      expect.objectContaining({
        name: "big-1",
        error: "NoValidHost",
        message: expect.stringContaining("No valid host"),
      }),
    ]);
    expect(report.evacuated.map((e) => e.name).sort()).toEqual([...SIX].sort());
    const big = await cloud.stores.instances.require(booted.big!.uuid);
    expect(big).toMatchObject({ host: "host-1", vmState: "error", taskState: null });
    expect(big.fault?.error).toBe("NoValidHost");
    const h1 = await cloud.stores.hosts.require("host-1");
    expect(h1).toMatchObject({ enabled: false, forcedDown: true });
    expect(h1.incident).toMatchObject({ status: "evacuated" });

    // One child rebuild execution per instance of host-1 for this incident.
    const children = executions("rebuild");
    for (const name of [...SIX, "big-1"]) {
      const inst = Object.values(booted).find((i) => i.name === name)!;
      const own = children.filter((c) => c.inputObject.instanceUuid === inst.uuid);
      expect(own.length, name).toBeGreaterThanOrEqual(1);
      expect(new Set(own.map((c) => c.name)).size, name).toBe(own.length);
    }

    // 1 + 7. All six run on the survivors (host-2, host-3), once, in their power state; none on host-4.
    for (const name of SIX) {
      const before = Object.values(booted).find((i) => i.name === name)!;
      const now = await cloud.stores.instances.require(before.uuid);
      expect(["host-2", "host-3"], name).toContain(now.host);
      expect(now.vmState, name).toBe(before.vmState);
      expect(now.taskState, name).toBeNull();
      const expected = before.vmState === "stopped" ? "shut off" : "running";
      expect(await domState(now.host, now.uuid), name).toBe(expected);
      const other = now.host === "host-2" ? "host-3" : "host-2";
      expect(await domState(other, now.uuid), `${name} on ${other}`).toBe("absent");
    }
    // Anti-affinity kept: app-b is on host-2, so app-a is not.
    expect((await cloud.stores.instances.require(booted.appA!.uuid)).host).toBe("host-3");
    // The volume is attached on the new host.
    const db = await cloud.stores.instances.require(booted.db!.uuid);
    const blk = await cloud.fleet.hosts.get(db.host)!.virsh(["domblklist", db.uuid]);
    const volume = await cloud.stores.volumes.require(db.volumes[0]!.volumeId);
    const dbHost = await cloud.stores.hosts.require(db.host);
    expect(blk.stdout).toMatch(new RegExp(`vdb\\s+${dbHost.storage.volumesPath}/${volume.backingFile}`));
    expect(volume.attachments.filter((a) => a.status === "attached").map((a) => a.host)).toEqual([db.host]);
    // Higher priority first: every priority-10 child ended before any priority-0 child of the incident began.
    const incidentId = String(main.inputObject.incidentId);
    const incidentChildren = children.filter(
      (c) => c.name === evacuationRequestId(incidentId, String(c.inputObject.instanceUuid)),
    );
    const prio = (uuid: unknown) => Object.values(booted).find((i) => i.uuid === uuid)?.haPriority ?? 0;
    const high = incidentChildren.filter((c) => prio(c.inputObject.instanceUuid) === 10);
    const low = incidentChildren.filter((c) => prio(c.inputObject.instanceUuid) === 0);
    expect(high.length).toBe(2);
    const lastHighEnd = Math.max(...high.map((c) => c.stopDate!.getTime()));
    const firstLowStart = Math.min(...low.map((c) => c.startDate!.getTime()));
    expect(lastHighEnd).toBeLessThanOrEqual(firstLowStart);
    // 7. host-4's own evacuation ran; nothing is left on it.
    expect((await cloud.stores.instances.listByHost("host-4")).map((i) => i.name)).toEqual([]);
    expect((await cloud.stores.hosts.require("host-4")).forcedDown).toBe(true);
    await usageConsistent();
  }, 480_000);

  it("5/6. host-1 returns: stale copies (also of a failed-then-re-evacuated instance) removed before it serves; migrations completed; usage back", async () => {
    // 6. big-1's evacuation ended in error (no room); make room and evacuate it again by hand.
    const host2 = await cloud.stores.hosts.require("host-2");
    await cloud.stores.hosts.put({ ...host2, capacity: { ...host2.capacity, memoryMiB: 16384 } });
    const again = await runFlow(sfn, cloud.rebuildStateMachineArn, {
      instanceUuid: booted.big!.uuid,
      recreate: true,
    });
    expect(again.status, again.cause).toBe("SUCCEEDED");
    const big = await cloud.stores.instances.require(booted.big!.uuid);
    // Evacuating an ERROR instance makes it ACTIVE (nova's rule for the API's evacuate).
    expect(big).toMatchObject({ host: "host-2", vmState: "active", taskState: null });
    const bigMigrations = await cloud.stores.migrations.listByInstance(big.uuid);
    expect(bigMigrations.map((m) => m.status).sort()).toEqual(["done", "error"]);

    // 5. host-1 comes back. Its domains are defined (shut off); none may run at any moment.
    const host1 = cloud.fleet.hosts.get("host-1")!;
    const evacuated = [...SIX.map((n) => Object.values(booted).find((i) => i.name === n)!.uuid), big.uuid];
    let sawRunning: string[] = [];
    let watching = true;
    await cloud.restartHost("host-1");
    const watcher = (async () => {
      while (watching) {
        const r = await host1.virsh(["list", "--uuid"], { allowFail: true });
        const running = r.stdout
          .split("\n")
          .map((l) => l.trim())
          .filter(Boolean);
        sawRunning = [...sawRunning, ...running];
        await sleep(200);
      }
    })();
    const recovery = await until(
      "host-1's recovery",
      () =>
        executions("host-recovery").find((e) => e.inputObject.host === "host-1" && e.status !== "RUNNING"),
      120_000,
    );
    watching = false;
    await watcher;
    expect(recovery.status, recovery.cause).toBe("SUCCEEDED");
    expect(sawRunning).toEqual([]);

    const left = (await host1.virsh(["list", "--all", "--uuid"])).stdout
      .split("\n")
      .map((l) => l.trim())
      .filter(Boolean);
    for (const uuid of evacuated) expect(left).not.toContain(uuid);
    const out = JSON.parse(recovery.output ?? "{}") as { domains: { removed: string[] } };
    expect(out.domains.removed.sort()).toEqual([...evacuated].sort());
    // Shared disks are kept: the evacuated copies run from them.
    expect(await domState(big.host, big.uuid)).toBe("running");

    for (const uuid of evacuated) {
      const ms = (await cloud.stores.migrations.listByInstance(uuid)).filter(
        (m) => m.sourceHost === "host-1",
      );
      expect(ms.length).toBeGreaterThan(0);
      for (const m of ms) expect(m.status, `migration of ${uuid}`).toBe("completed");
    }
    const h1 = await cloud.stores.hosts.require("host-1");
    expect(h1.claims).toEqual({});
    expect(h1.usage).toEqual({ vcpus: 0, memoryMiB: 0, diskGiB: 0 });
    expect(h1.antiAffinity).toEqual({});
    expect(h1).toMatchObject({ enabled: false, forcedDown: false });
    expect(h1.incident?.status).toBe("closed");
    await usageConsistent();
  }, 300_000);
});
