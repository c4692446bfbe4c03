import { randomUUID } from "node:crypto";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RESOURCE_KINDS, resourceLimit } from "#shared/domain/claim-policy.js";
import { ClaimRefused, HostNotFound } from "#shared/domain/errors.js";
import type { Host, Resources } from "#shared/domain/schemas.js";
import { HostsStore } from "#shared/store/hosts-store.js";
import { readBarrier, withoutOldItem } from "../../support/doc-wrappers.js";
import { startTestDynamo, type TestDynamo } from "../../support/dynamo.js";
import { makeHost } from "../../support/fixtures.js";

let db: TestDynamo;
beforeAll(async () => {
  db = await startTestDynamo({ prefix: "hosts" });
});
afterAll(() => db.close());

const settle = <T>(p: Promise<T>) =>
  p.then(
    (v) => ({ ok: true as const, v }),
    (e: unknown) => ({ ok: false as const, e }),
  );
const ONE_CPU: Resources = { vcpus: 1, memoryMiB: 128, diskGiB: 1 };
const uniqueName = (p = "h") => `${p}-${randomUUID().slice(0, 8)}`;

/** usage == sum of claims, and never above floor(capacity x ratio). */
function expectInvariant(host: Host): void {
  for (const kind of RESOURCE_KINDS) {
    const sum = Object.values(host.claims).reduce((acc, c) => acc + c.resources[kind], 0);
    expect(host.usage[kind], `${host.name} ${kind}`).toBe(sum);
    expect(host.usage[kind]).toBeLessThanOrEqual(resourceLimit(host, kind));
  }
  for (const [group, member] of Object.entries(host.antiAffinity)) {
    expect(host.claims[member]?.serverGroup?.id, `anti-affinity slot ${group}`).toBe(group);
  }
}

function claimReq(instanceUuid = randomUUID(), resources = ONE_CPU, owner = `mig-${instanceUuid}`) {
  return { instanceUuid, resources, owner, serverGroup: null };
}

describe("HostsStore basics", () => {
  it("put/get/require/list and setService; forced_down is written only with a proof of death", async () => {
    const { hosts } = db.stores;
    const name = uniqueName();
    const host = await hosts.put(makeHost({ name }));
    expect(await hosts.get(name)).toEqual(host);
    await expect(hosts.require(uniqueName())).rejects.toBeInstanceOf(HostNotFound);
    expect((await hosts.list()).map((h) => h.name)).toContain(name);
    const proof = {
      kind: "power" as const,
      at: "2026-02-01T00:00:00.000Z",
      incidentId: "inc-1",
      detail: "fenced off",
    };
    const down = await hosts.setService(name, {
      enabled: false,
      disabledReason: "host failure",
      deathProof: proof,
    });
    expect(down).toMatchObject({
      enabled: false,
      disabledReason: "host failure",
      forcedDown: true,
      deathProof: proof,
      version: 1,
    });
    // forced_down on its own is no field of a service patch: it says the host is proven dead.
    await expect(hosts.setService(name, { forcedDown: false } as never)).rejects.toMatchObject({
      name: "InvalidInput",
    });
    const beat = await hosts.setService(name, {
      status: "down",
      lastHeartbeatAt: "2026-02-01T00:00:00.000Z",
    });
    expect(beat).toMatchObject({ status: "down", enabled: false, version: 2, forcedDown: true });
    const cleared = await hosts.setService(name, { deathProof: null });
    expect(cleared).toMatchObject({ forcedDown: false, deathProof: null, version: 3 });
    await expect(hosts.setService(uniqueName(), { enabled: true })).rejects.toBeInstanceOf(HostNotFound);
  });

  it("an operator's force-down records proof `operator` unless a proof is there; unset clears any", async () => {
    const { hosts } = db.stores;
    const name = uniqueName();
    await hosts.put(makeHost({ name }));
    const said = {
      kind: "operator" as const,
      at: "2026-02-01T00:00:00.000Z",
      incidentId: null,
      detail: "ops",
    };
    expect(await hosts.forceDown(name, said)).toMatchObject({ forcedDown: true, deathProof: said });
    // A second statement changes nothing (the first one's time stands).
    const later = { ...said, at: "2026-02-01T01:00:00.000Z" };
    expect((await hosts.forceDown(name, later)).deathProof).toEqual(said);
    expect(await hosts.forceDown(name, null)).toMatchObject({ forcedDown: false, deathProof: null });
    // The fence's proof is kept over an operator's later word; unset clears it too.
    const power = { ...said, kind: "power" as const, detail: "fenced" };
    await hosts.setService(name, { deathProof: power });
    expect((await hosts.forceDown(name, later)).deathProof).toEqual(power);
    expect(await hosts.forceDown(name, null)).toMatchObject({ forcedDown: false, deathProof: null });
  });
});

describe("claims", () => {
  it("50 concurrent claims against room for 20 (5 vCPUs x ratio 4): exactly 20 succeed", async () => {
    const name = uniqueName();
    await db.stores.hosts.put(
      makeHost({
        name,
        capacity: { vcpus: 5, memoryMiB: 65536, diskGiB: 1000 },
        allocationRatios: { cpu: 4, ram: 1, disk: 1 },
      }),
    );
    // Every claim reads the empty host before any writes.
    const hosts = new HostsStore({ doc: readBarrier(db.doc, 50), tables: db.tables });
    const results = await Promise.all(
      Array.from({ length: 50 }, () => settle(hosts.claim(name, claimReq()))),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(20);
    for (const r of results.filter((r) => !r.ok)) {
      const e = r.ok ? null : r.e;
      expect(e).toBeInstanceOf(ClaimRefused);
      expect((e as ClaimRefused).details).toMatchObject({
        resource: "vcpus",
        requested: 1,
        used: 20,
        limit: 20,
      });
      expect((e as ClaimRefused).message).toMatch(/not enough vcpus .*requested 1, used 20, limit 20/);
    }
    const host = await db.stores.hosts.require(name);
    expect(Object.keys(host.claims)).toHaveLength(20);
    expect(host.usage.vcpus).toBe(20);
    expectInvariant(host);
  });

  it("50 concurrent claims over 2 hosts x 10 vCPUs, via a server without ALL_OLD: exactly 20 succeed", async () => {
    const names = [uniqueName(), uniqueName()];
    for (const name of names) {
      await db.stores.hosts.put(makeHost({ name, capacity: { vcpus: 10, memoryMiB: 65536, diskGiB: 1000 } }));
    }
    const hosts = new HostsStore({ doc: withoutOldItem(db.doc), tables: db.tables });
    // Each instance tries the hosts in turn, like the scheduler's candidate loop.
    const place = async (i: number) => {
      const req = claimReq();
      for (const name of i % 2 ? names : [...names].reverse()) {
        try {
          return await hosts.claim(name, req);
        } catch (e) {
          if (!(e instanceof ClaimRefused)) throw e;
        }
      }
      throw new ClaimRefused("no room");
    };
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => settle(place(i))));
    expect(results.filter((r) => r.ok)).toHaveLength(20);
    for (const name of names) {
      const host = await db.stores.hosts.require(name);
      expect(host.usage.vcpus).toBe(10);
      expectInvariant(host);
    }
  });

  it("refuses on memory or disk too, saying which resource", async () => {
    const { hosts } = db.stores;
    const name = uniqueName();
    await hosts.put(
      makeHost({
        name,
        capacity: { vcpus: 8, memoryMiB: 1024, diskGiB: 10 },
        allocationRatios: { cpu: 1, ram: 1.5, disk: 1 },
      }),
    );
    await hosts.claim(name, claimReq(randomUUID(), { vcpus: 1, memoryMiB: 1000, diskGiB: 1 }));
    const e = await hosts
      .claim(name, claimReq(randomUUID(), { vcpus: 1, memoryMiB: 600, diskGiB: 1 }))
      .catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ClaimRefused);
    expect((e as ClaimRefused).details).toMatchObject({
      resource: "memoryMiB",
      requested: 600,
      used: 1000,
      limit: 1536,
    });
    const d = await hosts
      .claim(name, claimReq(randomUUID(), { vcpus: 1, memoryMiB: 1, diskGiB: 10 }))
      .catch((x: unknown) => x);
    expect((d as ClaimRefused).details).toMatchObject({
      resource: "diskGiB",
      requested: 10,
      used: 1,
      limit: 10,
    });
    expectInvariant(await hosts.require(name));
    await expect(hosts.claim(uniqueName(), claimReq())).rejects.toBeInstanceOf(HostNotFound);
  });

  it("is idempotent for the same owner and refused for another owner", async () => {
    const { hosts } = db.stores;
    const name = uniqueName();
    await hosts.put(makeHost({ name }));
    const req = claimReq();
    const first = await hosts.claim(name, req);
    expect(first.created).toBe(true);
    const again = await hosts.claim(name, req);
    expect(again.created).toBe(false);
    expect(again.claim).toEqual(first.claim);
    // Concurrent retries by the same owner: still one claim.
    await Promise.all(Array.from({ length: 5 }, () => hosts.claim(name, req)));
    const e = await hosts.claim(name, { ...req, owner: "someone-else" }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ClaimRefused);
    expect((e as ClaimRefused).details).toMatchObject({
      reason: "claimed-by-other-owner",
      existingOwner: req.owner,
    });
    const host = await hosts.require(name);
    expect(host.usage.vcpus).toBe(1);
    expectInvariant(host);
  });

  it("decided on a record the caller read (`known`) that is no longer current: decided again on the item, never past the limit", async () => {
    const { hosts } = db.stores;
    const name = uniqueName();
    await hosts.put(makeHost({ name, capacity: { vcpus: 10, memoryMiB: 65536, diskGiB: 1000 } }));
    // As the scheduler read it: empty, no claims (the index's entry has none), no group slot taken.
    const stale = await hosts.require(name);
    const group = { id: "g-known", policy: "anti-affinity" as const };
    const member = claimReq();
    await hosts.claim(name, { ...member, serverGroup: group });
    const mine = claimReq();
    await hosts.claim(name, mine);

    // 50 claims at once, each decided on the empty record: exactly the 8 left fit.
    const results = await Promise.all(
      Array.from({ length: 50 }, () => settle(hosts.claim(name, claimReq(), { known: stale }))),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(8);
    for (const r of results.filter((r) => !r.ok)) {
      expect(r.ok ? null : r.e).toBeInstanceOf(ClaimRefused);
    }
    // The claim already made by this owner is found (not made twice); another owner's is refused; the
    // group's slot is still held; each though the record passed in shows none of them.
    const again = await hosts.claim(name, mine, { known: stale });
    expect(again.created).toBe(false);
    const other = await hosts
      .claim(name, { ...mine, owner: "other" }, { known: stale })
      .catch((e: unknown) => e);
    expect((other as ClaimRefused).details).toMatchObject({ reason: "claimed-by-other-owner" });
    const slot = await hosts
      .claim(
        name,
        { ...claimReq(), serverGroup: group },
        { known: { ...stale, usage: { vcpus: 0, memoryMiB: 0, diskGiB: 0 } } },
      )
      .catch((e: unknown) => e);
    expect(slot).toBeInstanceOf(ClaimRefused);
    const host = await hosts.require(name);
    expect(host.usage.vcpus).toBe(10);
    expect(host.antiAffinity).toEqual({ [group.id]: member.instanceUuid });
    expectInvariant(host);
  });

  it("anti-affinity race: 10 members of one group on one host, exactly one wins", async () => {
    const name = uniqueName();
    await db.stores.hosts.put(makeHost({ name, capacity: { vcpus: 64, memoryMiB: 65536, diskGiB: 1000 } }));
    const hosts = new HostsStore({ doc: readBarrier(db.doc, 10), tables: db.tables });
    const group = { id: "web-tier", policy: "anti-affinity" as const };
    const results = await Promise.all(
      Array.from({ length: 10 }, () => settle(hosts.claim(name, { ...claimReq(), serverGroup: group }))),
    );
    const winners = results.filter((r) => r.ok);
    expect(winners).toHaveLength(1);
    for (const r of results.filter((r) => !r.ok)) {
      const e = r.ok ? null : r.e;
      expect(e).toBeInstanceOf(ClaimRefused);
      expect((e as ClaimRefused).details).toMatchObject({ reason: "anti-affinity", serverGroup: "web-tier" });
    }
    const host = await db.stores.hosts.require(name);
    const winner = winners[0]!.ok ? winners[0]!.v.claim.instanceUuid : "";
    expect(host.antiAffinity).toEqual({ "web-tier": winner });
    // Affinity and other groups are not limited by the slot.
    await hosts.claim(name, { ...claimReq(), serverGroup: { id: "db-tier", policy: "anti-affinity" } });
    await hosts.claim(name, { ...claimReq(), serverGroup: { id: "web-tier", policy: "affinity" } });
    expectInvariant(await db.stores.hosts.require(name));
  });

  it("release subtracts, frees the anti-affinity slot, and is idempotent", async () => {
    const { hosts } = db.stores;
    const name = uniqueName();
    await hosts.put(makeHost({ name }));
    const group = { id: "g1", policy: "anti-affinity" as const };
    const a = { ...claimReq(randomUUID(), { vcpus: 2, memoryMiB: 256, diskGiB: 3 }), serverGroup: group };
    await hosts.claim(name, a);
    await hosts.claim(name, claimReq());
    // A release by another owner leaves the claim alone.
    expect((await hosts.release(name, a.instanceUuid, { owner: "not-me" })).released).toBeNull();
    const released = await hosts.release(name, a.instanceUuid, { owner: a.owner });
    expect(released.released?.owner).toBe(a.owner);
    expect(released.host.antiAffinity).toEqual({});
    expect(released.host.usage).toEqual({ vcpus: 1, memoryMiB: 128, diskGiB: 1 });
    expectInvariant(released.host);
    expect((await hosts.release(name, a.instanceUuid)).released).toBeNull();
    expect((await hosts.release(name, randomUUID())).released).toBeNull();
    // Concurrent releases of one claim: it is subtracted once.
    const b = claimReq();
    await hosts.claim(name, b);
    const rs = await Promise.all(Array.from({ length: 5 }, () => hosts.release(name, b.instanceUuid)));
    expect(rs.filter((r) => r.released)).toHaveLength(1);
    const host = await hosts.require(name);
    expect(host.usage.vcpus).toBe(1);
    expectInvariant(host);
    // The slot is free again for another member.
    await hosts.claim(name, { ...claimReq(), serverGroup: group });
  });

  it.each([
    [3, true],
    [2, false],
  ])(
    "a capacity change (4 -> %i vCPUs) between the read and the write is re-decided on the new capacity",
    async (shrunk, fits) => {
      const name = uniqueName();
      await db.stores.hosts.put(makeHost({ name, capacity: { vcpus: 4, memoryMiB: 4096, diskGiB: 100 } }));
      let changed = false;
      const send = db.doc.send.bind(db.doc) as (c: unknown) => Promise<unknown>;
      // Right after the claim has read the host, the operator shrinks it.
      const doc = {
        send: async (command: unknown) => {
          const out = await send(command);
          if (!changed) {
            changed = true;
            const host = await db.stores.hosts.require(name);
            await db.stores.hosts.put({ ...host, capacity: { ...host.capacity, vcpus: shrunk } });
          }
          return out;
        },
      } as unknown as typeof db.doc;
      const claim = new HostsStore({ doc, tables: db.tables }).claim(
        name,
        claimReq(randomUUID(), { vcpus: 3, memoryMiB: 1, diskGiB: 1 }),
      );
      if (fits) {
        expect((await claim).created).toBe(true);
      } else {
        const e = await claim.catch((x: unknown) => x);
        expect(e).toBeInstanceOf(ClaimRefused);
        expect((e as ClaimRefused).details).toMatchObject({
          resource: "vcpus",
          requested: 3,
          used: 0,
          limit: 2,
        });
      }
      const host = await db.stores.hosts.require(name);
      expect(host.usage.vcpus).toBe(fits ? 3 : 0);
      expectInvariant(host);
    },
  );

  it("property: any interleaving of concurrent claims and releases keeps usage == sum of claims <= limit", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            release: fc.boolean(),
            vcpus: fc.integer({ min: 0, max: 3 }),
            mem: fc.integer({ min: 1, max: 700 }),
          }),
          {
            minLength: 1,
            maxLength: 25,
          },
        ),
        async (ops) => {
          const name = uniqueName("p");
          await db.stores.hosts.put(
            makeHost({
              name,
              capacity: { vcpus: 4, memoryMiB: 2048, diskGiB: 100 },
              allocationRatios: { cpu: 2, ram: 1, disk: 1 },
            }),
          );
          const { hosts } = db.stores;
          const uuids = ops.map(() => randomUUID());
          await Promise.all(
            ops.map(async (op, i) => {
              const req = claimReq(uuids[i], { vcpus: op.vcpus, memoryMiB: op.mem, diskGiB: 1 });
              await hosts.claim(name, req).catch((e: unknown) => {
                if (!(e instanceof ClaimRefused)) throw e;
              });
              if (op.release) await hosts.release(name, req.instanceUuid);
            }),
          );
          expectInvariant(await hosts.require(name));
        },
      ),
      { numRuns: 15 },
    );
  });
});
