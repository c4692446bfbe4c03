/**
 * Issue 32, outcomes 3 and 4, on real hosts: host-1..host-4 share pool p1; host-2..4 are small, so big-1
 * (2000 MiB) fits on host-1 only. Driven through the `lazarus` CLI as an operator runs it.
 *  (3) `lazarus host drain host-1 --check` names big-1 as the one that would stay; the drain moves the 5
 *      others (the running ones live, the stopped one cold, stopped), reports big-1 with the scheduler's
 *      reason and leaves it running on host-1 (host incomplete, disabled, never fenced or forced down);
 *      `lazarus host undrain host-1 --return` brings the 5 back. Drained again, host-1 loses its power
 *      while the drain runs: its heartbeat alarm evacuates what is still on it, once each; what the drain
 *      had moved is not evacuated; no instance runs twice at any look.
 * Invariants hold after each. Outcome 4 (a host in maintenance powered off) is host-maintenance.test.ts.
 */
import type { SFNClient } from "@aws-sdk/client-sfn";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalCloud, startLocalCloud } from "#local/cloud.js";
import type { Instance } from "#shared/domain/schemas.js";
import { watchDoubleRuns } from "../support/double-runs.js";
import { sfnClient, waitFlow } from "../support/flows.js";
import {
  bootAdopted,
  definedOn,
  executionFor,
  executions,
  expectInvariants,
  FAST_FENCING,
  HOST_FAILURE_WAIT_MS,
  poolHosts,
  runningOn,
  until,
} from "../support/hosts.js";
import { lazarusJson } from "../support/lazarus-cli.js";

const SMALL = { vcpus: 4, memoryMiB: 1024, diskGiB: 40 };

let cloud: LocalCloud;
let sfn: SFNClient;
let booted: Record<"a" | "b" | "c" | "d" | "e" | "big", Instance>;
const FIVE = ["a", "b", "c", "d", "e"] as const;

beforeAll(async () => {
  cloud = await startLocalCloud({
    hosts: [
      { name: "host-1", sharedPoolId: "p1" },
      ...poolHosts("p1", "host-2", "host-3", "host-4").map((h) => ({ ...h, capacity: SMALL })),
    ],
    retryIntervalScale: 0.05,
    hostCommandDeadlineMs: 30_000,
    hostFailure: FAST_FENCING,
    // A live migration cut by the power loss waits out its command (timeout + 60 s) before its own flow ends.
    maintenance: { liveMigrationTimeoutSeconds: 45, drainMaxConcurrency: 2 },
  });
  sfn = sfnClient();
  const flavor = (memoryMiB: number) => ({ vcpus: 1, memoryMiB, diskGiB: 1 });
  booted = await bootAdopted(cloud, {
    a: { name: "a-1", host: "host-1", flavor: flavor(128), policy: { haPriority: 10 } },
    b: { name: "b-1", host: "host-1", flavor: flavor(128), nics: 2 },
    c: {
      name: "c-1",
      host: "host-1",
      flavor: flavor(128),
      volumes: [{ name: "v", sizeGiB: 1, device: "vdb" }],
    },
    d: { name: "d-1", host: "host-1", flavor: flavor(128), stopped: true },
    e: { name: "e-1", host: "host-1", flavor: flavor(128) },
    big: { name: "big-1", host: "host-1", flavor: flavor(2000) },
  });
}, 600_000);

afterAll(async () => {
  await cloud?.stop();
});

/** `lazarus --json ARGS` as an operator runs it. */
const lazarus = (...args: string[]) => lazarusJson(cloud.api.url, ...args);

const record = (i: Instance) => cloud.stores.instances.require(i.uuid);

interface Report {
  moved: { name: string; to: string; live: boolean }[];
  notMoved: { name: string; reason: string }[];
  left: string[];
  state: string | null;
}

describe("draining a host with 6 instances, one too big for any other", () => {
  it("--check names the one that would stay; the drain moves the 5 and reports big-1, left running", async () => {
    const check = await lazarus("host", "drain", "host-1", "--check");
    expect(check.code).toBe(3);
    const preview = check.doc.drain as {
      drainable: boolean;
      placements: { name: string; live: boolean }[];
      unplaced: { name: string; reason: string }[];
    };
    expect(preview.drainable).toBe(false);
    expect(preview.placements.map((p) => p.name).sort()).toEqual(["a-1", "b-1", "c-1", "d-1", "e-1"]);
    expect(preview.placements.find((p) => p.name === "d-1")?.live).toBe(false);
    expect(preview.unplaced).toEqual([
      expect.objectContaining({ name: "big-1", reason: expect.stringContaining("RAM free") }),
    ]);

    const drain = await lazarus("host", "drain", "host-1", "--reason", "firmware");
    expect(drain.code, drain.stderr).toBe(1);
    expect((drain.doc.execution as { error: string }).error).toBe("HostDrainIncomplete");
    const report = drain.doc.report as Report;
    expect(report.moved.map((m) => m.name).sort()).toEqual(["a-1", "b-1", "c-1", "d-1", "e-1"]);
    expect(Object.fromEntries(report.moved.map((m) => [m.name, m.live]))).toEqual({
      "a-1": true,
      "b-1": true,
      "c-1": true,
      "d-1": false,
      "e-1": true,
    });
    expect(report.notMoved).toEqual([
      expect.objectContaining({ name: "big-1", reason: expect.stringContaining("NoValidHost") }),
    ]);
    expect(report).toMatchObject({ left: ["big-1"], state: "incomplete" });

    for (const k of FIVE) {
      const now = await record(booted[k]);
      expect(now.host, now.name).not.toBe("host-1");
      expect(now).toMatchObject({ vmState: k === "d" ? "stopped" : "active", taskState: null });
      expect(await definedOn(cloud, now.uuid)).toEqual([now.host]);
    }
    expect(await record(booted.big)).toMatchObject({ host: "host-1", vmState: "active" });
    expect(await runningOn(cloud, booted.big.uuid)).toEqual(["host-1"]);
    const host1 = await cloud.stores.hosts.require("host-1");
    expect(host1).toMatchObject({ enabled: false, forcedDown: false, maintenance: { state: "incomplete" } });
    expect(host1.maintenance?.moved).toHaveLength(5);
    expect(cloud.ec2.stops).toEqual([]); // never fenced

    await expectInvariants(cloud);
  });

  it("undrain --return brings the 5 back to host-1", async () => {
    const back = await lazarus("host", "undrain", "host-1", "--return");
    expect(back.code, back.stderr).toBe(0);
    const report = back.doc.report as Report;
    expect(report.moved.map((m) => m.name).sort()).toEqual(["a-1", "b-1", "c-1", "d-1", "e-1"]);
    for (const k of FIVE) {
      const now = await record(booted[k]);
      expect(now).toMatchObject({
        host: "host-1",
        vmState: k === "d" ? "stopped" : "active",
        taskState: null,
      });
      expect(await definedOn(cloud, now.uuid)).toEqual(["host-1"]);
    }
    expect(await cloud.stores.hosts.require("host-1")).toMatchObject({ enabled: true, maintenance: null });
    await expectInvariants(cloud);
  });

  it("host-1 loses its power while drained again: what is still on it is evacuated, once; what moved is not", async () => {
    const all = Object.values(booted).filter((i) => i.host === "host-1");
    const watch = watchDoubleRuns(cloud, all);
    const startedAt = new Date().toISOString();
    const drain = await fetch(`${cloud.api.url}/v2.1/os-hosts/host-1/drain`, {
      method: "POST",
      headers: { "content-type": "application/json", "openstack-api-version": "compute 2.95" },
      body: JSON.stringify({ reason: "disk swap" }),
    });
    expect(drain.status).toBe(202);
    const { execution } = (await drain.json()) as { execution: { id: string; arn: string } };
    // Two of the five have left (the first tier, a-1, and one more), then the power goes.
    await until(
      "two instances moved off host-1",
      async () => {
        const off = await Promise.all(FIVE.map(async (k) => (await record(booted[k])).host !== "host-1"));
        return off.filter(Boolean).length >= 2 || undefined;
      },
      180_000,
    );
    await cloud.killHost("host-1");
    const evacuation = await executionFor(cloud, "host-evacuation", "host-1");
    const evacuated = await waitFlow(sfn, evacuation, HOST_FAILURE_WAIT_MS * 2);
    const drained = await waitFlow(sfn, { requestId: execution.id, executionArn: execution.arn }, 300_000);
    expect(drained.status).toBe("FAILED");
    expect(evacuated.error).toBe("HostEvacuationIncomplete"); // big-1 finds no room
    // A failed drain does not wait for the moves it started: each migrate flow ends on its own (moved, or
    // ended failed by the evacuation's EndMigrationsFromHost). Counted once none runs.
    await until(
      "every migrate flow ended",
      () => executions(cloud, "migrate").every((e) => e.status !== "RUNNING"),
      300_000,
    );
    expect(await watch.stop()).toEqual([]);

    let evacuatedCount = 0;
    for (const k of FIVE) {
      const now = await record(booted[k]);
      const moves = await cloud.stores.migrations.listByInstance(now.uuid);
      const ok = (m: (typeof moves)[number]) => m.status !== "failed" && m.status !== "error";
      // This drain's own migration of it, and the evacuations after host-1 failed.
      const drained = moves.filter((m) => m.createdAt >= startedAt && m.type !== "evacuation" && ok(m));
      const evacuations = moves.filter((m) => m.type === "evacuation" && ok(m));
      expect(now.host, now.name).not.toBe("host-1");
      expect(now.taskState).toBeNull();
      // Moved by the drain (done before the failure, or its guest already running on the target when
      // host-1 failed) or, still on host-1, evacuated: exactly one of the two, once.
      expect([drained.length, evacuations.length].sort(), now.name).toEqual([0, 1]);
      evacuatedCount += evacuations.length;
      expect(await definedOn(cloud, now.uuid)).toEqual([now.host]);
    }
    expect(evacuatedCount, "instances still on host-1 when it failed").toBeGreaterThan(0);
    expect(await record(booted.big)).toMatchObject({
      host: "host-1",
      vmState: "error",
      fault: { error: "NoValidHost" },
    });
    // No migrate flow was left holding anything.
    for (const e of executions(cloud, "migrate")) expect(e.status, e.name).not.toBe("RUNNING");
    await expectInvariants(cloud);
  });
});
