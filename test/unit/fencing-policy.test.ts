/**
 * The proof-of-death policy (shared/domain/fencing.ts) and the admission of evacuations on it
 * (shared/flow/admission.ts), fed observations and a clock: the lease only with the host's own evidence
 * (and its boundary to the millisecond), a recorded proof, the disk-lock refusals, the mass-failure window,
 * the settle read from the fleet's heartbeats (and what an inflated series can change), and the one rule
 * every evacuation passes.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { negotiate } from "#functions/api/microversion.js";
import { evacuateAsk } from "#functions/api/routes/server-actions.js";
import {
  DEFAULT_FENCING_CONFIG,
  FLEET_SERIES_LAG_SECONDS,
  fleetSeriesWindow,
  type HeartbeatSample,
  hostProof,
  hostProofOfRecord,
  isDiskLockRefusal,
  leaseEvidence,
  massFailureVerdict,
  operatorProof,
  settleVerdict,
  suspectHosts,
  suspectsThatHold,
} from "#shared/domain/fencing.js";
import { assessHeartbeat, DEFAULT_HOST_FAILURE_CONFIG } from "#shared/domain/host-failure.js";
import { type DeathProof, type HostIncident, NO_FENCING } from "#shared/domain/schemas.js";
import { type AdmissionRequest, assertAdmissible } from "#shared/flow/admission.js";
import { makeHost, makeInstance } from "../support/fixtures.js";

const T0 = Date.UTC(2026, 0, 1);
const at = (s: number) => new Date(T0 + s * 1000);
/** Lease 10 s, margin 5 s: a silence of 15 s after the last heartbeat expires the lease. */
const CFG = { leaseSeconds: 10, leaseMarginSeconds: 5 };

/** One heartbeat a second from `from` to `to` (host clock), each reporting `value`. */
function beats(from: number, to: number, value: number): HeartbeatSample[] {
  const out: HeartbeatSample[] = [];
  for (let s = from; s <= to; s++) out.push({ at: at(s), count: 1, min: value, max: value });
  return out;
}

const observe = (heartbeats: HeartbeatSample[], now: Date, watchingSince = at(120)) =>
  hostProof({ recorded: null, fence: null, heartbeats, watchingSince, now }, CFG);

describe("the lease counts only with the host's own evidence", () => {
  it("armed heartbeats, then silence: no proof at expiry - 1 ms, proof `lease` at expiry", () => {
    // Last heartbeat at 100 s: the lease expires at 100 + 10 + 5 = 115 s.
    const hb = beats(40, 100, 10);
    const before = observe(hb, new Date(at(115).getTime() - 1));
    expect(before).toMatchObject({ proof: null, leaseExpiresAt: at(115).toISOString() });
    expect(observe(hb, at(115))).toMatchObject({ proof: "lease", at: at(115).toISOString() });
  });

  it("a heartbeat saying no watchdog is armed (0), within the lease before the silence: no lease, ever", () => {
    const hb = [...beats(40, 94, 10), ...beats(95, 95, 0), ...beats(96, 100, 10)];
    const p = observe(hb, at(10_000));
    expect(p).toMatchObject({ proof: null, leaseExpiresAt: null });
    expect(p.reason).toMatch(/no watchdog armed/);
    // Before the window it does not matter: the last 10 s before the silence were armed.
    expect(observe([...beats(40, 80, 0), ...beats(81, 100, 10)], at(115)).proof).toBe("lease");
  });

  it("a host that never reported an armed watchdog (the local publisher's 0) never self-fences", () => {
    expect(observe(beats(40, 100, 0), at(10_000)).proof).toBeNull();
  });

  it("a watchdog timeout longer than the lease is no evidence", () => {
    const p = observe(beats(40, 100, 11), at(10_000));
    expect(p.proof).toBeNull();
    expect(p.reason).toMatch(/timeout of 11 s, longer than the lease of 10 s/);
  });

  it("no heartbeat in view at all: no evidence, no lease (not a lease counted from the incident)", () => {
    expect(observe([], at(10_000))).toMatchObject({ proof: null, leaseExpiresAt: null });
  });

  it("a period mixing armed and unarmed heartbeats (min 0) is no evidence", () => {
    const hb = [...beats(40, 99, 10), { at: at(100), count: 2, min: 0, max: 10 }];
    expect(observe(hb, at(10_000)).proof).toBeNull();
  });

  it("a heartbeat back before expiry starts the lease again from it; one after expiry does not undo the proof", () => {
    // Silence from 100; back at 110 (< 115): fed again, the lease now runs from the last heartbeat, 112.
    const early = [...beats(40, 100, 10), ...beats(110, 112, 10)];
    expect(observe(early, at(126))).toMatchObject({ proof: null, leaseExpiresAt: at(127).toISOString() });
    expect(observe(early, at(127)).proof).toBe("lease");
    // Back at 116 (> 115), while the incident (opened at 108, in the silence) waits: the node had reset
    // by 115; the reboot's heartbeats change nothing.
    const late = [...beats(40, 100, 10), ...beats(116, 200, 10)];
    expect(observe(late, at(201), at(108))).toMatchObject({ proof: "lease", at: at(115).toISOString() });
    // Exactly at expiry counts as "back in time" (the conservative side of the boundary).
    const edge = [...beats(40, 100, 10), ...beats(115, 115, 10)];
    expect(observe(edge, at(129)).proof).toBeNull();
    expect(observe(edge, at(130)).proof).toBe("lease");
  });

  it("the silence is the incident's: an older gap (a reset an hour ago) is not it", () => {
    const hb = [...beats(0, 10, 10), ...beats(100, 200, 10)];
    // The incident opened at 210 after the host went silent at 200.
    expect(observe(hb, at(214), at(210))).toMatchObject({ proof: null });
    expect(observe(hb, at(215), at(210))).toMatchObject({ proof: "lease", at: at(215).toISOString() });
  });

  it("heartbeats from before a reset that guests were restarted after (Host.lastReset) are no evidence", () => {
    // Silent from 100, the node reset and booted at 130; instance recovery recorded the reset (130) and
    // restarted its guests; an incident opened at 131, before any heartbeat of the new boot: the silence
    // before the boot must not prove the restarted guests dead.
    const hb = [...beats(40, 100, 10), ...beats(133, 133, 0), ...beats(134, 140, 10)];
    const observeAt = (now: number, lastResetAt: Date | null) =>
      hostProof(
        { recorded: null, fence: null, heartbeats: hb, watchingSince: at(131), now: at(now), lastResetAt },
        CFG,
      );
    expect(observeAt(200, null)).toMatchObject({ proof: "lease", at: at(115).toISOString() });
    expect(observeAt(200, at(130)).proof).toBeNull();
    // A silence after the boot, armed all through the lease before it, still counts.
    const later = [...beats(40, 100, 10), ...beats(133, 133, 0), ...beats(134, 160, 10)];
    const silent = hostProof(
      {
        recorded: null,
        fence: null,
        heartbeats: later,
        watchingSince: at(165),
        now: at(175),
        lastResetAt: at(130),
      },
      CFG,
    );
    expect(silent).toMatchObject({ proof: "lease", at: at(175).toISOString() });
  });

  it("evidence reports the last heartbeat and the largest timeout of the window", () => {
    const ev = leaseEvidence([...beats(80, 95, 4), ...beats(96, 100, 7)], at(120), CFG);
    expect(ev).toMatchObject({ armed: true, lastHeartbeatAt: at(100), timeoutSeconds: 7 });
  });

  it("a recorded proof (operator, or an earlier round's) wins over everything; a fence off is `power`", () => {
    const said: DeathProof = {
      kind: "operator",
      at: at(50).toISOString(),
      incidentId: "inc-1",
      detail: "ops",
    };
    expect(
      hostProof({ recorded: said, fence: null, heartbeats: [], watchingSince: at(0), now: at(1) }, CFG),
    ).toMatchObject({ proof: "operator", at: at(50).toISOString() });
    const off = { outcome: "off" as const, at: at(60).toISOString(), detail: "stopped" };
    expect(
      hostProof({ recorded: null, fence: off, heartbeats: [], watchingSince: at(0), now: at(61) }, CFG),
    ).toMatchObject({ proof: "power" });
  });
});

describe("the proof on the host record", () => {
  const incident = (status: HostIncident["status"]): HostIncident => ({
    id: "inc-7",
    status,
    source: "alarm",
    reason: null,
    executionName: null,
    openedAt: at(0).toISOString(),
    updatedAt: at(0).toISOString(),
    summary: null,
  });

  it("an operator's proof names who said it and the incident open then", () => {
    const host = makeHost({ name: "h1", incident: incident("evacuating") });
    expect(operatorProof(host, { by: "arn:aws:iam::1:user/ops", via: "os-services", at: at(5) })).toEqual({
      kind: "operator",
      at: at(5).toISOString(),
      incidentId: "inc-7",
      detail: expect.stringMatching(/h1 forced down by arn:aws:iam::1:user\/ops \(os-services\)/),
    });
    expect(
      operatorProof(makeHost({ incident: incident("closed") }), { by: null, via: "x", at: at(5) }),
    ).toMatchObject({ incidentId: null, detail: expect.stringMatching(/by an operator/) });
  });

  it("without one, says whether an incident is open", () => {
    expect(hostProofOfRecord(makeHost({ name: "h1", incident: incident("evacuating") })).reason).toMatch(
      /incident inc-7 \(evacuating\) has no proof of death yet/,
    );
    expect(hostProofOfRecord(makeHost({ name: "h1" })).reason).toMatch(/no proof of its death is recorded/);
  });
});

describe("admission of an evacuation (the API's, the CLI's, Accept's)", () => {
  const STALE = "2020-01-01T00:00:00.000Z";
  const now = at(0);
  const evacuate: AdmissionRequest = evacuateAsk({}, negotiate({ "openstack-api-version": "compute 2.29" }));
  const admit = (source: ReturnType<typeof makeHost>, instance = makeInstance({ host: source.name })) =>
    assertAdmissible(evacuate, { instance, source, target: null, now, serviceDownSeconds: 60 });
  const downUnproven = makeHost({ name: "h1", lastHeartbeatAt: STALE, status: "down" });

  it("a down host without proof: FencingRequired (409) naming the host and what proves it dead", () => {
    expect(() => admit(downUnproven)).toThrow(
      expect.objectContaining({
        name: "FencingRequired",
        httpStatus: 409,
        message: expect.stringMatching(/h1 is not proven dead.*service set --down h1 nova-compute/),
      }),
    );
  });

  it("a recorded proof admits, and says which", () => {
    const proof: DeathProof = { kind: "lease", at: STALE, incidentId: "inc-1", detail: "lease expired" };
    const dead = { ...downUnproven, forcedDown: true, deathProof: proof };
    expect(admit(dead)).toMatchObject({ kind: "lease" });
  });

  it("a locked shared pool admits on `lock`; an unlocked pool or a local disk does not", () => {
    const locked = { ...downUnproven, fencing: { ...NO_FENCING, diskLocks: true } };
    expect(admit(locked)).toMatchObject({ kind: "lock" });
    expect(() => admit(downUnproven)).toThrow(expect.objectContaining({ name: "FencingRequired" }));
    const local = { ...locked, storage: { ...locked.storage, sharedPoolId: null } };
    expect(() => admit(local)).toThrow(expect.objectContaining({ name: "FencingRequired" }));
  });

  it("a host that is up is still nova's 400 (ComputeServiceInUse), before any proof is asked", () => {
    const up = makeHost({ name: "h1", lastHeartbeatAt: now.toISOString() });
    expect(() => admit(up)).toThrow(expect.objectContaining({ name: "ComputeServiceInUse" }));
  });

  it("a rebuild needs no proof (null)", () => {
    const up = makeHost({ name: "h1", lastHeartbeatAt: now.toISOString() });
    const rebuild = { ...evacuate, recreate: false, imageRef: "cirros-0.6.2" };
    expect(
      assertAdmissible(rebuild, {
        instance: makeInstance({ host: "h1" }),
        source: up,
        target: null,
        now,
        serviceDownSeconds: 60,
      }),
    ).toBeNull();
  });
});

describe("disk-lock refusals", () => {
  it("recognises qemu's image lock and virtlockd's refusals", () => {
    for (const message of [
      'Failed to get "write" lock',
      'Failed to get "shared" lock',
      "Is another process using the image [/srv/pool/x/disk]?",
      "error: resource busy: Lockspace resource '/srv/pool/x/disk' is locked",
      "error: Failed to acquire lock: No space left on device",
    ])
      expect(isDiskLockRefusal(message), message).toBe(true);
    expect(isDiskLockRefusal("Cannot access storage file '/srv/x': No such file or directory")).toBe(false);
  });
});

describe("the mass-failure window", () => {
  const incident = (status: HostIncident["status"], openedAt: Date): HostIncident => ({
    id: `inc-${openedAt.getTime()}`,
    status,
    source: "alarm",
    reason: null,
    executionName: null,
    openedAt: openedAt.toISOString(),
    updatedAt: openedAt.toISOString(),
    summary: null,
  });

  it("an incident opened ten minutes ago is not a suspect now; one inside the window is", () => {
    const now = at(3600);
    const cfg = { massFailureWindowSeconds: DEFAULT_FENCING_CONFIG.massFailureWindowSeconds };
    const old = makeHost({ name: "old", status: "up", incident: incident("evacuated", at(3000)) });
    const recent = makeHost({ name: "recent", status: "down", incident: incident("evacuating", at(3590)) });
    expect(suspectHosts([old, recent], now, cfg).map((s) => s.host)).toEqual(["recent"]);
    // With the old one counted, 2 of 4 would be held; without it, 1 of 4 proceeds.
    const fleet = [old, recent, makeHost({ name: "c" }), makeHost({ name: "d" })];
    const verdict = massFailureVerdict(suspectHosts(fleet, now, cfg), fleet.length, "alarm", {
      ...cfg,
      massFailureShare: 1 / 3,
    });
    expect(verdict.verdict).toBe("proceed");
  });
});

describe("the settle read from the fleet's heartbeats (settleVerdict, fleetSeriesWindow)", () => {
  /**
   * A fleet's series as CloudWatch would hold it: every host beats from its own phase, each interval a little
   * longer than configured (the agent sleeps the interval after a beat starts, plus the timer's lateness), and
   * adds its interval at each beat's second; a host that dies at `diesAt` sends nothing from then on.
   */
  function fleetSeries(opts: {
    hosts: number;
    interval: number;
    dies: Record<number, number>;
    seed?: number;
    /** Seconds at the end of the series whose data has not arrived yet when it is read. */
    lateFrom?: number;
    /** How much longer than the interval a beat may come, as a share of it (0: exactly on time). */
    jitter?: number;
  }) {
    let seed = opts.seed ?? 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const perSecond = new Map<number, number>();
    const lastBeat = new Map<number, number>();
    for (let h = 0; h < opts.hosts; h++) {
      const diesAt = opts.dies[h] ?? Number.POSITIVE_INFINITY;
      for (
        let t = random() * opts.interval;
        t < Math.min(diesAt, 400);
        t += opts.interval * (1 + random() * (opts.jitter ?? 0.05))
      ) {
        if (opts.lateFrom !== undefined && t >= opts.lateFrom) continue;
        const second = Math.floor(t);
        perSecond.set(second, (perSecond.get(second) ?? 0) + opts.interval);
        lastBeat.set(h, t);
      }
    }
    const sum = (from: Date, to: Date) => {
      let total = 0;
      for (const [second, v] of perSecond) if (at(second) >= from && at(second) < to) total += v;
      return total;
    };
    return { sum, lastBeatOf: (h: number) => at(lastBeat.get(h) ?? 0) };
  }

  /** What the step decides at `now` for host 0 (counted by the guard with `suspects` - 1 others). */
  function decide(
    series: ReturnType<typeof fleetSeries>,
    fleetSize: number,
    interval: number,
    now: Date,
    suspects = 1,
  ) {
    const cfg = { massFailureShare: 1 / 3, heartbeatIntervalSeconds: interval };
    const window = fleetSeriesWindow(series.lastBeatOf(0), now, cfg);
    if (!window) return "no window";
    return settleVerdict(
      { fleetSize, suspects, beatSeconds: series.sum(window.from, window.to), windowSeconds: window.seconds },
      cfg,
    ).verdict;
  }

  it("one host of four dies alone: no wait, at every moment its alarm can come (10-20 s after its last beat)", () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const series = fleetSeries({ hosts: 4, interval: 1, dies: { 0: 100.5 }, seed });
      const last = series.lastBeatOf(0).getTime();
      for (let after = 10; after <= 20; after++)
        expect(decide(series, 4, 1, new Date(last + after * 1000)), `seed ${seed}, alarm ${after} s`).toBe(
          "skip",
        );
    }
  });

  it("two of four die at the same moment (one alarms a period later): the first waits for the second's alarm", () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const series = fleetSeries({ hosts: 4, interval: 1, dies: { 0: 100.5, 1: 100.5 }, seed });
      const last = series.lastBeatOf(0).getTime();
      for (let after = 10; after <= 20; after++)
        expect(decide(series, 4, 1, new Date(last + after * 1000)), `seed ${seed}, alarm ${after} s`).toBe(
          "wait",
        );
    }
  });

  it("a fleet of 1,000 at the deployed 5 s: ten hosts dying together skip the wait, 340 do not", () => {
    const ten = Object.fromEntries(Array.from({ length: 10 }, (_, h) => [h, 200.2]));
    const many = Object.fromEntries(Array.from({ length: 340 }, (_, h) => [h, 200.2]));
    const alarm = (s: ReturnType<typeof fleetSeries>) => new Date(s.lastBeatOf(0).getTime() + 30_000);
    const fewSeries = fleetSeries({ hosts: 1000, interval: 5, dies: ten });
    expect(decide(fewSeries, 1000, 5, alarm(fewSeries))).toBe("skip");
    const manySeries = fleetSeries({ hosts: 1000, interval: 5, dies: many });
    expect(decide(manySeries, 1000, 5, alarm(manySeries))).toBe("wait");
  });

  it("two of four at the deployed 5 s, beats exactly on time, a window of no whole number of intervals: a wait", () => {
    // The deployed alarm comes 30-40 s after the last beat: the window is then 22-30 s, and a live host adds
    // up to the window plus one interval (one beat more than the window holds whole intervals).
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
      const series = fleetSeries({ hosts: 4, interval: 5, dies: { 0: 100.5, 1: 100.5 }, seed, jitter: 0 });
      const last = series.lastBeatOf(0).getTime();
      for (const after of [30, 33, 36, 40])
        expect(decide(series, 4, 5, new Date(last + after * 1000)), `seed ${seed}, alarm ${after} s`).toBe(
          "wait",
        );
    }
  });

  it("data that has not arrived reads as silence: the step waits, it never skips on a gap", () => {
    const series = fleetSeries({ hosts: 4, interval: 1, dies: { 0: 100.5 }, lateFrom: 106 });
    const now = new Date(series.lastBeatOf(0).getTime() + 12_000);
    expect(decide(series, 4, 1, now)).toBe("wait");
    // The same series with every beat arrived skips.
    expect(decide(fleetSeries({ hosts: 4, interval: 1, dies: { 0: 100.5 } }), 4, 1, now)).toBe("skip");
  });

  it("suspects the guard counts already are added (a host in both counted twice: only ever a wait more)", () => {
    // Six hosts, one dead a minute ago (suspect and silent) and this one: 2 + 2 - 1 = 3 could be counted: wait.
    const series = fleetSeries({ hosts: 6, interval: 1, dies: { 0: 100.5, 5: 40 } });
    const now = new Date(series.lastBeatOf(0).getTime() + 12_000);
    expect(decide(series, 6, 1, now, 2)).toBe("wait");
    // The same silence with nothing counted yet: 1 + 2 - 1 = 2 of 6 would not hold.
    expect(decide(series, 6, 1, now, 1)).toBe("skip");
  });

  /**
   * The series can be inflated (a compromised host's extra lines or larger interval, EMF's duplicates, a host
   * beating more often than the setting): it then reads more hosts beating than do. What that can change is
   * bounded here; that it never changes what counts as proof of death is shown end to end by the simulator's
   * forged-fleet-series scenarios (the proof reads the host's own heartbeats, its fence and its record).
   */
  it("an inflated series only ever turns a wait into a skip, and none skips once the guard's suspects hold", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2000 }),
        fc.constantFrom(1 / 3, 1 / 4, 1 / 2),
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 1, max: 6 }),
        fc.double({ min: 0, max: 1.2, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 1, max: 1e6, noNaN: true }),
        (fleetSize, share, interval, intervals, beatingShare, suspectShare, factor) => {
          const cfg = { massFailureShare: share, heartbeatIntervalSeconds: interval };
          const windowSeconds = intervals * interval;
          const honest = Math.floor(beatingShare * fleetSize * (windowSeconds + interval));
          const suspects = 1 + Math.floor(suspectShare * (fleetSize - 1));
          const read = (beatSeconds: number, counted: number | null) =>
            settleVerdict({ fleetSize, suspects: counted, beatSeconds, windowSeconds }, cfg).verdict;
          for (const counted of [suspects, null]) {
            if (read(honest, counted) === "skip") expect(read(honest * factor, counted)).toBe("skip");
          }
          // However high the series reads, the suspects the guard already counts still make a wait.
          if (suspects >= suspectsThatHold(fleetSize, cfg))
            expect(read(Number.MAX_SAFE_INTEGER, suspects)).toBe("wait");
        },
      ),
    );
  });

  it("a skipped settle only judges sooner: the heartbeat's verdict is the same, or a probe where it waited", () => {
    const cfg = DEFAULT_HOST_FAILURE_CONFIG;
    fc.assert(
      fc.property(
        fc.option(fc.integer({ min: 0, max: 200 }), { nil: null }),
        fc.integer({ min: 0, max: 200 }),
        fc.integer({ min: 0, max: 100 }),
        fc.integer({ min: 0, max: 60 }),
        (lastBeat, opened, sinceOpened, settle) => {
          const obs = {
            lastHeartbeatAt: lastBeat === null ? null : at(lastBeat),
            watchingSince: at(opened),
            now: at(Math.max(opened + sinceOpened, lastBeat ?? 0)),
          };
          const waited = assessHeartbeat({ ...obs, settleUntil: at(opened + settle) }, cfg);
          const skipped = assessHeartbeat({ ...obs, settleUntil: null }, cfg);
          // Alive is alive either way (the settle never hides a heartbeat), and a skip never says more than
          // "probe": the death is still the probe's to judge, the evacuation still the proof's.
          expect(skipped.verdict === "alive").toBe(waited.verdict === "alive");
          if (skipped.verdict !== waited.verdict)
            expect([waited.verdict, skipped.verdict]).toEqual(["wait", "probe"]);
        },
      ),
    );
  });

  it("the window: after the last beat plus one interval and the clocks' skew, ending the lag before now", () => {
    const cfg = { heartbeatIntervalSeconds: 1 };
    const w = fleetSeriesWindow(at(100.4), at(110.7), cfg);
    expect(w).toEqual({ from: at(103), to: at(110.7 - FLEET_SERIES_LAG_SECONDS - 0.7), seconds: 5 });
    // Never longer than six intervals, never reaching back before the last beat + interval + skew.
    expect(fleetSeriesWindow(at(100), at(160), cfg)).toMatchObject({
      from: at(152),
      to: at(158),
      seconds: 6,
    });
    // Too close to the last beat to read anything: no window (the step then waits).
    expect(fleetSeriesWindow(at(100), at(104.5), cfg)).toBeNull();
  });
});
