/**
 * Peers that notice first, end to end on real libvirt hosts: every host's packaged agent beats to the
 * others over UDP (each on its own loopback address) and reports a peer it stops hearing through the local
 * EventBridge, signed with its own host key and held to the host role; the rule of
 * shared/definitions/functions.ts starts the host-evacuation flow.
 *  - a power loss: the incident is the peers' (source "peer"), opened before the heartbeat's alarm fired (the
 *    alarm's own execution is a duplicate), and the death is still proven as for an alarm (the heartbeat
 *    aged past the grace period, the probe unanswered, a proof of death recorded) before the instances start
 *    elsewhere, one copy each;
 *  - host-1 powered on again: the alarm the flow set to ALARM (DisableHost: the peers' incident came before the
 *    alarm could fire, and a host back before it would otherwise never see ALARM -> OK) turns OK by
 *    CloudWatch's own evaluation, and host-recovery removes the stale copies;
 *  - a lying peer (host-2's key reporting live host-3 silent): host-3's heartbeat, newer than the lie's
 *    "last heard", finds it alive; nothing is fenced or moved, and host-3 is up again.
 */
import { EventBridgeClient, PutEventsCommand } from "@aws-sdk/client-eventbridge";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalCloud, startLocalCloud } from "#local/cloud.js";
import { hostPrincipal } from "#local/iam/host-policy.js";
import { PEER_SILENT_EVENT } from "#shared/domain/host-failure.js";
import type { Instance } from "#shared/domain/schemas.js";
import {
  bmcPowerOffs,
  bootAdopted,
  definedOn,
  executions as executionsIn,
  expectInvariants,
  FAST_DETECTION,
  HOST_FAILURE_WAIT_MS,
  poolHosts,
  runningOn,
  statesEntered as statesEnteredIn,
  until,
} from "../support/hosts.js";

let cloud: LocalCloud;
let booted: Record<"web1" | "web2" | "db" | "app3", Instance>;
const executions = (machine: string) => executionsIn(cloud, machine);
const statesEntered = (arn: string) => statesEnteredIn(cloud, arn);
type Execution = ReturnType<typeof executions>[number];
/** The first ended execution of `machine` for `host` that `also` accepts, once there is one. */
const endedFor = (machine: string, host: string, also: (e: Execution) => boolean = () => true) =>
  until(
    `the ${machine} of ${host} to end`,
    () => executions(machine).find((e) => e.inputObject.host === host && e.status !== "RUNNING" && also(e)),
    HOST_FAILURE_WAIT_MS,
  );

beforeAll(async () => {
  cloud = await startLocalCloud({
    hosts: poolHosts("p1", "host-1", "host-2", "host-3", "host-4"),
    retryIntervalScale: 0.05,
    hostCommandDeadlineMs: 30_000,
    peers: true,
    hostFailure: FAST_DETECTION,
  });
  booted = await bootAdopted(cloud, {
    web1: { name: "web-1", host: "host-1" },
    web2: { name: "web-2", host: "host-1" },
    db: { name: "db-1", host: "host-1" },
    app3: { name: "app-3", host: "host-3" },
  });
}, 300_000);

afterAll(async () => {
  await cloud?.stop();
});

const peerReports = (host: string) =>
  cloud.events.events.filter(
    (e) =>
      e.detailType === PEER_SILENT_EVENT.detailType && (e.detailObject as { host?: string }).host === host,
  );

describe("peers that notice first", () => {
  it("a power loss: the peers' report opens the incident before the alarm, death is proven, the guests start elsewhere once", async () => {
    await cloud.killHost("host-1");
    const ended = await endedFor("host-evacuation", "host-1", (e) =>
      statesEntered(e.executionArn!).includes("DisableHost"),
    );
    expect(ended.status).toBe("SUCCEEDED");
    // Opened by a peer's report: the incident's source and id, its input carrying the peers' last hearing.
    expect(ended.inputObject.incidentId).toMatch(/^peer-/);
    expect(ended.inputObject.silentSince).toEqual(expect.any(String));
    const incident = (await cloud.stores.hosts.require("host-1")).incident;
    expect(incident).toMatchObject({ source: "peer", status: "evacuated", id: ended.inputObject.incidentId });
    const reports = peerReports("host-1");
    expect(reports.length).toBeGreaterThanOrEqual(1);
    const observers = reports.map((r) => (r.detailObject as { observer: string }).observer);
    expect(observers.every((o) => ["host-2", "host-3", "host-4"].includes(o))).toBe(true);

    // Before the alarm: the alarm's ALARM (which came later, the host staying dead) started a duplicate.
    const alarm = await until("host-1's ALARM", () =>
      cloud.events.events.find(
        (e) =>
          e.source === "aws.cloudwatch" &&
          (e.detailObject as { alarmName?: string }).alarmName === "lazarus-heartbeat-host-1" &&
          (e.detailObject as { state?: { value?: string } }).state?.value === "ALARM",
      ),
    );
    expect(reports[0]!.receivedAt.getTime()).toBeLessThan(alarm.receivedAt.getTime());
    const fromAlarm = await endedFor("host-evacuation", "host-1", (e) =>
      String(e.inputObject.incidentId).startsWith("alarm-"),
    );
    expect(JSON.parse(fromAlarm.output ?? "{}")).toMatchObject({
      outcome: "duplicate",
      duplicateOf: ended.inputObject.incidentId,
    });

    // Proven as for an alarm: the heartbeat past the grace period, the probe unanswered, the proof recorded.
    const out = JSON.parse(ended.output ?? "{}") as {
      heartbeat: { verdict: string; ageSeconds: number };
      death: { verdict: string };
    };
    expect(out.heartbeat.verdict).toBe("probe");
    // The host's alarm set to ALARM by the flow (its return then starts host-recovery: the next test).
    expect((out as { alarmMarked?: unknown }).alarmMarked).toEqual({ ok: true, detail: expect.any(String) });
    expect(out.heartbeat.ageSeconds).toBeGreaterThanOrEqual(FAST_DETECTION.graceSeconds);
    expect(out.death.verdict).toBe("dead");
    expect(statesEntered(ended.executionArn!)).toEqual(
      expect.arrayContaining(["AssessHeartbeat", "ProbeHost", "CheckMassFailure", "Fence"]),
    );
    // The proof the evacuation relied on, recorded on the host for this incident.
    const proof = (await cloud.stores.hosts.require("host-1")).deathProof;
    expect(proof).toMatchObject({ incidentId: ended.inputObject.incidentId });
    expect(proof?.kind).not.toBe("operator");
    for (const i of [booted.web1, booted.web2, booted.db]) {
      const where = await runningOn(cloud, i.uuid);
      expect(where, i.name).toHaveLength(1);
      expect(where[0]).not.toBe("host-1");
    }
    await expectInvariants(cloud);
  }, 300_000);

  it("host-1 back: CloudWatch turns the alarm the flow set OK, host-recovery removes the stale copies", async () => {
    await cloud.restartHost("host-1");
    const recovery = await endedFor("host-recovery", "host-1");
    expect(recovery.status).toBe("SUCCEEDED");
    expect(statesEntered(recovery.executionArn!)).toContain("CleanStaleDomains");
    for (const i of [booted.web1, booted.web2, booted.db])
      expect(await definedOn(cloud, i.uuid, ["host-1"]), i.name).toEqual([]);
    const h1 = await cloud.stores.hosts.require("host-1");
    expect(h1).toMatchObject({ forcedDown: false, deathProof: null, status: "up" });
    expect(h1.incident).toMatchObject({ source: "peer", status: "closed" });
    await expectInvariants(cloud);
  }, 300_000);

  it("a lying peer: a live host reported silent is found alive by its heartbeat, and nothing is fenced or moved", async () => {
    const key = cloud.credentials.issue(hostPrincipal("host-2"));
    const eb = new EventBridgeClient({
      endpoint: cloud.events.url,
      region: "us-east-1",
      credentials: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey },
      maxAttempts: 1,
    });
    const offsBefore = bmcPowerOffs(cloud, "host-3").length;
    const out = await eb.send(
      new PutEventsCommand({
        Entries: [
          {
            Source: PEER_SILENT_EVENT.source,
            DetailType: PEER_SILENT_EVENT.detailType,
            Detail: JSON.stringify({
              host: "host-3",
              observer: "host-2",
              lastHeardAt: new Date(Date.now() - 5000).toISOString(),
              silentSeconds: 5,
              hearing: 1,
            }),
          },
        ],
      }),
    );
    eb.destroy();
    expect(out.FailedEntryCount).toBe(0);
    const run = await endedFor("host-evacuation", "host-3");
    expect(run.status).toBe("SUCCEEDED");
    expect(JSON.parse(run.output ?? "{}")).toMatchObject({ outcome: "not-dead", source: "peer" });
    const entered = statesEntered(run.executionArn!);
    expect(entered).toContain("CloseNotDead");
    expect(entered).not.toContain("DisableHost");
    expect(entered).not.toContain("Fence");
    expect(bmcPowerOffs(cloud, "host-3").length).toBe(offsBefore);
    const h3 = await cloud.stores.hosts.require("host-3");
    expect(h3).toMatchObject({ status: "up", enabled: true });
    expect(h3.incident).toMatchObject({ source: "peer", status: "not-dead" });
    expect(await runningOn(cloud, booted.app3.uuid)).toEqual(["host-3"]);
    await expectInvariants(cloud);
  }, 300_000);
});
