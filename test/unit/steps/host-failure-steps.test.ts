/**
 * The host-failure steps against dynalite, with the outside world at its interfaces (heartbeat samples, a
 * recording power fence, a scripted host): DisableHost does not force the host down; Fence records the
 * proof it finds on the host (and uses a recorded one without fencing); PlanEvacuation looks at every
 * instance still on the host each round (busy ones again); ReportEvacuation names every instance left;
 * ReleaseHostRecords releases only the claims of flows that ended; FinishRecovery clears the proof.
 */
import { randomUUID } from "node:crypto";
import { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import { describe, expect, it } from "vitest";
import type { HostEvacuationState } from "#functions/host-failure/contract.js";
import { assessHeartbeat } from "#functions/host-failure/steps/detect.js";
import { disableHost, planEvacuation, reportEvacuation } from "#functions/host-failure/steps/evacuate.js";
import { fenceHost } from "#functions/host-failure/steps/fence.js";
import { finishRecovery, releaseHostRecords } from "#functions/host-failure/steps/recover.js";
import { startCloudWatchEndpoint } from "#local/cloudwatch/cloudwatch-endpoint.js";
import { type HostIncident, NO_FENCING } from "#shared/domain/schemas.js";
import { CloudWatchHostAlarms } from "#shared/metrics/host-alarms.js";
import { makeInstance, makeMigration } from "../../support/fixtures.js";
import { hostFailureDeps } from "../../support/host-failure-deps.js";
import {
  claimFor,
  type StepWorld,
  seedHosts,
  seedInstance,
  useStepHarness,
} from "../../support/step-harness.js";

const newWorld = useStepHarness();

/** A dead host with an open incident (evacuating), as DisableHost leaves it, and its state. */
async function deadHost(w: StepWorld, name: string, over: { power?: "none" | "ec2" } = {}) {
  const openedAt = new Date(Date.now() - 60_000).toISOString();
  const incident: HostIncident = {
    id: `inc-${name}`,
    status: "evacuating",
    source: "alarm",
    reason: null,
    executionName: null,
    openedAt,
    updatedAt: openedAt,
    summary: null,
  };
  await seedHosts(w, [
    {
      name,
      pool: null,
      overrides: {
        status: "down",
        incident,
        fencing: { ...NO_FENCING, power: over.power ?? "none" },
      },
    },
    { name: `${name}-b`, pool: null },
  ]);
  const state: HostEvacuationState = {
    host: name,
    incidentId: incident.id,
    source: "alarm",
    reason: null,
    openedAt,
    outcome: "opened",
  };
  return state;
}

describe("DisableHost and Fence: forced down only with proof", () => {
  it("DisableHost disables and marks the host down, not forced down", async () => {
    const w = await newWorld();
    const state = await deadHost(w, "dh-1");
    await w.db.stores.hosts.setService("dh-1", { status: "up" });
    await disableHost(hostFailureDeps(w).deps, state);
    expect(await w.db.stores.hosts.require("dh-1")).toMatchObject({
      enabled: false,
      status: "down",
      forcedDown: false,
      deathProof: null,
    });
  });

  it("DisableHost, for a peer's incident, sets the host's alarm to ALARM through CloudWatch; a refused call is recorded, never fatal", async () => {
    const cw = await startCloudWatchEndpoint();
    const client = new CloudWatchClient({
      endpoint: cw.url,
      region: "us-east-1",
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
    });
    try {
      const w = await newWorld();
      const alarms = new CloudWatchHostAlarms(client, { prefix: "lazarus" });
      const { deps } = hostFailureDeps(w);
      deps.hostAlarms = alarms;
      // The alarm exists (registration made it) and reads OK: the flow turns it ALARM.
      const state = await deadHost(w, "dh-2");
      const [name] = await alarms.put("dh-2");
      const peer = { ...state, source: "peer" as const };
      expect((await disableHost(deps, peer)).alarmMarked).toEqual({ ok: true, detail: expect.any(String) });
      expect(cw.evaluator.get(name!)?.state).toBe("ALARM");
      // No alarm for the host (CloudWatch answers ResourceNotFound): the host is disabled all the same.
      const other = await deadHost(w, "dh-3");
      const out = await disableHost(deps, { ...other, source: "peer" });
      expect(out.alarmMarked).toEqual({ ok: false, detail: expect.stringContaining("ResourceNotFound") });
      expect(await w.db.stores.hosts.require("dh-3")).toMatchObject({ enabled: false, status: "down" });
      // An alarm's incident leaves the alarm as it is (it is ALARM already): no call.
      expect((await disableHost(deps, other)).alarmMarked).toBeUndefined();
    } finally {
      client.destroy();
      await cw.close();
    }
  });

  it("Fence records the proof it finds (power) on the host, with forced_down, in the incident's name", async () => {
    const w = await newWorld();
    const state = await deadHost(w, "fh-1", { power: "ec2" });
    const { deps, fenced } = hostFailureDeps(w, { fence: "off" });
    const out = await fenceHost(deps, state);
    expect(out.proof).toMatchObject({ proof: "power" });
    expect(fenced).toHaveLength(1);
    expect(await w.db.stores.hosts.require("fh-1")).toMatchObject({
      forcedDown: true,
      deathProof: { kind: "power", incidentId: "inc-fh-1" },
    });
  });

  it("no proof: nothing recorded, not forced down; heartbeats that said 0 are no lease", async () => {
    const w = await newWorld();
    const state = await deadHost(w, "fh-2", { power: "ec2" });
    const silentSince = new Date(Date.parse(state.openedAt) - 40_000);
    const zeros = [0, 1, 2].map((i) => ({
      at: new Date(silentSince.getTime() - i * 1000),
      count: 1,
      min: 0,
      max: 0,
    }));
    const out = await fenceHost(hostFailureDeps(w, { fence: "refuse", heartbeats: zeros }).deps, state);
    expect(out.proof).toMatchObject({ proof: null });
    expect(await w.db.stores.hosts.require("fh-2")).toMatchObject({ forcedDown: false, deathProof: null });
  });

  it("armed heartbeats and an expired lease: proof `lease`, recorded", async () => {
    const w = await newWorld();
    const state = await deadHost(w, "fh-3");
    const last = new Date(Date.parse(state.openedAt) - 30_000);
    const armed = [0, 1, 2].map((i) => ({
      at: new Date(last.getTime() - i * 1000),
      count: 1,
      min: 10,
      max: 10,
    }));
    const out = await fenceHost(hostFailureDeps(w, { heartbeats: armed }).deps, state);
    expect(out.proof).toMatchObject({ proof: "lease" });
    expect((await w.db.stores.hosts.require("fh-3")).deathProof).toMatchObject({ kind: "lease" });
  });

  it("an operator's recorded proof is used as it is: no fence, proof `operator`", async () => {
    const w = await newWorld();
    const state = await deadHost(w, "fh-4", { power: "ec2" });
    await w.db.stores.hosts.forceDown("fh-4", {
      kind: "operator",
      at: new Date().toISOString(),
      incidentId: state.incidentId,
      detail: "forced down by ops (test)",
    });
    const { deps, fenced } = hostFailureDeps(w, { fence: "refuse" });
    const out = await fenceHost(deps, state);
    expect(out.proof).toMatchObject({ proof: "operator" });
    expect(fenced).toEqual([]);
  });

  it("FinishRecovery clears the proof with forced_down: the host is back", async () => {
    const w = await newWorld();
    const state = await deadHost(w, "fr-1");
    await w.db.stores.hostIncidents.update("fr-1", state.incidentId, "evacuated", {
      service: {
        deathProof: { kind: "lease", at: state.openedAt, incidentId: state.incidentId, detail: "x" },
      },
    });
    await finishRecovery(hostFailureDeps(w).deps, { host: "fr-1", incidentId: state.incidentId });
    expect(await w.db.stores.hosts.require("fr-1")).toMatchObject({
      forcedDown: false,
      deathProof: null,
      enabled: false,
      incident: { status: "closed" },
    });
  });
});

describe("FinishRecovery after an aborted evacuation", () => {
  it("a host the aborted flow had disabled stays disabled; one it never disabled stays in service", async () => {
    const w = await newWorld();
    const disabled = await deadHost(w, "ab-1");
    await w.db.stores.hosts.setService("ab-1", { enabled: false, disabledReason: "evacuating" });
    await w.db.stores.hostIncidents.update("ab-1", disabled.incidentId, "aborted");
    const enabled = await deadHost(w, "ab-2");
    await w.db.stores.hostIncidents.update("ab-2", enabled.incidentId, "aborted");
    const { deps } = hostFailureDeps(w);
    await finishRecovery(deps, { host: "ab-1", incidentId: disabled.incidentId });
    await finishRecovery(deps, { host: "ab-2", incidentId: enabled.incidentId });
    expect(await w.db.stores.hosts.require("ab-1")).toMatchObject({
      enabled: false,
      disabledReason: expect.stringContaining("an operator enables it"),
      incident: { status: "closed" },
    });
    expect(await w.db.stores.hosts.require("ab-2")).toMatchObject({
      enabled: true,
      status: "up",
      incident: { status: "closed" },
    });
  });
});

describe("PlanEvacuation and ReportEvacuation: nothing stranded", () => {
  it("an instance another flow holds is `busy` this round and planned the next once free; one that failed is not retried", async () => {
    const w = await newWorld();
    const state = await deadHost(w, "ph-1");
    const { deps } = hostFailureDeps(w);
    await w.db.stores.hosts.forceDown("ph-1", {
      kind: "operator",
      at: new Date().toISOString(),
      incidentId: null,
      detail: "ops",
    });
    const busy = await seedInstance(w, "ph-1", {
      name: "busy-1",
      taskState: "rebuilding",
      taskRequestId: randomUUID(),
    });
    const free = await seedInstance(w, "ph-1", { name: "free-1" });
    const proof = { proof: "operator" as const, reason: "ops", at: new Date().toISOString() };
    const round1 = await planEvacuation(deps, { ...state, fence: { round: 1, attempt: null }, proof });
    expect(round1.plan!.tiers.flatMap((t) => t.items.map((i) => i.name))).toEqual(["free-1"]);
    expect(round1.busy).toEqual([expect.objectContaining({ name: "busy-1" })]);
    // The other flow ends and leaves busy-1 on the host; free-1's evacuation failed (not for want of proof).
    await w.db.stores.instances.update(busy.uuid, {
      expectTaskState: ["rebuilding"],
      set: { taskState: null, taskRequestId: null },
    });
    const failedFree = {
      instanceUuid: free.uuid,
      name: "free-1",
      outcome: "failed" as const,
      host: "ph-1",
      vmState: "error" as const,
      error: "NoValidHost",
      message: "no room",
    };
    const round2 = await planEvacuation(deps, {
      ...round1,
      fence: { round: 2, attempt: null },
      results: [[failedFree]],
    });
    expect(round2.plan!.tiers.flatMap((t) => t.items.map((i) => i.name))).toEqual(["busy-1"]);
    expect(round2.busy).toEqual([]);
    expect(round2.plan!.tiers[0]!.items[0]!.requestId).not.toBe(round1.plan!.tiers[0]!.items[0]!.requestId);
  });

  it("the report names every instance still on the host; only the policy's may stay in a complete one", async () => {
    const w = await newWorld();
    const state = await deadHost(w, "rh-1");
    const { deps } = hostFailureDeps(w);
    await seedInstance(w, "rh-1", { name: "left-1" });
    await seedInstance(w, "rh-1", { name: "broken-1", vmState: "error", powerState: "shutdown" });
    const planned = await planEvacuation(deps, {
      ...state,
      fence: { round: 1, attempt: null },
      proof: { proof: null, reason: "no proof", leaseExpiresAt: null },
    });
    const out = await reportEvacuation(deps, planned);
    expect(out.report.complete).toBe(false);
    expect(out.report.notEvacuated).toEqual([
      expect.objectContaining({ name: "broken-1", reason: "policy" }),
      expect.objectContaining({ name: "left-1", reason: "fencing-required" }),
    ]);
    // With the instance left only by the policy, the evacuation is complete.
    const w2 = await newWorld();
    const state2 = await deadHost(w2, "rh-2");
    const deps2 = hostFailureDeps(w2).deps;
    await seedInstance(w2, "rh-2", { name: "broken-2", vmState: "error", powerState: "shutdown" });
    const planned2 = await planEvacuation(deps2, { ...state2, fence: { round: 1, attempt: null } });
    expect((await reportEvacuation(deps2, planned2)).report).toMatchObject({
      complete: true,
      notEvacuated: [expect.objectContaining({ name: "broken-2", reason: "policy" })],
    });
  });

  it("an instance that appeared on the host after the last plan is not lost: not-planned, incomplete", async () => {
    const w = await newWorld();
    const state = await deadHost(w, "rh-3");
    const { deps } = hostFailureDeps(w);
    const planned = await planEvacuation(deps, { ...state, fence: { round: 1, attempt: null } });
    await seedInstance(w, "rh-3", { name: "late-1" });
    const out = await reportEvacuation(deps, planned);
    expect(out.report).toMatchObject({
      complete: false,
      notEvacuated: [expect.objectContaining({ name: "late-1", reason: "not-planned" })],
    });
  });
});

describe("ReleaseHostRecords on a returning host", () => {
  it("releases the claims of flows that ended, never a running flow's nor the host's own instances'", async () => {
    const w = await newWorld();
    await seedHosts(w, [{ name: "rr-1" }, { name: "rr-2" }]);
    const { deps } = hostFailureDeps(w);
    // moved: evacuated to rr-2 by a flow that ended; its stale claim on rr-1 is released.
    const moved = await seedInstance(w, "rr-2", { name: "moved-1" });
    await claimFor(w, "rr-1", moved, "old-evacuation");
    // running: a flow that is moving it right now owns a claim on rr-1: kept.
    const runningId = randomUUID();
    const running = await seedInstance(w, "rr-2", {
      name: "running-1",
      taskState: "rebuilding",
      taskRequestId: runningId,
    });
    await claimFor(w, "rr-1", running, runningId);
    // home: its record names rr-1: kept.
    const home = await seedInstance(w, "rr-1", { name: "home-1" });
    // gone: no record at all: released.
    const gone = makeInstance({ host: "rr-2", node: "rr-2", name: "gone-1" });
    await claimFor(w, "rr-1", gone, "older-flow");
    const migration = makeMigration({
      instanceUuid: moved.uuid,
      sourceHost: "rr-1",
      sourceNode: "rr-1",
      destHost: "rr-2",
      status: "failed",
    });
    await w.db.stores.migrations.create(migration);

    const out = await releaseHostRecords(deps, { host: "rr-1" });
    const claims = (await w.db.stores.hosts.require("rr-1")).claims;
    expect(Object.keys(claims).sort()).toEqual([home.uuid, running.uuid].sort());
    expect((out.released as { claims: string[] }).claims.sort()).toEqual([moved.uuid, gone.uuid].sort());
    expect((out.released as { claims: string[] }).claims).not.toContain(running.uuid);
    expect((await w.db.stores.migrations.require(migration.id)).status).toBe("completed");
    const host = await w.db.stores.hosts.require("rr-1");
    const sum = Object.values(host.claims).reduce((n, c) => n + c.resources.vcpus, 0);
    expect(host.usage.vcpus).toBe(sum);
  });
});

describe("AssessHeartbeat: the mass-failure settle from the fleet's heartbeats", () => {
  /** Host `name` silent for 12 s (its alarm just fired) in a fleet of four; `fleet` answers the series. */
  async function alarmed(w: StepWorld, name: string, fleet: () => Promise<number>) {
    const now = w.deps.now();
    const lastBeat = new Date(now.getTime() - 12_000);
    await seedHosts(w, [
      { name, pool: null, overrides: { status: "down" } },
      { name: `${name}-b`, pool: null },
      { name: `${name}-c`, pool: null },
      { name: `${name}-d`, pool: null },
    ]);
    const { deps } = hostFailureDeps(w, { heartbeats: [{ at: lastBeat, count: 1, min: 0, max: 0 }] });
    deps.config = { ...deps.config, heartbeatFreshSeconds: 3, graceSeconds: 8 };
    deps.fencing = { ...deps.fencing, heartbeatIntervalSeconds: 1 };
    deps.heartbeats = { ...deps.heartbeats, fleetBeatSeconds: fleet };
    const state: HostEvacuationState = {
      host: name,
      incidentId: `inc-${name}`,
      source: "alarm",
      reason: null,
      openedAt: now.toISOString(),
      outcome: "opened",
    };
    return { deps, state };
  }

  it("three hosts of four beating through the window: no wait, straight to the probe", async () => {
    const w = await newWorld();
    // A 6 s window: three live hosts add about 18 s of intervals.
    const { deps, state } = await alarmed(w, "st-1", async () => 18);
    const out = await assessHeartbeat(deps, state);
    expect(out.settle).toMatchObject({ verdict: "skip" });
    expect(out.heartbeat).toMatchObject({ verdict: "probe" });
  });

  it("one more host silent: the settle is waited (15 s after the alarm)", async () => {
    const w = await newWorld();
    const { deps, state } = await alarmed(w, "st-2", async () => 12);
    const out = await assessHeartbeat(deps, state);
    expect(out.settle).toMatchObject({ verdict: "wait" });
    expect(out.heartbeat).toMatchObject({
      verdict: "wait",
      waitSeconds: deps.config.massFailureSettleSeconds,
    });
  });

  it("the series cannot be read (CloudWatch throttles): the settle is waited, the step does not fail", async () => {
    const w = await newWorld();
    const { deps, state } = await alarmed(w, "st-3", async () => {
      throw Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException" });
    });
    const out = await assessHeartbeat(deps, state);
    expect(out.settle).toMatchObject({
      verdict: "wait",
      reason: expect.stringContaining("ThrottlingException"),
    });
    expect(out.heartbeat).toMatchObject({ verdict: "wait" });
  });

  it("a peer's report, seconds after the death: assessed again as soon as the series can tell, then straight to the probe", async () => {
    const w = await newWorld();
    let fleetSeconds = 0;
    const { deps, state } = await alarmed(w, "st-5", async () => fleetSeconds);
    // Last heard 3 s ago (the report's silence), the heartbeat as old.
    const lastBeat = new Date(deps.now().getTime() - 3000);
    deps.heartbeats = { ...deps.heartbeats, lastHeartbeat: async () => lastBeat };
    const peer: HostEvacuationState = { ...state, source: "peer", silentSince: lastBeat.toISOString() };
    const early = await assessHeartbeat(deps, peer);
    // Too soon to read the series: not the settle's 25 s (to the latest alarm), but until it can be read.
    expect(early.settle).toMatchObject({ verdict: "wait", againAt: expect.any(String) });
    expect(early.heartbeat).toMatchObject({ verdict: "wait" });
    expect(early.heartbeat?.waitSeconds).toBeLessThanOrEqual(5);
    // Later: past the grace period, the series shows the three others beating through its window.
    const later = new Date(deps.now().getTime() + 7000);
    deps.now = () => later;
    fleetSeconds = 3 * 8;
    const out = await assessHeartbeat(deps, peer);
    expect(out.settle).toMatchObject({ verdict: "skip" });
    expect(out.heartbeat).toMatchObject({ verdict: "probe" });
  });

  it("a peer's report whose series says wait: the settle runs to the latest alarm after the last heartbeat", async () => {
    const w = await newWorld();
    const { deps, state } = await alarmed(w, "st-6", async () => 0);
    deps.config = { ...deps.config, latestAlarmSeconds: 25 };
    const lastBeat = new Date(deps.now().getTime() - 12_000);
    const out = await assessHeartbeat(deps, {
      ...state,
      source: "peer",
      silentSince: lastBeat.toISOString(),
    });
    expect(out.settle).toMatchObject({ verdict: "wait" });
    // 25 s after the last beat, 12 s ago (the series' window is full: nothing to ask again sooner).
    expect(out.heartbeat).toMatchObject({ verdict: "wait", waitSeconds: 13 });
  });

  it("an operator's request never waits for the settle and reads no series", async () => {
    const w = await newWorld();
    let read = 0;
    const { deps, state } = await alarmed(w, "st-4", async () => {
      read++;
      return 0;
    });
    const out = await assessHeartbeat(deps, { ...state, source: "operator" });
    expect(out.heartbeat).toMatchObject({ verdict: "probe" });
    expect(out.settle).toBeUndefined();
    expect(read).toBe(0);
  });
});
