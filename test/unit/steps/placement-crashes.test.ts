/**
 * A crash at every point of the placing steps of the boot and migrate flows (ScheduleBoot, ScheduleMigration),
 * made to happen for real: the step runs against dynalite through the DynamoDB fault proxy, and the answer of
 * the write before the point is lost (the write is made, the step dies right after it, the SDK retrying
 * nothing), so the state left is the one the step itself wrote. From each such state:
 *  - a retry of the step (the machine's Retry): exactly one claim owned by the flow in the whole fleet, on
 *    the host the step returns, which the build / migration names; nothing made twice;
 *  - two retries at once: the same;
 *  - instead of a retry, the flow's failure end (HandleBootFailure, HandleFailure; and the sweeper's end of a
 *    dead execution): no claim owned by the flow on any host, the build failed (or the instance in ERROR) /
 *    the migration in error, the instance as it was; a delete afterwards (finishDelete) leaves no claim at all.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { acceptBoot } from "#functions/conductor/steps/accept-boot.js";
import { acceptDelete } from "#functions/conductor/steps/accept-delete.js";
import { finishDelete } from "#functions/conductor/steps/finish-delete.js";
import { handleBootFailure } from "#functions/conductor/steps/handle-boot-failure.js";
import { scheduleBoot } from "#functions/conductor/steps/schedule-boot.js";
import { acceptMigration } from "#functions/migration/steps/accept.js";
import { handleMigrationFailure } from "#functions/migration/steps/handle-failure.js";
import { scheduleMigration } from "#functions/migration/steps/schedule.js";
import { SWEEP_MIN_AGE_SECONDS, sweep } from "#functions/sweeper/sweep.js";
import type { DynamoFaultProxy } from "#local/dynamo/fault-proxy.js";
import { checkInvariants } from "#local/invariants.js";
import type { StepDeps } from "#shared/flow/deps.js";
import type { MigrationFlow } from "#shared/flow/migration-contract.js";
import type { TableId } from "#shared/store/tables.js";
import { makeBuildSpec } from "../../support/fixtures.js";
import {
  executionArn as arn,
  caughtAs,
  claimsOf,
  type StepWorld,
  seedHosts,
  seedInstance,
  useStepHarness,
} from "../../support/step-harness.js";

/** Each test's own tables (on the file's dynalite), hosts seeded by the test. */
const emptyWorld = useStepHarness();

/** The write whose answer is lost: the step dies right after it. */
interface CrashAfter {
  operation: "UpdateItem" | "PutItem";
  table: TableId;
}

/**
 * Runs `step` with the world's stores through the fault proxy, the answer of the next `after` write lost:
 * the step must die there (InternalServerError, the write made). Returns what the machine's Catch records.
 */
async function crash(w: StepWorld, after: CrashAfter, step: (deps: StepDeps) => Promise<unknown>) {
  const { deps, proxy } = await w.faulty();
  proxy.failNext("lost-response", 1, after.operation, w.db.tables[after.table]);
  const error = await step(deps).then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toMatchObject({ name: "InternalServerError" });
  expect(proxy.stats().faults["lost-response"]).toBe(1);
  return caughtAs(error);
}

/** The claims `owner` holds in the whole fleet. */
async function claimsOwnedBy(w: StepWorld, uuid: string, owner: string) {
  return (await claimsOf(w, uuid)).filter((c) => c.owner === owner);
}

/** Usage is the sum of the claims on every host; `quiet`: nothing held either (no claim of no record). */
async function expectConsistent(w: StepWorld, quiet = false) {
  expect(await checkInvariants(w.db.stores, new Map(), { quiet })).toEqual([]);
}

/** Three equal empty roomy hosts: a placement that forgot its own claim would take another one. */
const roomy = { capacity: { vcpus: 64, memoryMiB: 65536, diskGiB: 1000 } };

// ---------------------------------------------------------------------------------------------------------
// ScheduleBoot: names the host on the build, claims it, writes the instance record, sets the build `placed`.

const BOOT_CRASHES: { point: string; after: CrashAfter }[] = [
  {
    point: "(a) between naming the host and its claim",
    after: { operation: "UpdateItem", table: "actions" },
  },
  {
    point: "(b) between the claim and the instance record",
    after: { operation: "UpdateItem", table: "hosts" },
  },
  {
    point: "(c) between the instance record and `placed`",
    after: { operation: "PutItem", table: "instances" },
  },
];

/** A build accepted on three equal hosts, ScheduleBoot crashed at `after`; the state it left, checked. */
async function crashedBoot(after: CrashAfter) {
  const w = await emptyWorld();
  await seedHosts(
    w,
    ["h1", "h2", "h3"].map((name) => ({ name, overrides: roomy })),
  );
  const build = makeBuildSpec();
  const requestId = randomUUID();
  const state = await acceptBoot(w.deps, {
    request: { requestId, build },
    executionArn: arn("boot", requestId),
  });
  const failure = await crash(w, after, (deps) => scheduleBoot(deps, state));
  const uuid = build.instanceUuid;
  const named = (await w.db.stores.actions.require(requestId)).build!;
  expect(named.status).toBe("building");
  expect(named.targetHost).toMatch(/^h[123]$/);
  const claims = await claimsOf(w, uuid);
  const instance = await w.db.stores.instances.get(uuid);
  if (after.table === "actions") {
    expect(claims).toEqual([]);
    expect(instance).toBeNull();
  } else {
    expect(claims).toEqual([{ host: named.targetHost, owner: requestId }]);
    if (after.table === "hosts") expect(instance).toBeNull();
    else expect(instance).toMatchObject({ host: named.targetHost, taskRequestId: requestId });
  }
  return { w, state, requestId, uuid, failure, namedBefore: named.targetHost! };
}

/** Whether the build is listed as a server of its own (by-unplaced-build: being scheduled, or failed). */
async function listedUnplaced(w: StepWorld, requestId: string) {
  return (await w.db.stores.actions.unplacedBuilds()).some((a) => a.id === requestId);
}

/** The boot placed once: one claim of the flow, on `host`, which the build and the record name. */
async function expectPlacedOnce(w: StepWorld, requestId: string, uuid: string, host: string) {
  expect(await claimsOf(w, uuid)).toEqual([{ host, owner: requestId }]);
  expect((await w.db.stores.actions.require(requestId)).build).toMatchObject({
    status: "placed",
    targetHost: host,
  });
  expect(await listedUnplaced(w, requestId)).toBe(false);
  expect(await w.db.stores.instances.list()).toEqual([
    expect.objectContaining({ uuid, host, taskRequestId: requestId }),
  ]);
  await expectConsistent(w);
}

/**
 * The boot ended: no claim of it anywhere; the build failed, or (a record was written) the instance in ERROR
 * and the build placed (never left "being scheduled" beside its record).
 */
async function expectBootUndone(w: StepWorld, requestId: string, uuid: string) {
  expect(await claimsOf(w, uuid)).toEqual([]);
  const instance = await w.db.stores.instances.get(uuid);
  const build = (await w.db.stores.actions.require(requestId)).build;
  if (instance) {
    expect(instance).toMatchObject({ vmState: "error", taskState: null, taskRequestId: null });
    expect(instance.fault).not.toBeNull();
    expect(build?.status).toBe("placed");
    expect(await listedUnplaced(w, requestId)).toBe(false);
  } else {
    expect(build?.status).toBe("failed");
  }
  await expectConsistent(w, true);
}

describe("ScheduleBoot crashed", () => {
  describe.each(BOOT_CRASHES)("$point", ({ after }) => {
    it("its retry places it once, on the host it returns, which the build names", async () => {
      const { w, state, requestId, uuid, namedBefore } = await crashedBoot(after);
      const placed = await scheduleBoot(w.deps, state);
      // A claim made before the crash is kept where it is (a retry that forgot it would take another host).
      if (after.table !== "actions") expect(placed.host).toBe(namedBefore);
      await expectPlacedOnce(w, requestId, uuid, placed.host!);
      expect(await scheduleBoot(w.deps, state)).toEqual(placed);
      await expectPlacedOnce(w, requestId, uuid, placed.host!);
    });

    it("two retries at once place it once", async () => {
      const { w, state, requestId, uuid } = await crashedBoot(after);
      const [one, two] = await Promise.all([scheduleBoot(w.deps, state), scheduleBoot(w.deps, state)]);
      expect(two.host).toBe(one.host);
      await expectPlacedOnce(w, requestId, uuid, one.host!);
    });

    it("its failure end (HandleBootFailure) leaves no claim; the build failed, the instance (if any) in ERROR", async () => {
      const { w, state, requestId, uuid, failure } = await crashedBoot(after);
      const ending = await handleBootFailure(w.deps, { ...state, failure: { scheduleBoot: failure } });
      expect(ending).toMatchObject({ outcome: "failed", error: "InternalServerError" });
      await expectBootUndone(w, requestId, uuid);
      // Nothing was ever on a host: none is asked to clean up.
      expect(w.executor.calls).toEqual([]);
      const instance = await w.db.stores.instances.get(uuid);
      if (!instance) return;
      // The ERROR instance a record was written for is deleted as any: nothing of it is left.
      const deleteId = randomUUID();
      const del = await acceptDelete(w.deps, {
        request: { requestId: deleteId, instanceUuid: uuid },
        executionArn: arn("delete", deleteId),
      });
      await finishDelete(w.deps, del);
      expect(await w.db.stores.instances.require(uuid)).toMatchObject({ vmState: "deleted" });
      expect(await claimsOf(w, uuid)).toEqual([]);
      await expectConsistent(w, true);
    });

    it("the sweeper ends it when its execution died there: no claim", async () => {
      const { w, requestId, uuid } = await crashedBoot(after);
      w.executions.statuses.set(arn("boot", requestId), "FAILED");
      const later = Date.now() + (SWEEP_MIN_AGE_SECONDS + 1) * 1000;
      w.deps.now = () => new Date(later);
      const report = await sweep(w.deps);
      expect(report.endedTasks).toEqual([expect.objectContaining({ requestId, outcome: "ended-in-error" })]);
      await expectBootUndone(w, requestId, uuid);
    });
  });
});

type Hold = ReturnType<DynamoFaultProxy["holdNext"]>;

/** How a stalled attempt ended (looked at once it woke, never thrown). */
function settled<T>(p: Promise<T>): Promise<{ value: T } | { error: unknown }> {
  return p.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
}

/**
 * An attempt that stalled (a Lambda the machine gave up on, still running) and a retry: the stalled one
 * is frozen right before it reads the scheduler's index (it saw no claim of its own yet), the retry runs
 * to `retryHeldAt` (or to its end), then the stalled one wakes and goes on to its end (or dies right after
 * `stalledDiesAfter`), then the retry.
 */
async function stalledAndRetried<T>(
  w: StepWorld,
  step: (deps: StepDeps) => Promise<T>,
  retryHeldAt?: (proxy: DynamoFaultProxy) => Hold,
  stalledDiesAfter?: CrashAfter,
) {
  const stalled = await w.faulty();
  const frozen = stalled.proxy.holdNext("Query", w.db.tables.hosts);
  if (stalledDiesAfter) {
    const { operation, table } = stalledDiesAfter;
    stalled.proxy.failNext("lost-response", 1, operation, w.db.tables[table]);
  }
  const zombie = settled(step(stalled.deps));
  await frozen.reached;
  const retrying = await w.faulty();
  const held = retryHeldAt?.(retrying.proxy);
  const retry = settled(step(retrying.deps));
  await (held ? held.reached : retry);
  frozen.release();
  const woke = await zombie;
  held?.release();
  return { woke, retry: await retry };
}

describe("ScheduleBoot: an attempt that stalled wakes while its retry places the build", () => {
  const atPoint = BOOT_CRASHES[0]!.after;

  it("after the retry placed it: still one claim, the build and the record on the retry's host", async () => {
    const { w, state, requestId, uuid } = await crashedBoot(atPoint);
    const { woke, retry } = await stalledAndRetried(w, (deps) => scheduleBoot(deps, state));
    const host = (await w.db.stores.instances.require(uuid)).host;
    expect(retry).toEqual({ value: expect.objectContaining({ host }) });
    // It woke to find the build placed: it names (and claims) nothing.
    expect(woke).toEqual({ error: expect.objectContaining({ name: "ConcurrentUpdate" }) });
    await expectPlacedOnce(w, requestId, uuid, host);
  });

  it("between the retry's claim and its record: one claim, on the record's host", async () => {
    const { w, state, requestId, uuid } = await crashedBoot(atPoint);
    const { woke, retry } = await stalledAndRetried(
      w,
      (deps) => scheduleBoot(deps, state),
      (proxy) => proxy.holdNext("PutItem", w.db.tables.instances),
    );
    // The one that woke claimed another host (the retry's had less room) and wrote the record first: that
    // placement stands; the retry gave its own claim up and goes on with it.
    const host = (await w.db.stores.instances.require(uuid)).host;
    expect(woke).toEqual({ value: expect.objectContaining({ host }) });
    expect(retry).toEqual({ value: expect.objectContaining({ host }) });
    await expectPlacedOnce(w, requestId, uuid, host);
  });
});

describe("ScheduleBoot: an attempt that stalled wakes, claims another host and dies there", () => {
  it("the retry's record names its own host: the build says so, and the other claim is let go", async () => {
    const { w, state, requestId, uuid } = await crashedBoot(BOOT_CRASHES[0]!.after);
    const { woke, retry } = await stalledAndRetried(
      w,
      (deps) => scheduleBoot(deps, state),
      (proxy) => proxy.holdNext("PutItem", w.db.tables.instances),
      { operation: "UpdateItem", table: "hosts" },
    );
    expect(woke).toEqual({ error: expect.objectContaining({ name: "InternalServerError" }) });
    const host = (await w.db.stores.instances.require(uuid)).host;
    expect(retry).toEqual({ value: expect.objectContaining({ host }) });
    await expectPlacedOnce(w, requestId, uuid, host);
  });
});

// ---------------------------------------------------------------------------------------------------------
// ScheduleMigration: names the destination on the migration (still `accepted`), claims it, transitions it.

const MIGRATION_CRASHES: { point: string; after: CrashAfter }[] = [
  {
    point: "(a) between naming the destination and its claim",
    after: { operation: "UpdateItem", table: "migrations" },
  },
  { point: "(b) between the claim and the transition", after: { operation: "UpdateItem", table: "hosts" } },
];

/** An instance on src, its migration (to a host the scheduler picks) accepted, ScheduleMigration crashed. */
async function crashedMigration(after: CrashAfter, live: boolean) {
  const w = await emptyWorld();
  await seedHosts(
    w,
    ["src", "b", "c"].map((name) => ({
      name,
      overrides: {
        ...roomy,
        liveMigration: {
          uri: `qemu+unix:///session?socket=/run/${name}.sock`,
          inboundAddress: "127.0.0.1",
          poolIsLocalFolder: true,
        },
      },
    })),
  );
  const instance = await seedInstance(w, "src");
  const requestId = randomUUID();
  const flow = await acceptMigration(w.deps, {
    request: { requestId, instanceUuid: instance.uuid, targetHost: null, live },
    executionArn: arn("migrate", requestId),
  });
  const failure = await crash(w, after, (deps) => scheduleMigration(deps, flow));
  const migration = await w.db.stores.migrations.require(flow.migrationId);
  expect(migration.status).toBe("accepted");
  expect(migration.destHost).toMatch(/^[bc]$/);
  const sourceClaim = { host: "src", owner: `boot-${instance.uuid}` };
  expect(await claimsOf(w, instance.uuid)).toEqual(
    after.table === "migrations"
      ? [sourceClaim]
      : expect.arrayContaining([sourceClaim, { host: migration.destHost, owner: flow.migrationId }]),
  );
  return { w, flow, instance, failure, namedBefore: migration.destHost!, sourceClaim };
}

/** The migration scheduled once: one claim of the flow, on `host`, which the migration names. */
async function expectScheduledOnce(w: StepWorld, flow: MigrationFlow, host: string, live: boolean) {
  expect(await claimsOwnedBy(w, flow.instanceUuid, flow.migrationId)).toEqual([
    { host, owner: flow.migrationId },
  ]);
  expect(await w.db.stores.migrations.require(flow.migrationId)).toMatchObject({
    status: live ? "preparing" : "pre-migrating",
    destHost: host,
  });
  expect(await claimsOf(w, flow.instanceUuid)).toHaveLength(2);
  await expectConsistent(w);
}

/**
 * The migration ended: no claim of it; the instance as it was, on src with its own claim; the migration in
 * error (nova's status for a cold migration's failure; a live one that failed other than refused: failed).
 */
async function expectMigrationUndone(w: StepWorld, flow: MigrationFlow, sourceClaim: unknown) {
  expect(await claimsOf(w, flow.instanceUuid)).toEqual([sourceClaim]);
  expect(await w.db.stores.instances.require(flow.instanceUuid)).toMatchObject({
    host: "src",
    vmState: "active",
    powerState: "running",
    taskState: null,
    taskRequestId: null,
  });
  expect((await w.db.stores.migrations.require(flow.migrationId)).status).toBe(
    flow.live ? "failed" : "error",
  );
  await expectConsistent(w, true);
}

describe("ScheduleMigration crashed", () => {
  describe.each(
    MIGRATION_CRASHES.flatMap((c) => [
      { ...c, live: false, kind: "cold" },
      { ...c, live: true, kind: "live" },
    ]),
  )("$point ($kind)", ({ after, live }) => {
    it("its retry schedules it once, on the host it returns, which the migration names", async () => {
      const { w, flow, namedBefore } = await crashedMigration(after, live);
      const scheduled = await scheduleMigration(w.deps, flow);
      if (after.table === "hosts") expect(scheduled.destHost).toBe(namedBefore);
      await expectScheduledOnce(w, flow, scheduled.destHost, live);
      expect((await scheduleMigration(w.deps, flow)).destHost).toBe(scheduled.destHost);
      await expectScheduledOnce(w, flow, scheduled.destHost, live);
    });

    it("two retries at once schedule it once", async () => {
      const { w, flow } = await crashedMigration(after, live);
      const [one, two] = await Promise.all([
        scheduleMigration(w.deps, flow),
        scheduleMigration(w.deps, flow),
      ]);
      expect(two.destHost).toBe(one.destHost);
      await expectScheduledOnce(w, flow, one.destHost, live);
    });

    it("its failure end (HandleFailure) leaves no claim of it: on src as it was, the migration in error", async () => {
      const { w, flow, failure, sourceClaim } = await crashedMigration(after, live);
      const ending = await handleMigrationFailure(w.deps, { ...flow, failure: { schedule: failure } });
      expect(ending).toMatchObject({ outcome: "failed", error: "InternalServerError" });
      expect(w.executor.calls).toEqual([]);
      await expectMigrationUndone(w, flow, sourceClaim);
      // A delete afterwards lets go of every claim the instance may hold, the migration's named host's too.
      const deleteId = randomUUID();
      const del = await acceptDelete(w.deps, {
        request: { requestId: deleteId, instanceUuid: flow.instanceUuid },
        executionArn: arn("delete", deleteId),
      });
      await finishDelete(w.deps, del);
      expect(await claimsOf(w, flow.instanceUuid)).toEqual([]);
      await expectConsistent(w, true);
    });

    it("the sweeper ends it when its execution died there: no claim of it", async () => {
      const { w, flow, sourceClaim } = await crashedMigration(after, live);
      w.executions.statuses.set(flow.executionArn, "FAILED");
      const later = Date.now() + (SWEEP_MIN_AGE_SECONDS + 1) * 1000;
      w.deps.now = () => new Date(later);
      const report = await sweep(w.deps);
      expect(report.endedTasks).toEqual([
        expect.objectContaining({ instanceUuid: flow.instanceUuid, requestId: flow.requestId }),
      ]);
      await expectMigrationUndone(w, flow, sourceClaim);
    });
  });
});

/** The retry held at its transition: past its claim (held there, let go once the next hold is set). */
function atTransition(w: StepWorld, proxy: DynamoFaultProxy): Hold {
  const atClaim = proxy.holdNext("UpdateItem", w.db.tables.hosts);
  const next = atClaim.reached.then(() => {
    const hold = proxy.holdNext("UpdateItem", w.db.tables.migrations);
    atClaim.release();
    return hold;
  });
  return {
    reached: next.then((hold) => hold.reached),
    release: () => void next.then((hold) => hold.release()),
  };
}

describe("ScheduleMigration: an attempt that stalled wakes while its retry schedules the migration", () => {
  const atPoint = MIGRATION_CRASHES[0]!.after;

  it("after the retry scheduled it: still one claim of the flow, on the host the migration names", async () => {
    const { w, flow } = await crashedMigration(atPoint, false);
    const { woke, retry } = await stalledAndRetried(w, (deps) => scheduleMigration(deps, flow));
    const host = (await w.db.stores.migrations.require(flow.migrationId)).destHost!;
    expect(retry).toEqual({ value: expect.objectContaining({ destHost: host }) });
    expect(woke).toEqual({ error: expect.objectContaining({ name: "ConcurrentUpdate" }) });
    await expectScheduledOnce(w, flow, host, false);
  });

  it("between the retry's claim and its transition: one claim of the flow, on the host the migration names", async () => {
    const { w, flow } = await crashedMigration(atPoint, false);
    const { woke, retry } = await stalledAndRetried(
      w,
      (deps) => scheduleMigration(deps, flow),
      (proxy) => atTransition(w, proxy),
    );
    const host = (await w.db.stores.migrations.require(flow.migrationId)).destHost!;
    expect(woke).toEqual({ value: expect.objectContaining({ destHost: host }) });
    expect(retry).toEqual({ value: expect.objectContaining({ destHost: host }) });
    await expectScheduledOnce(w, flow, host, false);
  });
});

describe("ScheduleMigration: an attempt that stalled wakes, claims another host and dies there", () => {
  it("the retry's transition names its own host, and the other claim is let go", async () => {
    const { w, flow } = await crashedMigration(MIGRATION_CRASHES[0]!.after, false);
    const { woke, retry } = await stalledAndRetried(
      w,
      (deps) => scheduleMigration(deps, flow),
      (proxy) => atTransition(w, proxy),
      { operation: "UpdateItem", table: "hosts" },
    );
    expect(woke).toEqual({ error: expect.objectContaining({ name: "InternalServerError" }) });
    const host = (await w.db.stores.migrations.require(flow.migrationId)).destHost!;
    expect(retry).toEqual({ value: expect.objectContaining({ destHost: host }) });
    await expectScheduledOnce(w, flow, host, false);
  });
});
