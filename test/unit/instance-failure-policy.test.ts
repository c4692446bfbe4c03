/**
 * The instance-failure policy (shared/domain/instance-failure.ts) and the rebuild admission of a relocation
 * from a live host (shared/flow/admission.ts): every decision, fed events, records and a clock.
 */
import { describe, expect, it } from "vitest";
import {
  classifyStop,
  DomainStoppedDetail,
  decideRecovery,
  givenUpMessage,
  HOST_RESET,
  hostWaitOver,
  type InstanceHaPolicy,
  instanceHaPolicy,
  isFailureStop,
  parseLifecycleLine,
  recoveryId,
  relocationRequestId,
  reportableStop,
  stormIncidentId,
  stormVerdict,
} from "#shared/domain/instance-failure.js";
import type { DeathProof, HostIncident, Recovery, RecoveryAttempt } from "#shared/domain/schemas.js";
import { type AdmissionFacts, assertAdmissible } from "#shared/flow/admission.js";
import { makeHost, makeInstance } from "../support/fixtures.js";

const T = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
const UUID = "6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b";
const PROOF: DeathProof = {
  kind: "lease",
  at: T(0).toISOString(),
  incidentId: "alarm-1",
  detail: "lease expired",
};
const incident = (status: HostIncident["status"]): HostIncident => ({
  id: "alarm-1",
  status,
  source: "alarm",
  reason: null,
  executionName: "evacuate-host-1-x",
  openedAt: T(0).toISOString(),
  updatedAt: T(0).toISOString(),
  summary: null,
});

describe("libvirt lifecycle events", () => {
  it("parses virsh event lines with and without --timestamp", () => {
    expect(
      parseLifecycleLine(
        `2026-01-01 10:11:12.345+0000: event 'lifecycle' for domain 'instance-${UUID}': Stopped Failed`,
      ),
    ).toEqual({
      domain: `instance-${UUID}`,
      instanceUuid: UUID,
      event: "Stopped",
      detail: "Failed",
      at: "2026-01-01T10:11:12.345Z",
    });
    expect(parseLifecycleLine("event 'lifecycle' for domain 'other-vm': Shutdown On guest request")).toEqual({
      domain: "other-vm",
      instanceUuid: null,
      event: "Shutdown",
      detail: "On guest request",
      at: null,
    });
    expect(parseLifecycleLine("event 'reboot' for domain 'x'")).toBeNull();
    expect(parseLifecycleLine("events received: 3")).toBeNull();
  });

  it("reports Failed, Crashed and guest Shutdown; never Destroyed or Saved; a domain of another name needs its uuid from libvirt", () => {
    const line = (d: string, detail: string) =>
      parseLifecycleLine(`event 'lifecycle' for domain '${d}': Stopped ${detail}`)!;
    expect(reportableStop(line(`instance-${UUID}`, "Failed"))).toBe(true);
    expect(reportableStop(line(`instance-${UUID}`, "Crashed"))).toBe(true);
    expect(reportableStop(line(`instance-${UUID}`, "Shutdown"))).toBe(true);
    expect(reportableStop(line(`instance-${UUID}`, "Destroyed"))).toBe(false);
    expect(reportableStop(line(`instance-${UUID}`, "Saved"))).toBe(false);
    expect(reportableStop(line(`instance-${UUID}`, "Migrated"))).toBe(false);
    // An adopted domain keeps its libvirt name: a failure stop, whose uuid the monitor asks libvirt for.
    expect(reportableStop(line("web-1", "Failed"))).toBe(false);
    expect(isFailureStop(line("web-1", "Failed"))).toBe(true);
    expect(isFailureStop(line("web-1", "Destroyed"))).toBe(false);
    expect(
      reportableStop(parseLifecycleLine(`event 'lifecycle' for domain 'instance-${UUID}': Started Booted`)!),
    ).toBe(false);
  });
});

describe("one crash, one recovery", () => {
  const report = DomainStoppedDetail.parse({
    host: "host-1",
    instanceUuid: UUID,
    domain: `instance-${UUID}`,
    event: "Stopped",
    reason: "Failed",
    stoppedAt: "2026-01-01T10:11:12.345Z",
  });

  it("every delivery of one report names the same recovery; another crash another one", () => {
    expect(recoveryId(report)).toBe(recoveryId({ ...report }));
    expect(recoveryId(report)).not.toBe(recoveryId({ ...report, stoppedAt: "2026-01-01T10:11:13.000Z" }));
    expect(recoveryId(report)).not.toBe(recoveryId({ ...report, host: "host-2" }));
    expect(relocationRequestId(recoveryId(report))).not.toBe(recoveryId(report));
  });

  it("classifies the stop by the record: only an ACTIVE, HA instance with no task on the reporting host", () => {
    const active = makeInstance({ uuid: UUID, host: "host-1", vmState: "active", taskState: null });
    expect(classifyStop(active, report, makeHost({ name: "host-1" })).verdict).toBe("recover");
    const why = (i: Parameters<typeof classifyStop>[0]) => {
      const v = classifyStop(i, report, makeHost({ name: "host-1" }));
      return v.verdict === "ignore" ? v.why : v.verdict;
    };
    expect(why(null)).toBe("not-found");
    expect(why({ ...active, vmState: "stopped" })).toBe("not-active"); // the operator's os-stop ended
    expect(why({ ...active, taskState: "powering_off" })).toBe("busy"); // the operator's os-stop runs
    expect(why({ ...active, taskState: "rebuilding" })).toBe("busy"); // a rebuild's Destroy/PowerOff
    expect(why({ ...active, host: "host-2" })).toBe("moved"); // a stale copy on a returning host
    expect(why({ ...active, haEnabled: false })).toBe("not-ha");
    expect(
      why({ ...active, haEnabled: false, instanceHa: { ha: true, maxRestart: 1, maxRelocate: 1 } }),
    ).toBe("recover");
    expect(why({ ...active, instanceHa: { ha: false, maxRestart: 1, maxRelocate: 1 } })).toBe("not-ha");
  });

  it("never restarts on a host whose death is proven (a recorded proof admits evacuations), whatever stopped it", () => {
    const active = makeInstance({ uuid: UUID, host: "host-1", vmState: "active", taskState: null });
    const proven = makeHost({ name: "host-1", forcedDown: true, deathProof: PROOF });
    for (const reason of ["Failed", HOST_RESET] as const) {
      const v = classifyStop(active, { ...report, reason }, proven);
      expect(v).toMatchObject({ verdict: "ignore", why: "host-proven-dead" });
    }
  });

  it("a reset host's stop waits while the host has an open incident; a crash does not", () => {
    const active = makeInstance({ uuid: UUID, host: "host-1", vmState: "active", taskState: null });
    const reset = { ...report, reason: HOST_RESET } as const;
    for (const status of ["confirming", "evacuating", "evacuated"] as const) {
      const host = makeHost({ name: "host-1", incident: incident(status) });
      expect(classifyStop(active, reset, host).verdict, status).toBe("wait");
      expect(classifyStop(active, report, host).verdict, status).toBe("recover");
    }
    for (const status of ["not-dead", "held", "aborted", "closed"] as const) {
      const host = makeHost({ name: "host-1", incident: incident(status) });
      expect(classifyStop(active, reset, host).verdict, status).toBe("recover");
    }
    // The record still decides first: a reset host's stale copy (evacuated meanwhile) is not restarted.
    expect(
      classifyStop(
        { ...active, host: "host-2" },
        reset,
        makeHost({ name: "host-1", incident: incident("evacuating") }),
      ),
    ).toMatchObject({ verdict: "ignore", why: "moved" });
    expect(
      classifyStop({ ...active, vmState: "stopped" }, reset, makeHost({ name: "host-1" })),
    ).toMatchObject({
      verdict: "ignore",
      why: "not-active",
    });
  });

  it("a reset host's recovery waits at most hostWaitSeconds", () => {
    const cfg = { hostWaitSeconds: 600 };
    expect(hostWaitOver(T(0).toISOString(), T(599), cfg)).toBe(false);
    expect(hostWaitOver(T(0).toISOString(), T(600), cfg)).toBe(true);
  });

  it("per-instance policy defaults: HA follows haEnabled, one restart, one relocation", () => {
    expect(instanceHaPolicy(makeInstance({ haEnabled: true }))).toEqual({
      ha: true,
      maxRestart: 1,
      maxRelocate: 1,
    });
  });
});

describe("storm guard", () => {
  const cfg = { stormCrashes: 3, stormWindowSeconds: 60 };
  it("three crashes on one host within the window are a storm; older ones do not count", () => {
    expect(stormVerdict([T(0).toISOString(), T(10).toISOString()], T(20), cfg)).toEqual({
      storm: false,
      recent: 2,
    });
    expect(
      stormVerdict(
        [T(0), T(10), T(20)].map((t) => t.toISOString()),
        T(20),
        cfg,
      ).storm,
    ).toBe(true);
    expect(
      stormVerdict(
        [T(0), T(30), T(80)].map((t) => t.toISOString()),
        T(80),
        cfg,
      ),
    ).toEqual({
      storm: false,
      recent: 2,
    });
  });
  it("one incident per host and storm window, a valid host-evacuation incident id", () => {
    const a = stormIncidentId("host-1", T(0), 60);
    expect(stormIncidentId("host-1", T(30), 60)).toBe(a);
    expect(stormIncidentId("host-2", T(30), 60)).not.toBe(a);
    expect(stormIncidentId("host-1", T(61), 60)).not.toBe(a);
    expect(a).toMatch(/^[A-Za-z0-9_-]{1,80}$/);
  });
});

describe("restart, relocate, give up", () => {
  const policy: InstanceHaPolicy = { ha: true, maxRestart: 1, maxRelocate: 1 };
  const attempt = (
    action: RecoveryAttempt["action"],
    host: string,
    s: number,
    outcome: RecoveryAttempt["outcome"] = "succeeded",
  ): RecoveryAttempt => ({ action, host, at: T(s).toISOString(), outcome, error: null });
  const decide = (over: Partial<Parameters<typeof decideRecovery>[0]>) =>
    decideRecovery({
      policy,
      host: "host-1",
      attempts: [],
      current: [],
      sharedStorage: true,
      now: T(1000),
      windowSeconds: 600,
      ...over,
    }).action;

  it("first crash: restart in place; second in the window: relocate; third: error", () => {
    expect(decide({})).toBe("restart");
    expect(decide({ attempts: [attempt("restart", "host-1", 900)] })).toBe("relocate");
    expect(
      decide({
        attempts: [attempt("restart", "host-1", 900), attempt("relocate", "host-2", 950)],
        host: "host-2",
      }),
    ).toBe(
      "restart", // a new host: its restart budget is fresh (Proxmox resets it on relocation)
    );
    expect(
      decide({
        host: "host-2",
        attempts: [
          attempt("restart", "host-1", 900),
          attempt("relocate", "host-2", 950),
          attempt("restart", "host-2", 960),
        ],
      }),
    ).toBe("error");
  });

  it("a host's reset is restarted in place whatever the budget, unless that restart failed here", () => {
    const spent = [attempt("restart", "host-1", 900), attempt("relocate", "host-2", 950)];
    expect(decide({ hostReset: true, attempts: spent, policy: { ...policy, maxRelocate: 1 } })).toBe(
      "restart",
    );
    expect(decide({ hostReset: true, policy: { ...policy, maxRestart: 0 } })).toBe("restart");
    expect(decide({ hostReset: true, current: [attempt("restart", "host-1", 990, "failed")] })).toBe(
      "relocate",
    );
    expect(
      decide({
        hostReset: true,
        sharedStorage: false,
        current: [attempt("restart", "host-1", 990, "failed")],
      }),
    ).toBe("error");
  });

  it("attempts older than the window are forgotten", () => {
    expect(decide({ attempts: [attempt("restart", "host-1", 300)] })).toBe("restart");
  });

  it("a restart that failed here goes to relocation at once, whatever the budget", () => {
    expect(
      decide({
        policy: { ...policy, maxRestart: 3 },
        current: [attempt("restart", "host-1", 990, "failed")],
      }),
    ).toBe("relocate");
  });

  it("maxRestart 0 relocates at once; maxRelocate 0 gives up after the restarts", () => {
    expect(decide({ policy: { ...policy, maxRestart: 0 } })).toBe("relocate");
    expect(
      decide({ policy: { ...policy, maxRelocate: 0 }, attempts: [attempt("restart", "host-1", 900)] }),
    ).toBe("error");
  });

  it("a root disk on local storage is never relocated from a live host (the data would be lost)", () => {
    const d = decideRecovery({
      policy,
      host: "host-1",
      attempts: [attempt("restart", "host-1", 900)],
      current: [],
      sharedStorage: false,
      now: T(1000),
      windowSeconds: 600,
    });
    expect(d.action).toBe("error");
    expect(d.reason).toMatch(/local storage/);
  });

  it("the fault says what was tried", () => {
    const msg = givenUpMessage("the relocation failed", [
      attempt("restart", "host-1", 900),
      { ...attempt("relocate", "host-1", 950, "failed"), error: "NoValidHost: no room" },
    ]);
    expect(msg).toBe(
      "Instance recovery gave up: the relocation failed. Tried: restart on host-1 succeeded; relocate on host-1 failed (NoValidHost: no room).",
    );
  });
});

describe("rebuild admission: relocation from a live host", () => {
  const instance = makeInstance({ host: "host-1", vmState: "active", taskState: null });
  const source = makeHost({ name: "host-1", status: "up", lastHeartbeatAt: T(999).toISOString() });
  const requestId = relocationRequestId("11111111-2222-4333-8444-555555555555");
  const proof: Recovery = {
    id: "11111111-2222-4333-8444-555555555555",
    instanceUuid: instance.uuid,
    host: "host-1",
    reason: "Failed",
    stoppedAt: T(0).toISOString(),
    detectedAt: T(1).toISOString(),
    status: "relocating",
    message: null,
    executionArn: "arn:x",
    attempts: [],
    relocation: { requestId, sourceHost: "host-1", sourceRemovedAt: T(2).toISOString() },
    updatedAt: T(2).toISOString(),
    version: 2,
  };
  const req = {
    recreate: true,
    targetHost: null,
    force: false,
    imageRef: null,
    preserveEphemeral: false,
    targetState: null,
    requestId,
    relocateFromLiveHost: proof.id,
  };
  const facts = (relocation: Recovery | null): AdmissionFacts => ({
    instance,
    source,
    target: null,
    relocation,
    now: T(1000),
    serviceDownSeconds: 60,
  });

  it("nova's evacuate of an instance on a live host is still refused", () => {
    expect(() => assertAdmissible({ ...req, relocateFromLiveHost: null }, facts(null))).toThrow(
      expect.objectContaining({ name: "ComputeServiceInUse" }),
    );
  });

  it("admitted with the recovery's proof naming this request and this source", () => {
    expect(() => assertAdmissible(req, facts(proof))).not.toThrow();
  });

  it.each([
    ["no such recovery", null],
    ["not relocating", { ...proof, status: "recovering" as const }],
    ["no proof yet", { ...proof, relocation: null }],
    ["another instance", { ...proof, instanceUuid: UUID }],
    ["another source", { ...proof, relocation: { ...proof.relocation!, sourceHost: "host-9" } }],
    ["another request", { ...proof, relocation: { ...proof.relocation!, requestId: UUID } }],
  ])("refused: %s", (_what, relocation) => {
    expect(() => assertAdmissible(req, facts(relocation))).toThrow(
      expect.objectContaining({ name: "ComputeServiceInUse" }),
    );
  });
});
