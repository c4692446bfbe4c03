/**
 * Instance failure end to end on real libvirt hosts: each host's instance monitor (a process of the host's
 * user following `virsh event`) reports a stopped domain through the SDK to the local EventBridge endpoint,
 * whose rule invokes the trigger Lambda, which starts the instance-recovery machine (local Step Functions),
 * which restarts the domain through SSM or relocates it through the rebuild machine as its child. Failures
 * are made for real: the qemu process of a domain is SIGKILLed by its pid, found among the host user's
 * processes by the domain's uuid in its command line.
 *
 * host-1 and host-2 share pool p1 (the root disks live in one folder both see). The instances are domains
 * defined with virsh on their hosts and adopted: they keep their libvirt names (web-1, ...), so the monitor
 * finds their uuids by name.
 */
import { readFileSync } from "node:fs";
import { EventBridgeClient, PutEventsCommand } from "@aws-sdk/client-eventbridge";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalCloud, startLocalCloud } from "#local/cloud.js";
import type { HandDefinedDomain } from "#local/fleet-domains.js";
import { processesOfUid } from "#local/hosts/local-host.js";
import { heartbeatLogGroupName, hostLogStreamName } from "#shared/definitions/heartbeat.js";
import { INSTANCE_MONITOR_EVENT, INSTANCE_MONITOR_PROPERTY } from "#shared/definitions/instance-failure.js";
import { DOMAIN_STOPPED_EVENT } from "#shared/domain/instance-failure.js";
import type { Instance } from "#shared/domain/schemas.js";
import {
  bootAdopted,
  domState as domStateIn,
  expectInvariants,
  poolHosts,
  sleep,
  statesEntered as statesEnteredIn,
  until,
} from "../support/hosts.js";

let cloud: LocalCloud;
const domState = (host: string, uuid: string) => domStateIn(cloud, host, uuid);
const statesEntered = (executionArn: string) => statesEnteredIn(cloud, executionArn);
const invariantsHold = () => expectInvariants(cloud);
/** One domain defined with virsh on its host and adopted, as a fleet has it. */
const adoptOne = async (domain: HandDefinedDomain): Promise<Instance> =>
  (await bootAdopted(cloud, { one: domain })).one;

/** The pid of the domain's qemu: a process of the host's user whose command line names the domain's uuid. */
function qemuPid(hostName: string, uuid: string): number | undefined {
  const host = cloud.fleet.hosts.get(hostName)!;
  for (const pid of processesOfUid(host.uid)) {
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    } catch {
      continue;
    }
    const i = argv.indexOf("-uuid");
    if (i >= 0 && argv[i + 1]?.toLowerCase() === uuid.toLowerCase()) return pid;
  }
  return undefined;
}

/** Executions of the instance-recovery machine for one instance, with their input and end state. */
function recoveries(instanceUuid: string) {
  const arn = cloud.stateMachineArns["instance-recovery"]!;
  return (cloud.stepFunctions.listExecutions({ stateMachineArn: arn, maxResults: 1000 }).executions ?? [])
    .map((e) => cloud.stepFunctions.describeExecution(e.executionArn!))
    .filter((d) => {
      const input = JSON.parse(d.input ?? "{}") as { report?: { instanceUuid?: string } };
      return input.report?.instanceUuid === instanceUuid;
    })
    .map((d) => ({ ...d, states: statesEntered(d.executionArn!) }));
}

async function killQemu(host: string, uuid: string): Promise<number> {
  const pid = await until(`qemu of ${uuid} on ${host}`, () => qemuPid(host, uuid), 30_000);
  process.kill(pid, "SIGKILL");
  await until(`qemu ${pid} gone`, () => qemuPid(host, uuid) !== pid, 30_000);
  return pid;
}

async function api(path: string, init: RequestInit = {}) {
  const res = await fetch(`${cloud.api.url}/v2.1${path}`, {
    ...init,
    headers: { "content-type": "application/json", "openstack-api-version": "compute 2.62" },
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

beforeAll(async () => {
  cloud = await startLocalCloud({
    hosts: poolHosts("p1", "host-1", "host-2"),
    retryIntervalScale: 0.05,
    hostCommandDeadlineMs: 30_000,
    // The storm guard has its own (unit) tests; here four crashes on host-1 are four guests' business.
    instanceFailure: { windowSeconds: 3600, stormCrashes: 20 },
  });
}, 600_000);

afterAll(async () => {
  await cloud?.stop();
});

describe("instance failure", () => {
  let web: Instance;

  it("1. the qemu of an ACTIVE instance is killed: it runs again on the same host, the action log shows the restart", async () => {
    web = await adoptOne({
      name: "web-1",
      host: "host-1",
      nics: 2,
      volumes: [{ name: "web-data", sizeGiB: 1, device: "vdb" }],
    });
    const killed = await killQemu("host-1", web.uuid);

    const run = await until("the restart to end", () =>
      recoveries(web.uuid).find((r) => r.status !== "RUNNING"),
    );
    expect(run.status).toBe("SUCCEEDED");
    expect(run.states).toContain("ProbeDomain");
    expect(run.states).toContain("Restarted");
    expect(await domState("host-1", web.uuid)).toBe("running");
    expect(qemuPid("host-1", web.uuid)).not.toBe(killed);
    const now = await cloud.stores.instances.require(web.uuid);
    expect(now).toMatchObject({ host: "host-1", vmState: "active", taskState: null, powerState: "running" });

    // The monitor reported libvirt's reason for a killed qemu.
    const report = cloud.events.events.find(
      (e) => e.source === DOMAIN_STOPPED_EVENT.source && e.detailObject.instanceUuid === web.uuid,
    );
    expect(report?.detailObject).toMatchObject({ host: "host-1", reason: "Failed" });

    const actions = await api(`/servers/${web.uuid}/os-instance-actions`);
    expect(actions.status).toBe(200);
    const list = actions.body.instanceActions as { action: string; request_id: string; message: null }[];
    expect(list.map((a) => a.action)).toEqual(["start"]);
    const shown = await api(`/servers/${web.uuid}/os-instance-actions/${list[0]!.request_id}`);
    expect(shown.body.instanceAction).toMatchObject({
      action: "start",
      events: [{ event: "compute_start_instance", result: "Success", host: "host-1" }],
    });
    const notified = cloud.events.events
      .filter((e) => e.source === "lazarus.compute" && e.detailObject.instance_uuid === web.uuid)
      .map((e) => e.detailType);
    expect(notified).toEqual(["instance.power_on.start", "instance.power_on.end"]);
    await invariantsHold();
  }, 180_000);

  it("2. killed again inside the window: relocated with its disk, MACs and volume; no copy left on the source", async () => {
    const before = await cloud.stores.instances.require(web.uuid);
    const blkBefore = (await cloud.fleet.hosts.get("host-1")!.virsh(["domblklist", web.uuid])).stdout;
    const ifBefore = (await cloud.fleet.hosts.get("host-1")!.virsh(["domiflist", web.uuid])).stdout;
    await killQemu("host-1", web.uuid);

    const run = await until(
      "the relocation to end",
      () => recoveries(web.uuid).find((r) => r.status !== "RUNNING" && !r.states.includes("Restarted")),
      240_000,
    );
    expect(run.status).toBe("SUCCEEDED");
    expect(run.states).toEqual(expect.arrayContaining(["PrepareRelocation", "Relocate", "Relocated"]));
    expect(run.states).not.toContain("Restart");

    const after = await cloud.stores.instances.require(web.uuid);
    expect(after).toMatchObject({ host: "host-2", vmState: "active", taskState: null });
    expect(await domState("host-2", web.uuid)).toBe("running");
    expect(await domState("host-1", web.uuid)).toBe("absent");
    // The same disk files (shared pool) and volume, the same MACs.
    const blkAfter = (await cloud.fleet.hosts.get("host-2")!.virsh(["domblklist", web.uuid])).stdout;
    const ifAfter = (await cloud.fleet.hosts.get("host-2")!.virsh(["domiflist", web.uuid])).stdout;
    expect(blkAfter).toBe(blkBefore);
    const macs = (s: string) => [...s.matchAll(/([0-9a-f]{2}(?::[0-9a-f]{2}){5})/g)].map((m) => m[1]);
    expect(macs(ifAfter)).toEqual(macs(ifBefore));
    expect(macs(ifAfter)).toHaveLength(2);
    const volume = await cloud.stores.volumes.require(before.volumes[0]!.volumeId);
    expect(volume.attachments.filter((a) => a.status === "attached").map((a) => a.host)).toEqual(["host-2"]);

    // The relocation is an evacuation in the action log, after the restart.
    const actions = await api(`/servers/${web.uuid}/os-instance-actions`);
    expect((actions.body.instanceActions as { action: string }[]).map((a) => a.action)).toEqual([
      "evacuate",
      "start",
    ]);
    const host1 = await cloud.stores.hosts.require("host-1");
    expect(host1.claims[web.uuid]).toBeUndefined();
    await invariantsHold();
  }, 300_000);

  it("3. an instance the operator stopped through the API is not restarted", async () => {
    const db = await adoptOne({ name: "db-1", host: "host-1" });
    const stop = await api(`/servers/${db.uuid}/action`, {
      method: "POST",
      body: JSON.stringify({ "os-stop": null }),
    });
    expect(stop.status).toBe(202);
    expect(await domState("host-1", db.uuid)).toBe("shut off");
    expect(await cloud.stores.instances.require(db.uuid)).toMatchObject({
      vmState: "stopped",
      taskState: null,
      powerState: "shutdown",
    });
    // Had the guest acknowledged the ACPI shutdown, libvirt would have said "Shutdown" and the monitor
    // reported it: that report, delivered now, is judged by the record (STOPPED) and ignored.
    await new EventBridgeClient({}).send(
      new PutEventsCommand({
        Entries: [
          {
            Source: DOMAIN_STOPPED_EVENT.source,
            DetailType: DOMAIN_STOPPED_EVENT.detailType,
            Detail: JSON.stringify({
              host: "host-1",
              instanceUuid: db.uuid,
              domain: db.name,
              event: "Stopped",
              reason: "Shutdown",
              stoppedAt: new Date().toISOString(),
            }),
          },
        ],
      }),
    );
    const run = await until("the report's recovery to end", () =>
      recoveries(db.uuid).find((r) => r.status !== "RUNNING"),
    );
    expect(run.status).toBe("SUCCEEDED");
    expect(run.states).toContain("NotRecovered");
    expect(run.states).not.toContain("ProbeDomain");
    await sleep(3000);
    // The monitor's own report of the stop (if libvirt gave a failure reason) started nothing either.
    expect(recoveries(db.uuid).every((r) => r.states.includes("NotRecovered"))).toBe(true);
    expect(await domState("host-1", db.uuid)).toBe("shut off");
    const recorded = await cloud.stores.recoveries.listByInstance(db.uuid);
    expect(recorded.map((r) => r.status)).toEqual(recorded.map(() => "ignored"));
    await invariantsHold();
  }, 120_000);

  it("4. three deliveries of one crash report start one recovery", async () => {
    const app = await adoptOne({ name: "app-1", host: "host-2" });
    await killQemu("host-2", app.uuid);
    const report = await until("the monitor's report", () =>
      cloud.events.events.find(
        (e) => e.source === DOMAIN_STOPPED_EVENT.source && e.detailObject.instanceUuid === app.uuid,
      ),
    );
    const eb = new EventBridgeClient({});
    for (let i = 0; i < 2; i++) {
      await eb.send(
        new PutEventsCommand({
          Entries: [{ Source: report.source, DetailType: report.detailType, Detail: report.detail }],
        }),
      );
    }
    const run = await until("the restart to end", () =>
      recoveries(app.uuid).find((r) => r.status !== "RUNNING"),
    );
    expect(run.status).toBe("SUCCEEDED");
    // Every delivery reached the trigger...
    await until("three deliveries", () =>
      cloud.events.deliveries.filter((d) => d.target.endsWith("instfail-on-domain-stopped")).length >= 3
        ? true
        : undefined,
    );
    // Each delivered invocation has run to its end (a duplicate found the first's record).
    await cloud.lambda.idle();
    // ...and one execution, one record, one restart came of them.
    expect(recoveries(app.uuid)).toHaveLength(1);
    const recorded = await cloud.stores.recoveries.listByInstance(app.uuid);
    expect(recorded).toHaveLength(1);
    expect(recorded[0]!.attempts.map((a) => `${a.action}:${a.outcome}`)).toEqual(["restart:succeeded"]);
    expect(await domState("host-2", app.uuid)).toBe("running");
    await invariantsHold();
  }, 180_000);

  it("the monitor's death shows in the host's heartbeats and as one event, and the host's heartbeat goes on", async () => {
    const host = cloud.fleet.hosts.get("host-2")!;
    const stream = () => cloud.logs.events(heartbeatLogGroupName(), hostLogStreamName("host-2", "heartbeat"));
    const monitorIn = (e: { message: string }) =>
      (JSON.parse(e.message) as Record<string, unknown>)[INSTANCE_MONITOR_PROPERTY];
    const monitorEvents = (detailType: string) =>
      cloud.events.events.filter((e) => e.detailType === detailType && e.detail.includes('"host":"host-2"'));
    await until("a heartbeat saying the monitor runs", () =>
      stream().some((e) => monitorIn(e) === "running"),
    );
    await host.stopInstanceMonitor();
    const stoppedAt = Date.now();
    await until("a heartbeat saying the monitor stopped", () =>
      stream().some((e) => e.timestamp > stoppedAt && monitorIn(e) === "stopped"),
    );
    await until(
      "the event that it stopped",
      () => monitorEvents(INSTANCE_MONITOR_EVENT.detailType.stopped).length === 1,
      20_000,
    );
    // The host is alive: its heartbeats go on (this cloud runs no host-failure detection: host-failure.test.ts).
    await until(
      "a heartbeat of the host after the monitor stopped",
      () => (cloud.cloudwatch.lastDatumAt("Lazarus", "Heartbeat", { Host: "host-2" }) ?? 0) > stoppedAt + 500,
      20_000,
    );
    host.startInstanceMonitor();
    await until(
      "the event that it runs again",
      () => monitorEvents(INSTANCE_MONITOR_EVENT.detailType.running).length === 1,
      20_000,
    );
    expect(monitorEvents(INSTANCE_MONITOR_EVENT.detailType.stopped)).toHaveLength(1);
  }, 60_000);
});
