/**
 * What one evacuated instance costs in DynamoDB calls (issue 34): every API call of a host evacuation's child
 * rebuild flow (recreate), Accept to Finish, and of the parent's ConfirmEvacuation, counted at the DynamoDB
 * endpoint by step, operation and table. In a local recovery the control plane's CPU is mostly the per-call
 * cost of these (the SDK's serialize/sign/HTTP, and DynamoDB's own), and each call is a request unit in AWS:
 * the counts are pinned here, so a read added back fails this test and is looked at.
 *
 * The instances are planned by the host evacuation's own PlanEvacuation (its `plannedHost` per child, as in a
 * real evacuation), each with a port, on a shared pool (the disk found on the target). Run one after the other
 * the counts are exact; run all at once, as the evacuation's Map runs them, there are no more.
 */
import { describe, expect, it } from "vitest";
import { checkInstanceNotOnTarget } from "#functions/compute-steps/steps/check-instance-not-on-target.js";
import { checkSharedStorage } from "#functions/compute-steps/steps/check-shared-storage.js";
import { prepareTarget } from "#functions/compute-steps/steps/prepare-target.js";
import { spawn } from "#functions/compute-steps/steps/spawn.js";
import { verifyRecreate } from "#functions/compute-steps/steps/verify-recreate.js";
import { accept } from "#functions/conductor/steps/accept.js";
import { finish } from "#functions/conductor/steps/finish.js";
import { schedule } from "#functions/conductor/steps/schedule.js";
import type { HostEvacuationState } from "#functions/host-failure/contract.js";
import {
  confirmEvacuation,
  planEvacuation,
  reportEvacuation,
} from "#functions/host-failure/steps/evacuate.js";
import type { FlowState } from "#shared/flow/contract.js";
import { makePort } from "../../support/fixtures.js";
import { hostFailureDeps } from "../../support/host-failure-deps.js";
import { callsBy, fleetOf } from "../../support/scale.js";
import {
  rebuildExecutionArn,
  type StepWorld,
  seedHosts,
  seedInstance,
  useStepHarness,
} from "../../support/step-harness.js";

const newWorld = useStepHarness();

/** The calls of one evacuated instance, by `step: Operation table`, as this change leaves them. */
const PER_INSTANCE: Record<string, number> = {
  // The admission's reads (the instance, its host's proof), the take (on the version read), the migration
  // made only where absent (one conditional put, no read first).
  "accept: GetItem instances": 1,
  "accept: GetItem hosts": 1,
  "accept: UpdateItem instances": 1,
  "accept: PutItem migrations": 1,
  // The instance, its migration, the source (filters, pool), the plan's host by key (tried before any index
  // page), the migration naming it (decided on the one read), the claim (decided on the host read).
  "schedule: GetItem instances": 1,
  "schedule: GetItem migrations": 1,
  "schedule: GetItem hosts": 1,
  "schedule: BatchGetItem hosts": 1,
  "schedule: UpdateItem migrations": 1,
  "schedule: UpdateItem hosts": 1,
  // VerifyRecreate, CheckInstanceNotOnTarget, CheckSharedStorage: none (the target as the claim left it).
  // The instance once, its task twice (rebuilding with the power state, then block device mapping), the
  // port read and bound (conditional on its version).
  "prepareTarget: GetItem instances": 1,
  "prepareTarget: UpdateItem instances": 2,
  "prepareTarget: GetItem ports": 1,
  "prepareTarget: UpdateItem ports": 1,
  // The task moved to spawning (on the version read), the port's MAC for the NIC.
  "spawn: GetItem instances": 1,
  "spawn: UpdateItem instances": 1,
  "spawn: GetItem ports": 1,
  // The commit (decided on the instance read), the migration done.
  "finish: GetItem instances": 1,
  "finish: UpdateItem instances": 1,
  "finish: GetItem migrations": 1,
  "finish: UpdateItem migrations": 1,
  // The record, re-read after the child ended.
  "confirmEvacuation: GetItem instances": 1,
};
const PER_INSTANCE_TOTAL = Object.values(PER_INSTANCE).reduce((a, b) => a + b, 0);

type Counts = Record<string, number>;

/** Runs `run`, adding each DynamoDB call it makes to `counts` as `step: Operation table`. */
async function counted<T>(w: StepWorld, counts: Counts, step: string, run: () => Promise<T>): Promise<T> {
  const { result, calls } = await callsBy(w, run);
  for (const call of calls) counts[`${step}: ${call}`] = (counts[`${step}: ${call}`] ?? 0) + 1;
  return result;
}

/** A dead host of `n` instances (a port each), four live hosts on its pool, and its evacuation planned. */
async function plannedEvacuation(n: number) {
  const w = await newWorld();
  const at = new Date().toISOString();
  const incident = { id: "inc-src", status: "evacuating" as const, source: "alarm" as const, reason: null };
  await seedHosts(w, [
    {
      name: "src",
      down: true,
      overrides: {
        capacity: { vcpus: 64, memoryMiB: 65536, diskGiB: 1000 },
        incident: { ...incident, executionName: null, openedAt: at, updatedAt: at, summary: null },
      },
    },
  ]);
  await fleetOf(w, 4);
  for (let i = 0; i < n; i++) {
    const port = makePort({ bindingHost: "src" });
    const instance = await seedInstance(w, "src", { ports: [port.id] });
    await w.db.stores.ports.put({ ...port, instanceUuid: instance.uuid });
  }
  // Every target probe: no domain there, the disk on the shared pool, the image cached.
  w.executor.on((call) =>
    call.document === "probe-target"
      ? { exitCode: 0, stdout: "domain=absent\ndisk=present\nimage=present\n", stderr: "" }
      : undefined,
  );
  const { deps } = hostFailureDeps(w);
  const opened: HostEvacuationState = {
    host: "src",
    incidentId: incident.id,
    source: incident.source,
    reason: null,
    openedAt: at,
    outcome: "opened",
    fence: { round: 1, attempt: null },
    proof: { proof: "power", reason: "fenced off (test)", at },
  };
  const perIncident: Counts = {};
  const planned = await counted(w, perIncident, "planEvacuation", () => planEvacuation(deps, opened));
  const items = planned.plan!.tiers.flatMap((t) => t.items);
  expect(items).toHaveLength(n);
  expect(items.every((i) => i.plannedHost !== null)).toBe(true);
  return { w, deps, planned, items, perIncident };
}

type Planned = Awaited<ReturnType<typeof plannedEvacuation>>;

/** One child flow, Accept to Finish, and the parent's confirmation of it. */
async function evacuate(p: Planned, item: Planned["items"][number], counts: Counts) {
  const { w, deps } = p;
  const d = w.deps;
  let state: FlowState = await counted(w, counts, "accept", () =>
    accept(d, {
      request: {
        requestId: item.requestId,
        instanceUuid: item.instanceUuid,
        plannedHost: item.plannedHost,
        recreate: true,
      },
      executionArn: rebuildExecutionArn(item.requestId),
    }),
  );
  for (const [name, step] of [
    ["schedule", schedule],
    ["verifyRecreate", verifyRecreate],
    ["checkInstanceNotOnTarget", checkInstanceNotOnTarget],
    ["checkSharedStorage", checkSharedStorage],
    ["prepareTarget", prepareTarget],
    ["spawn", spawn],
  ] as const) {
    const before = state;
    state = await counted(w, counts, name, () => step(d, before));
  }
  const done = state;
  await counted(w, counts, "finish", () => finish(d, done));
  return counted(w, counts, "confirmEvacuation", () => confirmEvacuation(deps, { sourceHost: "src", item }));
}

function perInstance(counts: Counts, n: number): Record<string, number> {
  return Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, v / n]));
}

const total = (counts: Counts) => Object.values(counts).reduce((a, b) => a + b, 0);

describe("DynamoDB calls per evacuated instance", () => {
  it(`one after the other: exactly ${PER_INSTANCE_TOTAL} per instance, none by the target checks`, async () => {
    const n = 8;
    const p = await plannedEvacuation(n);
    const counts: Counts = {};
    for (const item of p.items) {
      const result = await evacuate(p, item, counts);
      expect(result.outcome, result.message ?? "").toBe("evacuated");
    }
    console.log(`calls per instance: ${JSON.stringify(perInstance(counts, n), null, 1)}`);
    expect(perInstance(counts, n)).toEqual(PER_INSTANCE);
    expect(total(counts) / n).toBe(PER_INSTANCE_TOTAL);
    // PlanEvacuation reads the host's instances in one batch (not one GetItem each), whatever their number.
    expect(p.perIncident["planEvacuation: GetItem instances"]).toBeUndefined();
    expect(p.perIncident["planEvacuation: BatchGetItem instances"]).toBe(1);
    const report: Counts = {};
    const reported = await counted(p.w, report, "reportEvacuation", () =>
      reportEvacuation(p.deps, p.planned),
    );
    expect(reported.report.notEvacuated).toEqual([]);
    expect(report["reportEvacuation: GetItem instances"]).toBeUndefined();
    expect(report["reportEvacuation: BatchGetItem instances"] ?? 0).toBeLessThanOrEqual(1);
  }, 120_000);

  it("all at once, as the evacuation's Map runs them: no more calls than one after the other", async () => {
    const n = 16;
    const p = await plannedEvacuation(n);
    // Steps of different flows overlap here: every call is counted once, by operation and table only.
    const all: Counts = {};
    const results = await counted(p.w, all, "all", () =>
      Promise.all(p.items.map((item) => evacuate(p, item, {}))),
    );
    expect(results.map((r) => r.outcome)).toEqual(results.map(() => "evacuated"));
    const each = perInstance(all, n);
    console.log(`calls per instance (concurrent): ${JSON.stringify(each, null, 1)}`);
    const reads = (c: Record<string, number>) =>
      Object.entries(c)
        .filter(([k]) => /: (GetItem|BatchGetItem|Query|Scan) /.test(k))
        .reduce((a, [, v]) => a + v, 0);
    // Siblings planned on one host claim it at once on room alone; a write refused meanwhile would be
    // answered with the item as it is (ALL_OLD) and decided on again: a write more, no read.
    expect(reads(each)).toBeLessThanOrEqual(reads(PER_INSTANCE));
    expect(total(all) / n).toBeLessThanOrEqual(PER_INSTANCE_TOTAL);
  }, 120_000);
});
