/**
 * Schedule against dynalite: a retried Schedule keeps the claim it made; concurrent placements spread as a
 * sequential run would; nova's affinity refuses a group whose host died; a target an earlier flow left
 * unproven is cleaned before any host is tried, and blocks the flow while it cannot be.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { accept } from "#functions/conductor/steps/accept.js";
import { schedule } from "#functions/conductor/steps/schedule.js";
import type { Instance } from "#shared/domain/schemas.js";
import { makeMigration } from "../../support/fixtures.js";
import {
  claimFor,
  claimsOf,
  rebuildExecutionArn,
  type StepWorld,
  seedHosts,
  seedInstance,
  useStepHarness,
} from "../../support/step-harness.js";

const newWorld = useStepHarness();

async function accepted(w: StepWorld, instance: Instance) {
  const requestId = randomUUID();
  return accept(w.deps, {
    request: { requestId, instanceUuid: instance.uuid, recreate: true },
    executionArn: rebuildExecutionArn(requestId),
  });
}

/** A dead source and three equal, empty, roomy targets t1-t3. */
async function threeBigTargets(): Promise<StepWorld> {
  const w = await newWorld();
  const big = { capacity: { vcpus: 64, memoryMiB: 65536, diskGiB: 1000 } };
  await seedHosts(w, [
    { name: "src", down: true, overrides: big },
    { name: "t1", overrides: big },
    { name: "t2", overrides: big },
    { name: "t3", overrides: big },
  ]);
  return w;
}

describe("schedule", () => {
  it("a retry after a crash right after the claim keeps that one claim (the migration named its host first)", async () => {
    const w = await newWorld();
    await seedHosts(w, [{ name: "src", down: true }, { name: "b" }, { name: "c" }, { name: "d" }]);
    const instance = await seedInstance(w, "src");
    const flow = await accepted(w, instance);
    // The crash: Schedule named c in the migration (before claiming, as it always does), claimed there,
    // and died before it returned.
    await w.db.stores.migrations.setDestination(flow.migrationId, "c", []);
    await claimFor(w, "c", instance, flow.migrationId);
    const first = await schedule(w.deps, flow);
    const second = await schedule(w.deps, flow);
    expect(first.destHost).toBe("c");
    expect(second.destHost).toBe("c");
    expect((await claimsOf(w, instance.uuid)).filter((c) => c.owner === flow.migrationId)).toEqual([
      { host: "c", owner: flow.migrationId },
    ]);
    expect(await w.db.stores.migrations.require(flow.migrationId)).toMatchObject({
      status: "pre-migrating",
      destHost: "c",
    });
  });

  it("12 equal instances evacuated at once onto 3 equal empty hosts end 4/4/4", async () => {
    const w = await threeBigTargets();
    const instances = await Promise.all(Array.from({ length: 12 }, () => seedInstance(w, "src")));
    const flows = await Promise.all(instances.map((i) => accepted(w, i)));
    const placed = await Promise.all(flows.map((f) => schedule(w.deps, f)));
    const count: Record<string, number> = {};
    for (const p of placed) count[p.destHost] = (count[p.destHost] ?? 0) + 1;
    expect(count).toEqual({ t1: 4, t2: 4, t3: 4 });
    for (const h of await w.db.stores.hosts.list()) {
      const sum = Object.values(h.claims).reduce((s, c) => s + c.resources.memoryMiB, 0);
      expect(h.usage.memoryMiB, h.name).toBe(sum);
    }
  });

  it("the host-evacuation plan's host is tried first while it passes the filters; once full, the weigher decides", async () => {
    const w = await newWorld();
    // b is emptier (the weigher's choice); the plan says c. c has room for exactly one.
    await seedHosts(w, [
      { name: "src", down: true },
      { name: "b" },
      { name: "c", overrides: { capacity: { vcpus: 1, memoryMiB: 512, diskGiB: 10 } } },
    ]);
    const [one, two] = await Promise.all([seedInstance(w, "src"), seedInstance(w, "src")]);
    const planned = async (i: Instance) => ({ ...(await accepted(w, i)), plannedHost: "c" });
    const unplanned = await schedule(w.deps, await accepted(w, await seedInstance(w, "src")));
    expect(unplanned.destHost).toBe("b");
    // The plan's host is tried on its own record: no page of the scheduler's index is read for it.
    const queries: string[] = [];
    const off = w.dynamo.onOperation((c) => {
      if (c.op === "Query") queries.push(c.body);
    });
    try {
      const first = await planned(one!);
      expect((await schedule(w.deps, first)).destHost).toBe("c");
      expect(queries).toEqual([]);
      // c is full now: the plan is only a hint, the filters and the weigher place the next one (the index read).
      expect((await schedule(w.deps, await planned(two!))).destHost).toBe("b");
      expect(queries).toHaveLength(1);
    } finally {
      off();
    }
  });

  it("16 evacuations at once, each with its plan's host, land exactly where the plan said", async () => {
    const w = await threeBigTargets();
    const instances = await Promise.all(Array.from({ length: 16 }, () => seedInstance(w, "src")));
    const plan = instances.map((_, k) => ["t1", "t2", "t3"][k % 3]!);
    const flows = await Promise.all(
      instances.map(async (i, k) => ({ ...(await accepted(w, i)), plannedHost: plan[k]! })),
    );
    // Counted at the DynamoDB endpoint: the claim writes on the hosts table, refused ones included.
    const claimWrites: number[] = [];
    const off = w.dynamo.onOperation((c) => {
      if (c.op === "UpdateItem" && c.body.includes('"claims"')) claimWrites.push(c.status);
    });
    const placed = await Promise.all(flows.map((f) => schedule(w.deps, f))).finally(off);
    expect(placed.map((p) => p.destHost)).toEqual(plan);
    // Siblings planned on one host claim it at once on room alone: no claim raced and was weighed again.
    expect(claimWrites).toEqual(plan.map(() => 200));
  });

  it("evacuations planned on a host with room for fewer than were planned there never overcommit it", async () => {
    const w = await newWorld();
    // The plan (stale: c's room went meanwhile) put all 6 on c, which has room for 3 of them.
    await seedHosts(w, [
      { name: "src", down: true },
      { name: "b", overrides: { capacity: { vcpus: 64, memoryMiB: 65536, diskGiB: 1000 } } },
      { name: "c", overrides: { capacity: { vcpus: 3, memoryMiB: 1536, diskGiB: 30 } } },
    ]);
    const instances = await Promise.all(Array.from({ length: 6 }, () => seedInstance(w, "src")));
    const flows = await Promise.all(
      instances.map(async (i) => ({ ...(await accepted(w, i)), plannedHost: "c" })),
    );
    const placed = await Promise.all(flows.map((f) => schedule(w.deps, f)));
    const on = (h: string) => placed.filter((p) => p.destHost === h).length;
    expect(on("c")).toBe(3);
    expect(on("b")).toBe(3);
    const c = await w.db.stores.hosts.require("c");
    expect(c.usage.vcpus).toBe(3);
    expect(c.usage.memoryMiB).toBe(Object.values(c.claims).reduce((s, x) => s + x.resources.memoryMiB, 0));
  });

  it("affinity: a group whose only host died has no valid host (nova), and nothing is claimed", async () => {
    const w = await newWorld();
    await seedHosts(w, [{ name: "src", down: true }, { name: "b" }, { name: "c" }]);
    const group = { id: "g-aff", policy: "affinity" as const };
    const a = await seedInstance(w, "src", { serverGroup: group });
    await seedInstance(w, "src", { serverGroup: group });
    const flow = await accepted(w, a);
    await expect(schedule(w.deps, flow)).rejects.toMatchObject({ name: "NoValidHost" });
    expect(await claimsOf(w, a.uuid)).toEqual([{ host: "src", owner: `boot-${a.uuid}` }]);
  });

  it("anti-affinity: two members evacuated at once never share a host", async () => {
    const w = await newWorld();
    // Both would go to b (the most free RAM) but for the group.
    await seedHosts(w, [
      { name: "s1", down: true },
      { name: "s2", down: true },
      { name: "b", overrides: { capacity: { vcpus: 64, memoryMiB: 65536, diskGiB: 1000 } } },
      { name: "c" },
    ]);
    const group = { id: "g-anti", policy: "anti-affinity" as const };
    const members = [
      await seedInstance(w, "s1", { serverGroup: group }),
      await seedInstance(w, "s2", { serverGroup: group }),
    ];
    const flows = await Promise.all(members.map((m) => accepted(w, m)));
    const placed = await Promise.all(flows.map((f) => schedule(w.deps, f)));
    expect(new Set(placed.map((p) => p.destHost)).size).toBe(2);
  });

  it("an earlier target left unclean is cleaned first; while it cannot be, no host is tried (TargetNotClean)", async () => {
    const w = await newWorld();
    await seedHosts(w, [{ name: "src", down: true }, { name: "b" }, { name: "c" }]);
    // An earlier evacuation gave up on b without proving it clean: its migration failed, its claim kept,
    // and the instance names b among its unclean targets (as the flow's end records it).
    const earlier = makeMigration({ status: "failed", destHost: "b", destNode: "b" });
    const instance = await seedInstance(w, "src", {
      uncleanTargets: [{ host: "b", requestId: earlier.id }],
    });
    await w.db.stores.migrations.create({ ...earlier, instanceUuid: instance.uuid });
    await claimFor(w, "b", instance, earlier.id);
    const flow = await accepted(w, instance);

    w.executor.on((call) => (call.host === "b" ? "unreachable" : undefined));
    await expect(schedule(w.deps, flow)).rejects.toMatchObject({ name: "TargetNotClean" });
    expect(await claimsOf(w, instance.uuid)).toContainEqual({ host: "b", owner: earlier.id });
    expect((await claimsOf(w, instance.uuid)).filter((c) => c.owner === flow.migrationId)).toEqual([]);

    w.executor.reset();
    const placed = await schedule(w.deps, flow);
    const cleaned = w.executor.calls.filter((c) => c.host === "b");
    expect(cleaned).toHaveLength(1);
    expect(cleaned[0]).toMatchObject({ document: "remove-domain", parameters: { uuid: instance.uuid } });
    expect(await claimsOf(w, instance.uuid)).not.toContainEqual({ host: "b", owner: earlier.id });
    expect(await claimsOf(w, instance.uuid)).toContainEqual({
      host: placed.destHost,
      owner: flow.migrationId,
    });
    expect((await w.db.stores.instances.require(instance.uuid)).uncleanTargets).toEqual([]);
  });

  it("the dead source of an earlier successful evacuation is not taken for an unclean target", async () => {
    const w = await newWorld();
    await seedHosts(w, [{ name: "old", down: true }, { name: "src", down: true }, { name: "c" }]);
    const instance = await seedInstance(w, "src");
    const done = makeMigration({
      instanceUuid: instance.uuid,
      status: "done",
      sourceHost: "old",
      destHost: "src",
    });
    await w.db.stores.migrations.create(done);
    await claimFor(w, "old", instance, "boot");
    const flow = await accepted(w, instance);
    await expect(schedule(w.deps, flow)).resolves.toMatchObject({ destHost: "c" });
    expect(w.executor.calls).toEqual([]);
  });
});
