/** The host-failure policy (shared/domain/host-failure.ts): every decision, fed observations and a clock. */
import { describe, expect, it } from "vitest";
import {
  HEARTBEAT_ALARM_PREFIX,
  HEARTBEAT_METRIC,
  heartbeatAlarmName,
} from "#shared/definitions/heartbeat.js";
import {
  AlarmStateChangeEvent as AlarmEventSchema,
  type AlarmStateChangeEvent,
  alarmAction,
  assessHeartbeat,
  claimsToRelease,
  classifyDomains,
  confirmEvacuation,
  hostOfAlarm,
  incidentDecision,
  judgeProbe,
  migrationsToComplete,
  PeerSilentEvent,
  peerSilentAction,
  planEvacuation,
  recoveryAction,
  SILENT_HOST_WATCH_MAX_SECONDS,
  SILENT_HOST_WATCH_SECONDS,
  summarizeEvacuation,
  watchSilentHost,
} from "#shared/domain/host-failure.js";
import type { HostIncident, Instance } from "#shared/domain/schemas.js";
import { makeHost, makeInstance, makeMigration } from "../support/fixtures.js";

const T = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
const CFG = { heartbeatFreshSeconds: 5, graceSeconds: 20 };
const NAMES = { dimension: HEARTBEAT_METRIC.dimension, alarmPrefix: HEARTBEAT_ALARM_PREFIX };

function alarmEvent(from: string, to: string, at: string, host = "host-1"): AlarmStateChangeEvent {
  return AlarmEventSchema.parse({
    id: "e1",
    source: "aws.cloudwatch",
    "detail-type": "CloudWatch Alarm State Change",
    resources: [`arn:aws:cloudwatch:us-east-1:000000000000:alarm:${heartbeatAlarmName(host)}`],
    detail: {
      alarmName: heartbeatAlarmName(host),
      state: { value: to, reason: "Threshold Crossed", timestamp: at },
      previousState: { value: from, timestamp: "2026-01-01T00:00:00.000+0000" },
      configuration: {
        metrics: [
          {
            id: "m1",
            metricStat: { metric: { namespace: "Lazarus", name: "Heartbeat", dimensions: { Host: host } } },
          },
        ],
      },
    },
  });
}

function incident(status: HostIncident["status"], id = "inc-1"): HostIncident {
  return {
    id,
    status,
    source: "alarm",
    reason: null,
    executionName: null,
    openedAt: T(0).toISOString(),
    updatedAt: T(0).toISOString(),
    summary: null,
  };
}

describe("alarm events", () => {
  it("OK -> ALARM evacuates; the same transition delivered again names the same incident and execution", () => {
    const e = alarmEvent("OK", "ALARM", "2026-01-01T00:01:00.000+0000");
    const a = alarmAction(e, hostOfAlarm(e, NAMES));
    const b = alarmAction(structuredClone(e), hostOfAlarm(e, NAMES));
    expect(a.kind).toBe("evacuate");
    expect(b).toEqual(a);
    if (a.kind !== "evacuate") throw new Error("unreachable");
    expect(a.host).toBe("host-1");
    expect(a.executionName.length).toBeLessThanOrEqual(80);
    expect(a.executionName).toMatch(/^evacuate-host-1-/);
  });

  it("a later transition to ALARM is a new incident", () => {
    const a = alarmAction(alarmEvent("OK", "ALARM", "2026-01-01T00:01:00.000+0000"), "host-1");
    const b = alarmAction(alarmEvent("OK", "ALARM", "2026-01-01T00:09:00.000+0000"), "host-1");
    if (a.kind !== "evacuate" || b.kind !== "evacuate") throw new Error("expected evacuations");
    expect(a.incidentId).not.toBe(b.incidentId);
    expect(a.executionName).not.toBe(b.executionName);
  });

  it("ALARM -> OK recovers; INSUFFICIENT_DATA -> OK (a new alarm) does nothing", () => {
    expect(alarmAction(alarmEvent("ALARM", "OK", "2026-01-01T00:05:00.000+0000"), "host-1").kind).toBe(
      "recover",
    );
    expect(
      alarmAction(alarmEvent("INSUFFICIENT_DATA", "OK", "2026-01-01T00:05:00.000+0000"), "host-1").kind,
    ).toBe("ignore");
  });

  it("finds the host in the metric dimension, else in the alarm name, else ignores the alarm", () => {
    const e = alarmEvent("OK", "ALARM", "2026-01-01T00:01:00.000+0000", "host-7");
    expect(hostOfAlarm(e, NAMES)).toBe("host-7");
    const noDims = structuredClone(e);
    noDims.detail.configuration = { metrics: [] };
    expect(hostOfAlarm(noDims, NAMES)).toBe("host-7");
    noDims.detail.alarmName = "cpu-high";
    expect(hostOfAlarm(noDims, NAMES)).toBeNull();
    // A name no host can have (too long for a table key, bad characters) names no host either.
    noDims.detail.alarmName = `${NAMES.alarmPrefix}${"x".repeat(3000)}`;
    expect(hostOfAlarm(noDims, NAMES)).toBeNull();
    noDims.detail.alarmName = `${NAMES.alarmPrefix}host 7; rm -rf /`;
    expect(hostOfAlarm(noDims, NAMES)).toBeNull();
    const badDim = structuredClone(e);
    badDim.detail.configuration!.metrics![0]!.metricStat!.metric.dimensions[NAMES.dimension] = "y".repeat(
      3000,
    );
    expect(hostOfAlarm(badDim, NAMES)).toBeNull();
    expect(alarmAction(noDims, null).kind).toBe("ignore");
  });
});

describe("peers' reports", () => {
  const report = (detail: Record<string, unknown>) =>
    PeerSilentEvent.parse({
      source: "lazarus.host",
      "detail-type": "Lazarus Host Peer Silent",
      detail: {
        host: "host-1",
        observer: "host-2",
        lastHeardAt: T(10).toISOString(),
        silentSeconds: 3,
        hearing: 2,
        ...detail,
      },
    });

  it("evacuates the silent host with the peers' last hearing; one report delivered twice names one execution, two observers two", () => {
    const a = peerSilentAction(report({}));
    expect(a).toMatchObject({ kind: "evacuate", host: "host-1", silentSince: T(10).toISOString() });
    if (a.kind !== "evacuate") throw new Error("not evacuate");
    expect(a.incidentId).toMatch(/^peer-[0-9a-f-]{13}/);
    expect(a.reason).toContain("host-2 has not heard host-1");
    expect(peerSilentAction(report({}))).toEqual(a);
    const other = peerSilentAction(report({ observer: "host-3" }));
    expect(other.kind === "evacuate" && other.executionName).not.toBe(a.executionName);
  });

  it("a host reporting itself is ignored; a report naming a bad host is refused by the schema", () => {
    expect(peerSilentAction(report({ observer: "host-1" })).kind).toBe("ignore");
    expect(() => report({ host: "a;b" })).toThrow();
    expect(() => report({ lastHeardAt: "yesterday" })).toThrow();
  });

  it("a young heartbeat no newer than the peers' last hearing is no sign of life: the grace period is waited", () => {
    // Heard by its peers last at 10 s, its last heartbeat at 10 s, assessed at 13 s (fresh for 5 s).
    const obs = { lastHeartbeatAt: T(10), watchingSince: T(13), now: T(13), silentSince: T(10) };
    expect(assessHeartbeat(obs, CFG)).toMatchObject({ verdict: "wait", waitSeconds: 17 });
    expect(assessHeartbeat({ ...obs, now: T(30) }, CFG).verdict).toBe("probe");
    // Within the clock skew of the hearing: still none.
    expect(assessHeartbeat({ ...obs, lastHeartbeatAt: new Date(T(11).getTime()) }, CFG).verdict).toBe("wait");
    // A heartbeat after it: the host lives (its peers' network failed, not the host).
    expect(assessHeartbeat({ ...obs, lastHeartbeatAt: T(12) }, CFG).verdict).toBe("alive");
    // Without a hearing (an alarm's incident) the same young heartbeat is alive.
    expect(assessHeartbeat({ ...obs, silentSince: null }, CFG).verdict).toBe("alive");
  });
});

describe("deduplication", () => {
  it("opens with no incident or a finished one, resumes its own, and drops others while one is open", () => {
    expect(incidentDecision(null, "a")).toEqual({ kind: "open" });
    expect(incidentDecision(incident("evacuating", "a"), "a")).toEqual({ kind: "resume" });
    for (const s of ["confirming", "evacuating", "evacuated"] as const) {
      expect(incidentDecision(incident(s, "a"), "b")).toEqual({ kind: "duplicate", of: "a", status: s });
    }
    for (const s of ["not-dead", "aborted", "closed"] as const) {
      expect(incidentDecision(incident(s, "a"), "b")).toEqual({ kind: "open" });
    }
  });
});

describe("confirming death", () => {
  it("a fresh heartbeat is alive; a stale one waits out the grace period, then probes", () => {
    const since = T(0);
    expect(assessHeartbeat({ lastHeartbeatAt: T(10), watchingSince: since, now: T(12) }, CFG).verdict).toBe(
      "alive",
    );
    const w = assessHeartbeat({ lastHeartbeatAt: T(10), watchingSince: since, now: T(18) }, CFG);
    expect(w).toMatchObject({ verdict: "wait", waitSeconds: 12 });
    expect(assessHeartbeat({ lastHeartbeatAt: T(10), watchingSince: since, now: T(30) }, CFG).verdict).toBe(
      "probe",
    );
  });

  it("a blip: the heartbeat comes back during the wait, and the next assessment says alive", () => {
    const first = assessHeartbeat({ lastHeartbeatAt: T(0), watchingSince: T(8), now: T(8) }, CFG);
    expect(first.verdict).toBe("wait");
    const after = assessHeartbeat({ lastHeartbeatAt: T(18), watchingSince: T(8), now: T(8 + 12) }, CFG);
    expect(after.verdict).toBe("alive");
  });

  it("no heartbeat at all: waits the grace period from when watching began, then probes", () => {
    expect(assessHeartbeat({ lastHeartbeatAt: null, watchingSince: T(0), now: T(5) }, CFG)).toMatchObject({
      verdict: "wait",
      waitSeconds: 15,
    });
    expect(assessHeartbeat({ lastHeartbeatAt: null, watchingSince: T(0), now: T(21) }, CFG).verdict).toBe(
      "probe",
    );
  });

  it("an alarm's evacuation judges no sooner than its settle (the other hosts of a mass failure alarm by then)", () => {
    // Past the grace period, but 5 s before the settle ends: wait those 5 s (then probe).
    const settleUntil = T(45);
    const early = assessHeartbeat(
      { lastHeartbeatAt: T(0), watchingSince: T(30), now: T(40), settleUntil },
      CFG,
    );
    expect(early).toMatchObject({ verdict: "wait", waitSeconds: 5 });
    expect(early.reason).toContain("hosts that died with it have alarmed");
    expect(
      assessHeartbeat({ lastHeartbeatAt: T(0), watchingSince: T(30), now: T(45), settleUntil }, CFG).verdict,
    ).toBe("probe");
    // Within the grace period the longer of the two waits; a fresh heartbeat is alive at once.
    expect(
      assessHeartbeat({ lastHeartbeatAt: T(25), watchingSince: T(30), now: T(30), settleUntil: T(60) }, CFG),
    ).toMatchObject({ verdict: "wait", waitSeconds: 30 });
    expect(
      assessHeartbeat({ lastHeartbeatAt: T(39), watchingSince: T(30), now: T(40), settleUntil }, CFG).verdict,
    ).toBe("alive");
  });

  it("only a failed or timed-out probe proves death; an answer means alive", () => {
    const hb = assessHeartbeat({ lastHeartbeatAt: T(0), watchingSince: T(0), now: T(40) }, CFG);
    expect(judgeProbe("answered", hb).verdict).toBe("alive");
    expect(judgeProbe("unreachable", hb).verdict).toBe("dead");
    expect(judgeProbe("timed-out", hb).verdict).toBe("dead");
  });

  it("a silent host that answers is watched, a round a minute, until the watch's maximum", () => {
    const first = watchSilentHost(undefined, T(40));
    expect(first).toMatchObject({ since: T(40).toISOString(), rounds: 1, verdict: "wait" });
    expect(first.waitSeconds).toBe(SILENT_HOST_WATCH_SECONDS);
    const at = (s: number) => new Date(T(40).getTime() + s * 1000);
    const later = watchSilentHost(first, at(SILENT_HOST_WATCH_MAX_SECONDS - 1));
    expect(later).toMatchObject({ since: first.since, rounds: 2, verdict: "wait" });
    const last = watchSilentHost(later, at(SILENT_HOST_WATCH_MAX_SECONDS));
    expect(last).toMatchObject({ since: first.since, rounds: 3, verdict: "give-up", waitSeconds: 0 });
    // Inside Step Functions' 25,000 history events, at about 23 a round.
    expect((SILENT_HOST_WATCH_MAX_SECONDS / SILENT_HOST_WATCH_SECONDS) * 23).toBeLessThan(25_000);
  });
});

describe("planning", () => {
  const on = (o: Partial<Instance>) => makeInstance({ host: "host-1", node: "host-1", ...o });

  it("tiers by HA priority, highest first; skips ERROR, busy, moved and (ha-only) non-HA instances", () => {
    const list = [
      on({ name: "a", haPriority: 10 }),
      on({ name: "b", haPriority: 0 }),
      on({ name: "c", haPriority: 10, vmState: "stopped", powerState: "shutdown" }),
      on({ name: "d", vmState: "error" }),
      on({ name: "e", taskState: "rebuilding" }),
      on({ name: "f", host: "host-2" }),
      on({ name: "g", haEnabled: false }),
    ];
    const all = planEvacuation("host-1", "inc", list, "all");
    expect(all.tiers.map((t) => [t.haPriority, t.items.map((i) => i.name)])).toEqual([
      [10, ["a", "c"]],
      [0, ["b", "g"]],
    ]);
    expect(all.skipped.map((s) => [s.name, s.reason])).toEqual([
      ["d", "error"],
      ["e", "busy"],
      ["f", "moved"],
    ]);
    const ha = planEvacuation("host-1", "inc", list, "ha-only");
    expect(ha.tiers.flatMap((t) => t.items.map((i) => i.name))).not.toContain("g");
    expect(ha.skipped.find((s) => s.name === "g")?.reason).toBe("not-ha");
  });

  it("request ids are stable per incident and instance, and differ between incidents", () => {
    const i = on({ name: "a" });
    const p1 = planEvacuation("host-1", "inc-1", [i], "all").tiers[0]!.items[0]!.requestId;
    const p1again = planEvacuation("host-1", "inc-1", [i], "all").tiers[0]!.items[0]!.requestId;
    const p2 = planEvacuation("host-1", "inc-2", [i], "all").tiers[0]!.items[0]!.requestId;
    expect(p1).toBe(p1again);
    expect(p1).not.toBe(p2);
  });
});

describe("confirmation and report", () => {
  const item = (vmState: "active" | "stopped") => ({
    instanceUuid: "u",
    name: "a",
    requestId: "r",
    haPriority: 0,
    vmState,
  });

  it("counts an evacuation only when the record shows it on another host in the same power state", () => {
    const moved = makeInstance({ host: "host-2", vmState: "active" });
    expect(confirmEvacuation("host-1", item("active"), moved, null).outcome).toBe("evacuated");
    expect(confirmEvacuation("host-1", item("stopped"), moved, null)).toMatchObject({
      outcome: "failed",
      error: "EvacuationNotConfirmed",
    });
    const stayed = makeInstance({ host: "host-1", vmState: "error" });
    expect(
      confirmEvacuation("host-1", item("active"), stayed, { error: "NoValidHost", message: "no room" }),
    ).toMatchObject({
      outcome: "failed",
      error: "NoValidHost",
      message: "no room",
    });
  });

  it("a report with any failure is incomplete", () => {
    const ok = {
      instanceUuid: "u1",
      name: "a",
      outcome: "evacuated" as const,
      host: "h2",
      vmState: "active" as const,
      error: null,
      message: null,
    };
    const bad = {
      ...ok,
      instanceUuid: "u2",
      name: "b",
      outcome: "failed" as const,
      error: "NoValidHost",
      message: "x",
    };
    expect(summarizeEvacuation("h1", "i", { skipped: [] }, [ok]).complete).toBe(true);
    const r = summarizeEvacuation("h1", "i", { skipped: [] }, [ok, bad]);
    expect(r.complete).toBe(false);
    expect(r.failed).toEqual([{ instanceUuid: "u2", name: "b", error: "NoValidHost", message: "x" }]);
  });

  it("over proof rounds: the last result per instance counts; lock refusals and instances without proof are 'fencing required', not failed", () => {
    const ok = {
      instanceUuid: "u1",
      name: "a",
      outcome: "evacuated" as const,
      host: "h2",
      vmState: "active" as const,
      error: null,
      message: null,
    };
    const refused = { ...ok, instanceUuid: "u3", name: "c", outcome: "failed" as const, host: "h1" };
    const r1 = { ...refused, error: "FencingRequired", message: "h2 refused the disk" };
    const later = {
      ...refused,
      outcome: "evacuated" as const,
      host: "h3",
      error: null,
      message: null,
      proof: "power" as const,
    };
    const done = summarizeEvacuation("h1", "i", { skipped: [] }, [{ ...ok, proof: "lock" }, r1, later]);
    expect(done).toMatchObject({ complete: true, failed: [], fencingRequired: [] });
    expect(done.evacuated.map((e) => [e.name, e.proof])).toEqual([
      ["a", "lock"],
      ["c", "power"],
    ]);
    const waiting = summarizeEvacuation("h1", "i", { skipped: [] }, [ok, r1], {
      awaitingProof: [{ instanceUuid: "u4", name: "d", reason: "local disk, no proof" }],
      proof: "no watchdog on the host; power fence failed: refused",
    });
    expect(waiting.complete).toBe(false);
    expect(waiting.failed).toEqual([]);
    expect(waiting.fencingRequired.map((f) => f.name)).toEqual(["d", "c"]);
    expect(waiting.hostProof).toMatch(/power fence failed/);
  });
});

describe("nothing stranded: every instance still on the host is in the report", () => {
  it("each left instance gets its reason; only the policy's leave the evacuation complete", () => {
    const on = (name: string, over: Partial<Instance> = {}) =>
      makeInstance({ name, host: "h1", node: "h1", ...over });
    const failedOne = on("f-1");
    const waiting = on("w-1");
    const busy = on("b-1", {
      taskState: "rebuilding",
      taskRequestId: "00000000-0000-4000-8000-000000000001",
    });
    const paused = on("p-1", { vmState: "paused" });
    const notHa = on("n-1", { haEnabled: false });
    const broken = on("e-1", { vmState: "error" });
    const late = on("l-1");
    const gone = on("d-1", { vmState: "deleted" });
    const plan = planEvacuation("h1", "i", [paused, notHa, broken, busy], "ha-only");
    const failure = {
      instanceUuid: failedOne.uuid,
      name: "f-1",
      outcome: "failed" as const,
      host: "h1",
      vmState: "error" as const,
      error: "NoValidHost",
      message: "no room",
    };
    const r = summarizeEvacuation(
      "h1",
      "i",
      plan,
      [failure],
      { awaitingProof: [{ instanceUuid: waiting.uuid, name: "w-1", reason: "local disk" }], proof: null },
      [failedOne, waiting, busy, paused, notHa, broken, late, gone, on("x-1", { host: "h2" })],
    );
    expect(r.notEvacuated.map((n) => [n.name, n.reason])).toEqual([
      ["b-1", "busy"],
      ["e-1", "policy"],
      ["f-1", "failed"],
      ["l-1", "not-planned"],
      ["n-1", "policy"],
      ["p-1", "state"],
      ["w-1", "fencing-required"],
    ]);
    expect(r.complete).toBe(false);
    const onlyPolicy = summarizeEvacuation("h1", "i", plan, [], { awaitingProof: [], proof: null }, [
      notHa,
      broken,
    ]);
    expect(onlyPolicy).toMatchObject({
      complete: true,
      skipped: [expect.objectContaining({ name: "e-1" }), expect.objectContaining({ name: "n-1" })],
    });
  });
});

describe("the returning host", () => {
  it("a domain whose record names another host is stale (whatever its migration); local disks removed", () => {
    const shared = makeHost({ name: "host-1" });
    const local = makeHost({ name: "host-1", storage: { ...shared.storage, sharedPoolId: null } });
    const moved = makeInstance({ host: "host-2" });
    const stayed = makeInstance({ host: "host-1" });
    const busy = makeInstance({ host: "host-2", taskState: "rebuilding" });
    const records = new Map<string, Instance | null>([
      [moved.uuid, moved],
      [stayed.uuid, stayed],
      [busy.uuid, busy],
    ]);
    const uuids = [moved.uuid, stayed.uuid, busy.uuid, "00000000-0000-4000-8000-000000000000"];
    const v = classifyDomains(shared, uuids, records);
    expect(v.stale).toEqual([{ instanceUuid: moved.uuid, liveOn: "host-2", removeLocalDisk: false }]);
    expect(v.kept.map((k) => k.instanceUuid)).toEqual([stayed.uuid]);
    expect(v.busy.map((b) => b.instanceUuid)).toEqual([busy.uuid]);
    expect(v.unknown).toEqual(["00000000-0000-4000-8000-000000000000"]);
    expect(classifyDomains(local, [moved.uuid], records).stale[0]!.removeLocalDisk).toBe(true);
  });

  it("releases claims of instances gone elsewhere, never one a running flow owns; completes ended migrations", () => {
    const moved = makeInstance({ host: "host-2" });
    const stayed = makeInstance({ host: "host-1" });
    const inFlight = makeInstance({
      host: "host-3",
      taskState: "rebuild_spawning",
      taskRequestId: "11111111-1111-4111-8111-111111111111",
    });
    const claim = (uuid: string, owner: string) => ({
      instanceUuid: uuid,
      resources: { vcpus: 1, memoryMiB: 64, diskGiB: 1 },
      owner,
      serverGroup: null,
      claimedAt: T(0).toISOString(),
    });
    const host = makeHost({
      name: "host-1",
      claims: {
        [moved.uuid]: claim(moved.uuid, `boot:${moved.uuid}`),
        [stayed.uuid]: claim(stayed.uuid, `boot:${stayed.uuid}`),
        [inFlight.uuid]: claim(inFlight.uuid, inFlight.taskRequestId!),
      },
    });
    const records = new Map<string, Instance | null>([
      [moved.uuid, moved],
      [stayed.uuid, stayed],
      [inFlight.uuid, inFlight],
    ]);
    expect(claimsToRelease(host, records).map((c) => c.instanceUuid)).toEqual([moved.uuid]);

    const failedThenMoved = makeMigration({
      instanceUuid: moved.uuid,
      sourceHost: "host-1",
      status: "failed",
    });
    const done = makeMigration({ instanceUuid: moved.uuid, sourceHost: "host-1", status: "done" });
    const stillHere = makeMigration({ instanceUuid: stayed.uuid, sourceHost: "host-1", status: "failed" });
    const running = makeMigration({
      instanceUuid: moved.uuid,
      sourceHost: "host-1",
      status: "pre-migrating",
    });
    expect(
      migrationsToComplete("host-1", [failedThenMoved, done, stillHere, running], records).map((m) => m.id),
    ).toEqual([failedThenMoved.id, done.id]);
  });

  it("recovery waits for a running evacuation, cleans an evacuated or aborted host, and leaves others alone", () => {
    expect(recoveryAction(null)).toBe("nothing");
    expect(recoveryAction(incident("confirming"))).toBe("wait");
    expect(recoveryAction(incident("evacuating"))).toBe("wait");
    expect(recoveryAction(incident("evacuated"))).toBe("clean");
    expect(recoveryAction(incident("aborted"))).toBe("clean");
    expect(recoveryAction(incident("not-dead"))).toBe("nothing");
    expect(recoveryAction(incident("held"))).toBe("nothing");
    expect(recoveryAction(incident("closed"))).toBe("nothing");
  });
});
