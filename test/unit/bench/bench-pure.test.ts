/**
 * The benchmark's pure parts: statistics, the counting rules over execution histories and DynamoDB
 * calls, the price arithmetic, the Gantt built from a recorded history, and the overcommit check.
 * (The benchmark's speed targets live in `npm run bench`, never here.)
 */
import type { HistoryEvent } from "@aws-sdk/client-sfn";
import { describe, expect, it } from "vitest";
import {
  countStateTransitions,
  detectionCostPerHostMonth,
  dynamoWrites,
  isHeartbeatLeaseWrite,
  PRICES,
  priceOf,
} from "../../../bench/cost.js";
import { barsOf, buildGantt, renderGanttSvg, timeByState } from "../../../bench/gantt.js";
import { overcommits } from "../../../bench/scheduler.js";
import { formatSummary, median, summarize } from "../../../bench/stats.js";
import { makeHost } from "../../support/fixtures.js";

const T0 = Date.parse("2026-01-01T00:00:00.000Z");
let id = 0;
const ev = (type: string, atMs: number, name?: string): HistoryEvent => {
  id++;
  const e: HistoryEvent = {
    id,
    previousEventId: id - 1,
    type: type as never,
    timestamp: new Date(T0 + atMs),
  };
  if (name && type.endsWith("StateEntered")) e.stateEnteredEventDetails = { name };
  if (name && type.endsWith("StateExited")) e.stateExitedEventDetails = { name };
  return e;
};

/** A rebuild-like history: Accept, a Choice, Spawn failing once then retried, Finish. */
const history: HistoryEvent[] = [
  ev("ExecutionStarted", 0),
  ev("TaskStateEntered", 0, "Accept"),
  ev("TaskStateExited", 400, "Accept"),
  ev("ChoiceStateEntered", 400, "IsEvacuate"),
  ev("ChoiceStateExited", 401, "IsEvacuate"),
  ev("TaskStateEntered", 401, "Spawn"),
  ev("TaskFailed", 900),
  ev("TaskStateExited", 2401, "Spawn"),
  ev("TaskStateEntered", 2401, "Finish"),
  ev("TaskStateExited", 2500, "Finish"),
  ev("ExecutionSucceeded", 2500),
];

describe("bench statistics", () => {
  it("median of odd and even counts, summary with min, max and the runs", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(() => median([])).toThrow();
    expect(summarize([2.00049, 5, 1])).toEqual({ median: 2, min: 1, max: 5, runs: [2, 5, 1] });
    expect(formatSummary(summarize([1, 2, 3]))).toBe("2.00 (1.00-3.00)");
    expect(formatSummary(summarize([7]))).toBe("7.00");
  });
});

describe("bench counting and prices", () => {
  it("state transitions: every state entered plus one per retry; a caught failure is no retry", () => {
    expect(countStateTransitions(history)).toEqual({ entered: 4, retries: 1 });
    const caught = [
      ev("TaskStateEntered", 0, "Spawn"),
      ev("TaskFailed", 10),
      ev("TaskStateEntered", 20, "CleanUpAfterFailure"),
      ev("TaskStateExited", 30, "CleanUpAfterFailure"),
    ];
    expect(countStateTransitions(caught)).toEqual({ entered: 2, retries: 0 });
  });

  it("DynamoDB writes: one per item, batches by item, transactions two units per item; reads are no writes", () => {
    expect(dynamoWrites({ op: "UpdateItem", body: "{}" })).toEqual({ items: 1, writeUnits: 1 });
    expect(
      dynamoWrites({
        op: "BatchWriteItem",
        body: JSON.stringify({ RequestItems: { a: [{}, {}], b: [{}] } }),
      }),
    ).toEqual({ items: 3, writeUnits: 3 });
    expect(
      dynamoWrites({ op: "TransactWriteItems", body: JSON.stringify({ TransactItems: [{}, {}] }) }),
    ).toEqual({
      items: 2,
      writeUnits: 4,
    });
    expect(dynamoWrites({ op: "Query", body: "{}" })).toEqual({ items: 0, writeUnits: 0 });
  });

  it("the local heartbeat lease write is told apart from a flow's write to the hosts table", () => {
    const lease = {
      TableName: "lazarus-hosts",
      ExpressionAttributeNames: { "#n0": "lastHeartbeatAt", "#n1": "version", "#n2": "name" },
    };
    expect(isHeartbeatLeaseWrite({ op: "UpdateItem", body: JSON.stringify(lease) })).toBe(true);
    const claim = {
      ...lease,
      ExpressionAttributeNames: { "#n0": "claims", "#n1": "usage", "#n2": "version" },
    };
    expect(isHeartbeatLeaseWrite({ op: "UpdateItem", body: JSON.stringify(claim) })).toBe(false);
    const disable = { ...lease, ExpressionAttributeNames: { "#n0": "lastHeartbeatAt", "#n1": "enabled" } };
    expect(isHeartbeatLeaseWrite({ op: "UpdateItem", body: JSON.stringify(disable) })).toBe(false);
    expect(
      isHeartbeatLeaseWrite({
        op: "UpdateItem",
        body: JSON.stringify({ ...lease, TableName: "lazarus-instances" }),
      }),
    ).toBe(false);
  });

  it("prices: counts times the list prices, itemised and summed", () => {
    const p = priceOf({
      stateTransitions: 1000,
      lambdaInvocations: 1_000_000,
      lambdaSeconds: 2,
      ssmCommands: 4,
      dynamoWriteUnits: 1_000_000,
      dynamoReadCalls: 0,
      eventBridgeEvents: 1_000_000,
    });
    expect(p.stepFunctions).toBeCloseTo(0.025, 10);
    expect(p.lambdaRequests).toBeCloseTo(0.2, 10);
    expect(p.lambdaDuration).toBeCloseTo(2 * 0.5 * PRICES.lambdaPerGbSecondArm, 12);
    expect(p.dynamo).toBeCloseTo(0.625, 10);
    expect(p.ssm).toBe(0);
    expect(p.events).toBeCloseTo(1, 10);
    expect(p.total).toBeCloseTo(0.025 + 0.2 + p.lambdaDuration + 0.625 + 1, 10);
  });

  it("detection per host-month: metric + alarm + heartbeat transport + lease writes", () => {
    const pmd = detectionCostPerHostMonth({
      heartbeatIntervalSeconds: 10,
      transport: "put-metric-data",
      emfLineBytes: 200,
      logRetentionDays: 30,
      leaseWritesPerHeartbeat: 0,
    });
    expect(pmd.beatsPerMonth).toBe(262_800);
    expect(pmd.calls).toBeCloseTo(2.628, 6);
    expect(pmd.total).toBeCloseTo(0.6 + 2.628, 6);
    const emf = detectionCostPerHostMonth({
      heartbeatIntervalSeconds: 5,
      transport: "emf",
      emfLineBytes: 224,
      logRetentionDays: 30,
      leaseWritesPerHeartbeat: 1,
    });
    // 525,600 lines of 250 billed bytes = 0.1314 GB: ingestion $0.0657 + storage $0.003942.
    expect(emf.calls).toBeCloseTo(0.1314 * 0.5 + 0.1314 * 0.03, 6);
    expect(emf.leases).toBeCloseTo(525_600 * 0.625e-6, 8);
  });
});

describe("bench Gantt", () => {
  it("one bar per state from its entered to its exited event, in seconds from the origin", () => {
    const bars = barsOf(history, T0);
    expect(bars.map((b) => b.state)).toEqual(["Accept", "IsEvacuate", "Spawn", "Finish"]);
    expect(bars[2]).toEqual({ state: "Spawn", start: 0.401, end: 2.401 });
    const open = barsOf([ev("TaskStateEntered", 100, "Spawn"), ev("ExecutionFailed", 700)], T0);
    expect(open).toEqual([{ state: "Spawn", start: 0.1, end: 0.7 }]);
  });

  it("rows per execution, time per state, and an SVG with a bar per state and escaped labels", () => {
    const rows = buildGantt(
      [
        { label: "vm-1", events: history },
        { label: "vm<2>", events: history },
      ],
      T0,
    );
    const by = timeByState(rows);
    expect(by[0]).toMatchObject({ state: "Spawn", count: 2 });
    expect(by[0]!.medianSeconds).toBeCloseTo(2, 9);
    expect(by[0]!.totalSeconds).toBeCloseTo(4, 9);
    const svg = renderGanttSvg(rows, { title: "t & t", markers: [{ label: "death proven", at: 0.2 }] });
    expect(svg.match(/<rect [^>]*><title>/g)).toHaveLength(8);
    expect(svg).toContain("vm&lt;2&gt;");
    expect(svg).toContain("t &amp; t");
    expect(svg).toContain("death proven");
  });
});

describe("bench overcommit check", () => {
  const claim = (uuid: string) => ({
    instanceUuid: uuid,
    resources: { vcpus: 1, memoryMiB: 64, diskGiB: 1 },
    owner: "m",
    serverGroup: null,
    claimedAt: "2026-01-01T00:00:00.000Z",
  });
  const host = (name: string, vcpus: number, uuids: string[], usageVcpus = uuids.length) =>
    makeHost({
      name,
      capacity: { vcpus, memoryMiB: 1024, diskGiB: 10 },
      allocationRatios: { cpu: 1, ram: 1, disk: 1 },
      claims: Object.fromEntries(uuids.map((u) => [u, claim(u)])),
      usage: { vcpus: usageVcpus, memoryMiB: 64 * uuids.length, diskGiB: uuids.length },
    });
  const a = "00000000-0000-4000-8000-00000000000a";
  const b = "00000000-0000-4000-8000-00000000000b";

  it("counts hosts over their limit, usage that is not the sum of claims, and instances claimed twice", () => {
    expect(overcommits([host("h1", 2, [a]), host("h2", 2, [b])])).toBe(0);
    expect(overcommits([host("h1", 1, [a, b])])).toBe(1);
    expect(overcommits([host("h1", 4, [a], 2)])).toBe(1);
    expect(overcommits([host("h1", 2, [a]), host("h2", 2, [a])])).toBe(1);
  });
});
