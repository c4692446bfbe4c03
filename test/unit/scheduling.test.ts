/**
 * The scheduler's pure policy (filters, weigher, capacity arithmetic) and host liveness, on fixture hosts.
 * Each filter case builds a host that fails that one filter only, so the reason names that filter.
 */
import { randomUUID } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { evaluateClaim, freeResources, usageLimit } from "#shared/domain/claim-policy.js";
import {
  DEFAULT_SERVICE_DOWN_SECONDS,
  isHostDownForEvacuation,
  isHostUp,
} from "#shared/domain/host-liveness.js";
import { describeRejections, type ScheduleRequest, scheduleHosts } from "#shared/domain/scheduling.js";
import type { Claim, Host, ServerGroup } from "#shared/domain/schemas.js";
import { makeHost, makeInstance } from "../support/fixtures.js";

const T0 = "2026-01-01T00:00:00.000Z";
/** 30 s after the fixtures' heartbeat: fresh under the default 60 s. */
const NOW = new Date(Date.parse(T0) + 30_000);

const instance = makeInstance({ host: "src", node: "src" });
const source = makeHost({ name: "src", status: "down" });

function request(overrides: Partial<ScheduleRequest> = {}): ScheduleRequest {
  return {
    instanceUuid: instance.uuid,
    flavor: instance.flavor,
    availabilityZone: instance.availabilityZone,
    serverGroup: null,
    sourceHost: source,
    requestedHost: null,
    excludedHosts: [],
    sharedPoolId: null,
    now: NOW,
    ...overrides,
  };
}

function claim(instanceUuid: string, serverGroup: ServerGroup | null): Claim {
  return {
    instanceUuid,
    resources: { vcpus: 1, memoryMiB: 512, diskGiB: 2 },
    owner: randomUUID(),
    serverGroup,
    claimedAt: T0,
  };
}

function names(hosts: readonly Host[]): string[] {
  return hosts.map((h) => h.name);
}

/** Schedules one host alone and returns its rejection reason (undefined = it is a candidate). */
function reasonFor(host: Host, overrides: Partial<ScheduleRequest> = {}): string | undefined {
  const decision = scheduleHosts([host], request(overrides));
  if (decision.rejected[host.name] === undefined) expect(names(decision.candidates)).toEqual([host.name]);
  else expect(decision.candidates).toEqual([]);
  return decision.rejected[host.name];
}

describe("scheduleHosts filters", () => {
  it("accepts a healthy host in the right zone with room", () => {
    expect(reasonFor(makeHost({ name: "b" }))).toBeUndefined();
  });

  it("SourceHostFilter rejects the source host even when it looks healthy", () => {
    const healthySource = makeHost({ name: "src" });
    expect(reasonFor(healthySource, { sourceHost: healthySource })).toMatch(
      /^SourceHostFilter: is the source host$/,
    );
  });

  it("RetryFilter rejects a host already tried", () => {
    expect(reasonFor(makeHost({ name: "b" }), { excludedHosts: ["x", "b"] })).toMatch(/^RetryFilter: /);
    expect(reasonFor(makeHost({ name: "b" }), { excludedHosts: ["x"] })).toBeUndefined();
  });

  it("RequestedHostFilter keeps only the requested host", () => {
    const hosts = [makeHost({ name: "b" }), makeHost({ name: "c" })];
    const decision = scheduleHosts(hosts, request({ requestedHost: "c" }));
    expect(names(decision.candidates)).toEqual(["c"]);
    expect(decision.rejected.b).toMatch(/^RequestedHostFilter: /);
  });

  it("RequestedHostFilter still runs every other filter on the requested host", () => {
    const host = makeHost({ name: "c", enabled: false });
    expect(reasonFor(host, { requestedHost: "c" })).toMatch(/^ComputeFilter: /);
  });

  it("ComputeFilter rejects a disabled host and quotes the reason", () => {
    expect(reasonFor(makeHost({ name: "b", enabled: false }))).toBe("ComputeFilter: disabled");
    expect(reasonFor(makeHost({ name: "b", enabled: false, disabledReason: "maintenance" }))).toBe(
      "ComputeFilter: disabled (maintenance)",
    );
  });

  it("ServiceUpFilter rejects a forced-down host as forced down", () => {
    expect(reasonFor(makeHost({ name: "b", forcedDown: true }))).toBe("ServiceUpFilter: forced down");
  });

  it("ServiceUpFilter rejects a host reported down; with no heartbeat record, its status decides (AWS)", () => {
    expect(reasonFor(makeHost({ name: "b", status: "down" }))).toBe("ServiceUpFilter: compute service down");
    expect(reasonFor(makeHost({ name: "b", status: "down", lastHeartbeatAt: null }))).toBe(
      "ServiceUpFilter: compute service down",
    );
    expect(reasonFor(makeHost({ name: "b", status: "up", lastHeartbeatAt: null }))).toBeUndefined();
  });

  it("ServiceUpFilter: a stale heartbeat is down, a fresh one is up, per serviceDownSeconds", () => {
    const host = makeHost({ name: "b", lastHeartbeatAt: T0 });
    const at = (s: number) => new Date(Date.parse(T0) + s * 1000);
    expect(reasonFor(host, { now: at(61) })).toBe("ServiceUpFilter: compute service down");
    expect(reasonFor(host, { now: at(60) })).toBeUndefined();
    expect(reasonFor(host, { now: at(61), serviceDownSeconds: 120 })).toBeUndefined();
    expect(reasonFor(host, { now: at(11), serviceDownSeconds: 10 })).toBe(
      "ServiceUpFilter: compute service down",
    );
  });

  it("AvailabilityZoneFilter rejects a host in another zone", () => {
    expect(reasonFor(makeHost({ name: "b", availabilityZone: "az2" }))).toBe(
      "AvailabilityZoneFilter: in zone az2",
    );
  });

  it("ImagePropertiesFilter rejects a virt type different from the source's", () => {
    expect(reasonFor(makeHost({ name: "b", virtType: "kvm" }))).toBe(
      "ImagePropertiesFilter: virt type kvm, not qemu",
    );
    const kvmSource = makeHost({ name: "src", virtType: "kvm", status: "down" });
    expect(reasonFor(makeHost({ name: "b", virtType: "kvm" }), { sourceHost: kvmSource })).toBeUndefined();
  });

  it("RecreateFilter rejects a driver without recreate support", () => {
    expect(reasonFor(makeHost({ name: "b", supportsRecreate: false }))).toMatch(/^RecreateFilter: /);
  });

  it("SharedStorageFilter requires the pool only when the disk is on shared storage", () => {
    const local = makeHost({ name: "b", storage: { ...makeHost().storage, sharedPoolId: null } });
    const other = makeHost({ name: "c", storage: { ...makeHost().storage, sharedPoolId: "pool-2" } });
    const same = makeHost({ name: "d" }); // pool-1
    expect(reasonFor(local, { sharedPoolId: "pool-1" })).toBe(
      "SharedStorageFilter: not in shared pool pool-1",
    );
    expect(reasonFor(other, { sharedPoolId: "pool-1" })).toBe(
      "SharedStorageFilter: not in shared pool pool-1",
    );
    expect(reasonFor(same, { sharedPoolId: "pool-1" })).toBeUndefined();
    expect(reasonFor(local, { sharedPoolId: null })).toBeUndefined();
    expect(reasonFor(other, { sharedPoolId: null })).toBeUndefined();
  });

  describe("ResourceFilter", () => {
    const flavor = { vcpus: 2, memoryMiB: 1024, diskGiB: 10 };

    it("rejects a host short on vcpus, RAM or disk, naming each shortage", () => {
      const base = { capacity: { vcpus: 4, memoryMiB: 4096, diskGiB: 100 } };
      expect(
        reasonFor(makeHost({ name: "b", ...base, usage: { vcpus: 3, memoryMiB: 0, diskGiB: 0 } }), {
          flavor,
        }),
      ).toBe("ResourceFilter: vcpus free 1 < 2");
      expect(
        reasonFor(makeHost({ name: "b", ...base, usage: { vcpus: 0, memoryMiB: 3584, diskGiB: 0 } }), {
          flavor,
        }),
      ).toBe("ResourceFilter: RAM free 512 MiB < 1024");
      expect(
        reasonFor(makeHost({ name: "b", ...base, usage: { vcpus: 0, memoryMiB: 0, diskGiB: 95 } }), {
          flavor,
        }),
      ).toBe("ResourceFilter: disk free 5 GiB < 10");
      expect(
        reasonFor(makeHost({ name: "b", ...base, usage: { vcpus: 4, memoryMiB: 4096, diskGiB: 100 } }), {
          flavor,
        }),
      ).toBe("ResourceFilter: vcpus free 0 < 2, RAM free 0 MiB < 1024, disk free 0 GiB < 10");
    });

    it("accepts a host with exactly the flavor free", () => {
      const host = makeHost({
        name: "b",
        capacity: { vcpus: 4, memoryMiB: 4096, diskGiB: 100 },
        usage: { vcpus: 2, memoryMiB: 3072, diskGiB: 90 },
      });
      expect(reasonFor(host, { flavor })).toBeUndefined();
    });

    it("applies allocation ratios (overcommit and undercommit)", () => {
      // 4 vcpus * 1.5 = 6; 5 used leaves 1 < 2 ... but 4 used leaves 2.
      const cpu = (used: number) =>
        makeHost({
          name: "b",
          capacity: { vcpus: 4, memoryMiB: 4096, diskGiB: 100 },
          allocationRatios: { cpu: 1.5, ram: 1, disk: 1 },
          usage: { vcpus: used, memoryMiB: 0, diskGiB: 0 },
        });
      expect(reasonFor(cpu(4), { flavor })).toBeUndefined();
      expect(reasonFor(cpu(5), { flavor })).toBe("ResourceFilter: vcpus free 1 < 2");
      // 4096 MiB * 0.5 = 2048 usable; 1536 used leaves 512 < 1024 although 2560 MiB are physically free.
      const ram = makeHost({
        name: "b",
        capacity: { vcpus: 4, memoryMiB: 4096, diskGiB: 100 },
        allocationRatios: { cpu: 1, ram: 0.5, disk: 1 },
        usage: { vcpus: 0, memoryMiB: 1536, diskGiB: 0 },
      });
      expect(reasonFor(ram, { flavor })).toBe("ResourceFilter: RAM free 512 MiB < 1024");
      // 10 GiB * 2 = 20; 10 used leaves 10: fits although the disk is physically full.
      const disk = makeHost({
        name: "b",
        capacity: { vcpus: 4, memoryMiB: 4096, diskGiB: 10 },
        allocationRatios: { cpu: 1, ram: 1, disk: 2 },
        usage: { vcpus: 0, memoryMiB: 0, diskGiB: 10 },
      });
      expect(reasonFor(disk, { flavor })).toBeUndefined();
    });
  });

  describe("ServerGroupAntiAffinityFilter", () => {
    const group: ServerGroup = { id: "g-anti", policy: "anti-affinity" };

    it("rejects a host holding another member of the group", () => {
      const other = randomUUID();
      const host = makeHost({ name: "b", antiAffinity: { [group.id]: other } });
      expect(reasonFor(host, { serverGroup: group })).toBe(
        `ServerGroupAntiAffinityFilter: hosts member ${other} of anti-affinity group`,
      );
    });

    it("does not reject a host whose member is the instance itself", () => {
      const host = makeHost({ name: "b", antiAffinity: { [group.id]: instance.uuid } });
      expect(reasonFor(host, { serverGroup: group })).toBeUndefined();
    });

    it("ignores members of other groups and requests without an anti-affinity group", () => {
      const host = makeHost({ name: "b", antiAffinity: { "g-other": randomUUID() } });
      expect(reasonFor(host, { serverGroup: group })).toBeUndefined();
      const member = makeHost({ name: "c", antiAffinity: { [group.id]: randomUUID() } });
      expect(reasonFor(member, { serverGroup: null })).toBeUndefined();
      expect(reasonFor(member, { serverGroup: { id: group.id, policy: "affinity" } })).toBeUndefined();
    });
  });

  describe("ServerGroupAffinityFilter", () => {
    const group: ServerGroup = { id: "g-aff", policy: "affinity" };

    it("must go where other members' claims are", () => {
      const other = randomUUID();
      const hosts = [
        makeHost({ name: "b" }),
        makeHost({ name: "c", claims: { [other]: claim(other, group) } }),
        makeHost({ name: "d" }),
      ];
      const decision = scheduleHosts(hosts, request({ serverGroup: group }));
      expect(names(decision.candidates)).toEqual(["c"]);
      expect(decision.rejected.b).toBe("ServerGroupAffinityFilter: not where the affinity group runs");
      expect(decision.rejected.d).toBe("ServerGroupAffinityFilter: not where the affinity group runs");
    });

    it("any host when no other member has a claim", () => {
      const stranger = randomUUID();
      const hosts = [
        makeHost({ name: "b" }),
        // the instance's own claim, and a claim in another group, do not pin the group
        makeHost({ name: "c", claims: { [instance.uuid]: claim(instance.uuid, group) } }),
        makeHost({ name: "d", claims: { [stranger]: claim(stranger, { id: "g-x", policy: "affinity" }) } }),
      ];
      const decision = scheduleHosts(hosts, request({ serverGroup: group }));
      expect(names(decision.candidates).sort()).toEqual(["b", "c", "d"]);
      expect(decision.rejected).toEqual({});
    });

    it("a member on the dead source host pins the group there: no valid host, as nova", () => {
      const other = randomUUID();
      const src = makeHost({ name: "src", status: "down", claims: { [other]: claim(other, group) } });
      const hosts = [src, makeHost({ name: "b" }), makeHost({ name: "c" })];
      const decision = scheduleHosts(hosts, request({ serverGroup: group, sourceHost: src }));
      expect(names(decision.candidates)).toEqual([]);
      expect(decision.rejected.b).toMatch(/^ServerGroupAffinityFilter: /);
      expect(decision.rejected.src).toMatch(/^SourceHostFilter: /);
    });
  });
});

describe("scheduleHosts weigher", () => {
  it("orders candidates by most free RAM first", () => {
    const used = (name: string, memoryMiB: number) =>
      makeHost({ name, usage: { vcpus: 0, memoryMiB, diskGiB: 0 } });
    const hosts = [used("a", 8192), used("b", 0), used("c", 4096), used("d", 12000)];
    expect(names(scheduleHosts(hosts, request()).candidates)).toEqual(["b", "c", "a", "d"]);
  });

  it("weighs free RAM after the RAM allocation ratio", () => {
    const big = makeHost({ name: "a", allocationRatios: { cpu: 1, ram: 0.25, disk: 1 } }); // 4096 usable
    const small = makeHost({ name: "b", capacity: { vcpus: 8, memoryMiB: 8192, diskGiB: 200 } }); // 8192
    expect(names(scheduleHosts([big, small], request()).candidates)).toEqual(["b", "a"]);
  });

  it("breaks ties the same way whatever the input order, and differently for different instances", () => {
    const hosts = ["h-c", "h-a", "h-b", "h-d", "h-e"].map((name) => makeHost({ name }));
    const req = request();
    const order = names(scheduleHosts(hosts, req).candidates);
    expect(names(scheduleHosts([...hosts].reverse(), req).candidates)).toEqual(order);
    const firsts = new Set(
      Array.from(
        { length: 40 },
        () => names(scheduleHosts(hosts, request({ instanceUuid: randomUUID() })).candidates)[0],
      ),
    );
    expect(firsts.size).toBeGreaterThan(1);
  });

  it("does not count the instance's own claim against it (a retried placement)", () => {
    const req = request();
    const { vcpus, memoryMiB, diskGiB } = req.flavor;
    const full = makeHost({
      name: "a",
      capacity: { vcpus, memoryMiB, diskGiB },
      allocationRatios: { cpu: 1, ram: 1, disk: 1 },
      usage: { vcpus, memoryMiB, diskGiB },
      claims: {
        [req.instanceUuid]: {
          instanceUuid: req.instanceUuid,
          resources: { vcpus, memoryMiB, diskGiB },
          owner: "m1",
          serverGroup: null,
          claimedAt: T0,
        },
      },
    });
    expect(names(scheduleHosts([full], req).candidates)).toEqual(["a"]);
  });

  it("soft-anti-affinity prefers hosts with fewer members, soft-affinity hosts with more", () => {
    const m1 = randomUUID();
    const m2 = randomUUID();
    const withMembers = (name: string, group: ServerGroup, uuids: string[]) =>
      makeHost({
        name,
        claims: Object.fromEntries(uuids.map((u) => [u, claim(u, group)])),
        // more free RAM on the crowded host, so only the group weigher can put it last
        usage: { vcpus: 0, memoryMiB: uuids.length ? 0 : 1024, diskGiB: 0 },
      });
    const soft: ServerGroup = { id: "g-soft", policy: "soft-anti-affinity" };
    const spread = [withMembers("crowded", soft, [m1, m2]), withMembers("empty", soft, [])];
    expect(names(scheduleHosts(spread, request({ serverGroup: soft })).candidates)).toEqual([
      "empty",
      "crowded",
    ]);
    const together: ServerGroup = { id: "g-aff", policy: "soft-affinity" };
    const pack = [withMembers("empty", together, []), withMembers("crowded", together, [m1, m2])];
    expect(names(scheduleHosts(pack, request({ serverGroup: together })).candidates)).toEqual([
      "crowded",
      "empty",
    ]);
  });
});

describe("usageLimit / freeResources", () => {
  it("floors capacity times ratio", () => {
    const host = makeHost({
      capacity: { vcpus: 3, memoryMiB: 1001, diskGiB: 7 },
      allocationRatios: { cpu: 1.5, ram: 0.5, disk: 1.1 },
      usage: { vcpus: 1, memoryMiB: 100, diskGiB: 2 },
    });
    expect(usageLimit(host)).toEqual({ vcpus: 4, memoryMiB: 500, diskGiB: 7 });
    expect(freeResources(host)).toEqual({ vcpus: 3, memoryMiB: 400, diskGiB: 5 });
  });

  it("goes negative when usage exceeds the limit (ratio lowered after placement)", () => {
    const host = makeHost({
      capacity: { vcpus: 8, memoryMiB: 1000, diskGiB: 10 },
      allocationRatios: { cpu: 0.5, ram: 1, disk: 1 },
      usage: { vcpus: 6, memoryMiB: 0, diskGiB: 0 },
    });
    expect(freeResources(host).vcpus).toBe(-2);
    expect(reasonFor(makeHost({ ...host, name: "b" }))).toMatch(/^ResourceFilter: vcpus free -2 < 1$/);
  });
});

describe("one claim policy", () => {
  it("the scheduler offers a host exactly when the claim accepts it, for any capacity and ratio", () => {
    const ratio = fc.double({ min: 0.1, max: 16, noNaN: true }).map((r) => Math.round(r * 100) / 100);
    fc.assert(
      fc.property(
        fc.record({
          capacity: fc.record({
            vcpus: fc.integer({ min: 0, max: 64 }),
            memoryMiB: fc.integer({ min: 0, max: 65536 }),
            diskGiB: fc.integer({ min: 0, max: 2000 }),
          }),
          ratios: fc.record({ cpu: ratio, ram: ratio, disk: ratio }),
          used: fc.record({
            vcpus: fc.integer({ min: 0, max: 128 }),
            memoryMiB: fc.integer({ min: 0, max: 100000 }),
            diskGiB: fc.integer({ min: 0, max: 3000 }),
          }),
          flavor: fc.record({
            vcpus: fc.integer({ min: 1, max: 16 }),
            memoryMiB: fc.integer({ min: 1, max: 16384 }),
            diskGiB: fc.integer({ min: 1, max: 200 }),
          }),
        }),
        ({ capacity, ratios, used, flavor }) => {
          const host = makeHost({ name: "h", capacity, allocationRatios: ratios, usage: used });
          const req = request({ flavor });
          const offered = scheduleHosts([host], req).candidates.length === 1;
          const verdict = evaluateClaim(host, {
            instanceUuid: req.instanceUuid,
            resources: flavor,
            owner: "m",
            serverGroup: null,
          });
          expect(offered).toBe(verdict.kind === "ok");
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("absorbs float error in capacity x ratio (10 x 1.1 is 11)", () => {
    const host = makeHost({
      capacity: { vcpus: 10, memoryMiB: 10, diskGiB: 10 },
      allocationRatios: { cpu: 1.1, ram: 1.1, disk: 1.1 },
    });
    expect(usageLimit(host)).toEqual({ vcpus: 11, memoryMiB: 11, diskGiB: 11 });
  });
});

describe("describeRejections", () => {
  it("lists every rejected host with its filter and reason", () => {
    const hosts = [makeHost({ name: "b", enabled: false }), makeHost({ name: "c", availabilityZone: "az9" })];
    const text = describeRejections(scheduleHosts(hosts, request()));
    expect(text).toBe("b: ComputeFilter: disabled; c: AvailabilityZoneFilter: in zone az9");
  });

  it("says so when no host is known", () => {
    expect(describeRejections({ candidates: [], rejected: {} })).toBe("no hosts known");
  });
});

describe("host liveness", () => {
  const at = (s: number) => new Date(Date.parse(T0) + s * 1000);

  it("is up with a fresh heartbeat, down after serviceDownSeconds", () => {
    const host = makeHost();
    expect(DEFAULT_SERVICE_DOWN_SECONDS).toBe(60);
    expect(isHostUp(host, at(0))).toBe(true);
    expect(isHostUp(host, at(60))).toBe(true);
    expect(isHostUp(host, at(60.001))).toBe(false);
    expect(isHostUp(host, at(100), 100)).toBe(true);
    expect(isHostUp(host, at(101), 100)).toBe(false);
  });

  it("is down when forced down or reported down, however fresh the heartbeat; no heartbeat record: status decides", () => {
    expect(isHostUp(makeHost({ forcedDown: true }), at(0))).toBe(false);
    expect(isHostUp(makeHost({ status: "down" }), at(0))).toBe(false);
    expect(isHostUp(makeHost({ lastHeartbeatAt: null }), at(0))).toBe(true);
    expect(isHostUp(makeHost({ lastHeartbeatAt: null, status: "down" }), at(0))).toBe(false);
  });

  it("isHostDownForEvacuation is the negation of isHostUp", () => {
    const hosts = [makeHost(), makeHost({ forcedDown: true }), makeHost({ status: "down" })];
    for (const host of hosts) {
      for (const s of [0, 30, 61]) {
        expect(isHostDownForEvacuation(host, at(s))).toBe(!isHostUp(host, at(s)));
        expect(isHostDownForEvacuation(host, at(s), 10)).toBe(!isHostUp(host, at(s), 10));
      }
    }
  });
});

describe("scheduleHosts properties", () => {
  const resources = (scale: number) =>
    fc.record({
      vcpus: fc.integer({ min: 0, max: 64 * scale }),
      memoryMiB: fc.integer({ min: 0, max: 65536 * scale }),
      diskGiB: fc.integer({ min: 0, max: 2000 * scale }),
    });
  /** `usual` nine times in ten, else `rare`: keeps enough hosts through the non-capacity filters. */
  const mostly = <T>(usual: T, rare: T) =>
    fc.oneof({ arbitrary: fc.constant(usual), weight: 9 }, { arbitrary: fc.constant(rare), weight: 1 });
  const ratio = fc.oneof(fc.constantFrom(0.5, 1, 1.5, 2, 16), fc.double({ min: 0.5, max: 8, noNaN: true }));
  const hostArb = (name: string) =>
    fc
      .record({
        capacity: resources(1),
        usage: resources(0.5),
        allocationRatios: fc.record({ cpu: ratio, ram: ratio, disk: ratio }),
        enabled: mostly(true, false),
        forcedDown: mostly(false, true),
        status: mostly("up" as const, "down" as const),
        availabilityZone: mostly("az1", "az2"),
        virtType: mostly("qemu" as const, "kvm" as const),
        supportsRecreate: mostly(true, false),
        heartbeatAgeS: fc.oneof(
          { arbitrary: fc.integer({ min: 0, max: 60 }), weight: 9 },
          fc.integer({ min: 61, max: 200 }),
        ),
      })
      .map(({ heartbeatAgeS, ...rest }) =>
        makeHost({
          name,
          ...rest,
          lastHeartbeatAt: new Date(Date.parse(T0) - heartbeatAgeS * 1000).toISOString(),
        }),
      );
  const scenario = fc
    .uniqueArray(fc.stringMatching(/^h[a-z0-9]{0,6}$/), { minLength: 1, maxLength: 8 })
    .chain((hostNames) =>
      fc.record({
        hosts: fc.tuple(...hostNames.map(hostArb)),
        excluded: fc.subarray(hostNames, { maxLength: Math.min(2, hostNames.length) }),
        sourceIndex: fc.integer({ min: -1, max: hostNames.length - 1 }),
        flavor: fc.record({
          vcpus: fc.integer({ min: 1, max: 8 }),
          memoryMiB: fc.integer({ min: 1, max: 8192 }),
          diskGiB: fc.integer({ min: 1, max: 100 }),
        }),
      }),
    );

  it("returns only hosts with capacity, never the source or an excluded host; candidates + rejected partition the input", () => {
    let withCandidates = 0;
    fc.assert(
      fc.property(scenario, ({ hosts, excluded, sourceIndex, flavor }) => {
        const src = sourceIndex >= 0 ? hosts[sourceIndex]! : source;
        const decision = scheduleHosts(
          hosts,
          request({ flavor, excludedHosts: excluded, sourceHost: src, now: new Date(T0) }),
        );

        for (const h of decision.candidates) {
          // The claim policy's limit (floor of capacity x ratio, float error absorbed: 1 x 0.999999999 is 1):
          // what the store's claim enforces too.
          const limit = usageLimit(h);
          expect(h.usage.vcpus + flavor.vcpus).toBeLessThanOrEqual(limit.vcpus);
          expect(h.usage.memoryMiB + flavor.memoryMiB).toBeLessThanOrEqual(limit.memoryMiB);
          expect(h.usage.diskGiB + flavor.diskGiB).toBeLessThanOrEqual(limit.diskGiB);
          expect(h.name).not.toBe(src.name);
          expect(excluded).not.toContain(h.name);
          expect(h.enabled && !h.forcedDown && h.status === "up").toBe(true);
        }
        if (decision.candidates.length > 0) withCandidates++;

        const candidateNames = names(decision.candidates);
        const rejectedNames = Object.keys(decision.rejected);
        expect(new Set(candidateNames).size).toBe(candidateNames.length);
        expect(candidateNames.filter((n) => rejectedNames.includes(n))).toEqual([]);
        expect([...candidateNames, ...rejectedNames].sort()).toEqual(names(hosts).sort());
        // candidates are the input's own records, best (most free RAM) first
        for (const h of decision.candidates) expect(hosts).toContain(h);
        for (let i = 1; i < decision.candidates.length; i++) {
          expect(freeResources(decision.candidates[i - 1]!).memoryMiB).toBeGreaterThanOrEqual(
            freeResources(decision.candidates[i]!).memoryMiB,
          );
        }
      }),
      { numRuns: 300 },
    );
    // the generator must exercise the candidate side, not only rejections
    expect(withCandidates).toBeGreaterThan(20);
  });
});
