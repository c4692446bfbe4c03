/**
 * Issue 16, the `lock` proof inside host-evacuation, on real hosts: host-a (shared pool p1, hosts enforce
 * qemu's image lock) loses its SSM agent and heartbeat while its guest runs, and its power fence refuses.
 * With no proof of host-a's death, the shared-disk instance may only *try* on `lock`: the target refuses
 * the disk (the copy on host-a holds it), the child ends FencingRequired, the instance stays on host-a
 * (not ERROR), and the evacuation looks again every round under a new request id. Once the fence works,
 * host-a is powered off and the next round evacuates it on the same disk with proof `power`.
 * No disk is used by two running domains at any look.
 */
import type { SFNClient } from "@aws-sdk/client-sfn";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalCloud, startLocalCloud } from "#local/cloud.js";
import { bootByAdoption } from "#local/fleet-domains.js";
import { checkInvariants, disksOpenedTwice } from "#local/invariants.js";
import type { Instance } from "#shared/domain/schemas.js";
import { sfnClient, waitFlow } from "../support/flows.js";

let cloud: LocalCloud;
let sfn: SFNClient;
let db: Instance;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(
  what: string,
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 180_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

async function runningOn(uuid: string): Promise<string[]> {
  const where: string[] = [];
  for (const [name, h] of cloud.fleet.hosts) {
    if (!h.running) continue;
    const r = await h.virsh(["domstate", uuid], { allowFail: true });
    if (r.exitCode === 0 && r.stdout.trim() === "running") where.push(name);
  }
  return where;
}

/** The rebuild executions started for the instance so far (one per round that tried it). */
function childRuns(uuid: string) {
  const arn = cloud.stateMachineArns.rebuild!;
  return (cloud.stepFunctions.listExecutions({ stateMachineArn: arn, maxResults: 100 }).executions ?? [])
    .map((e) => cloud.stepFunctions.describeExecution(e.executionArn!))
    .filter((d) => JSON.parse(d.input ?? "{}").instanceUuid === uuid);
}

beforeAll(async () => {
  cloud = await startLocalCloud({
    hosts: [
      { name: "host-a", sharedPoolId: "p1" },
      { name: "host-b", sharedPoolId: "p1" },
      { name: "host-c", sharedPoolId: "p1" },
    ],
    retryIntervalScale: 0.05,
    hostCommandDeadlineMs: 30_000,
    hostFailure: {
      alarmPeriodSeconds: 2,
      alarmEvaluationPeriods: 2,
      graceSeconds: 8,
      probeDeadlineMs: 10_000,
      fenceTimeoutSeconds: 8,
      fenceRetrySeconds: 2,
      maxProofRounds: 40,
    },
  });
  sfn = sfnClient();
  // Defined with virsh on the host and adopted, as a fleet has its VMs.
  [db] = (await bootByAdoption(cloud, [{ name: "db-1", host: "host-a", nics: 1 }])) as [Instance];
}, 600_000);

afterAll(async () => {
  await cloud?.stop();
});

describe("a shared disk under the image lock, host-a not proven dead", () => {
  it("tried on `lock` and refused while host-a runs it (fencing required, retried each round); evacuated once the fence works", async () => {
    const a = cloud.fleet.hosts.get("host-a")!;
    cloud.ec2.setFault({ mode: "fail", message: "injected: the power controller refused" });
    const seen: string[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const where = await runningOn(db.uuid);
        if (where.length > 1) seen.push(`running on ${where.join(", ")}`);
        seen.push(...(await disksOpenedTwice([...cloud.fleet.hosts.values()].filter((h) => h.running))));
        await sleep(300);
      }
    })();
    try {
      await a.stopHeartbeat();
      await a.stopAgent();
      const execution = await until("the host-evacuation of host-a", () => {
        const arn = cloud.stateMachineArns["host-evacuation"]!;
        const list =
          cloud.stepFunctions.listExecutions({ stateMachineArn: arn, maxResults: 100 }).executions ?? [];
        return list.find(
          (e) =>
            JSON.parse(cloud.stepFunctions.describeExecution(e.executionArn!).input ?? "{}").host ===
            "host-a",
        );
      });
      // Two rounds tried it on `lock`, each a child of its own (a new request id), each refused by the lock.
      await until(
        "two refused tries",
        () =>
          childRuns(db.uuid).filter((d) => d.status === "FAILED" && d.error === "FencingRequired").length >=
          2,
      );
      const runs = childRuns(db.uuid);
      expect(new Set(runs.map((d) => d.name)).size).toBe(runs.length);
      const waiting = await cloud.stores.instances.require(db.uuid);
      expect(waiting).toMatchObject({
        host: "host-a",
        vmState: "active",
        fault: { error: "FencingRequired" },
      });
      expect(waiting.fencingRequired?.host).toBe("host-a");
      expect(["host-b", "host-c"]).toContain(waiting.fencingRequired?.refusedBy);
      expect(await runningOn(db.uuid)).toEqual(["host-a"]);

      cloud.ec2.setFault(null);
      const run = await waitFlow(
        sfn,
        { requestId: "host-evacuation", executionArn: execution.executionArn! },
        240_000,
      );
      expect(run.status, run.cause).toBe("SUCCEEDED");
      expect(a.running).toBe(false);
      const report = (
        run.output as { report: { evacuated: { name: string; proof: string }[]; failed: unknown[] } }
      ).report;
      expect(report.evacuated).toEqual([expect.objectContaining({ name: "db-1", proof: "power" })]);
      expect(report.failed).toEqual([]);
    } finally {
      cloud.ec2.setFault(null);
      sampling = false;
      await sampler;
    }
    expect(seen).toEqual([]);
    const moved = await cloud.stores.instances.require(db.uuid);
    expect(moved).toMatchObject({ vmState: "active", taskState: null, fault: null, fencingRequired: null });
    expect(await runningOn(db.uuid)).toEqual([moved.host]);
    expect(await checkInvariants(cloud.stores, cloud.fleet.hosts, { quiet: true })).toEqual([]);
  });
});
