/**
 * Issue 16, outcome 1 in its plainest form, on real hosts: an agent-only failure (host-1's SSM agent and
 * heartbeat stopped, its guest running) whose power fence refuses. The guest is never started elsewhere;
 * it stays "fencing required" on host-1 and keeps running there. The network comes back before any proof:
 * the evacuation gives up (its report lists the instance as fencing required), host-recovery finds nothing
 * stale and clears the mark; the guest ran on host-1 the whole time and nowhere else.
 * Hosts: 1, 2, 3 with local disks.
 */
import type { SFNClient } from "@aws-sdk/client-sfn";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalCloud, startLocalCloud } from "#local/cloud.js";
import { bootByAdoption } from "#local/fleet-domains.js";
import { checkInvariants } from "#local/invariants.js";
import type { Instance } from "#shared/domain/schemas.js";
import { sfnClient, waitFlow } from "../support/flows.js";

let cloud: LocalCloud;
let sfn: SFNClient;
let web: Instance;
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

function executionOf(machine: string, host: string) {
  const arn = cloud.stateMachineArns[machine]!;
  const list = cloud.stepFunctions.listExecutions({ stateMachineArn: arn, maxResults: 100 }).executions ?? [];
  return list.find(
    (e) => JSON.parse(cloud.stepFunctions.describeExecution(e.executionArn!).input ?? "{}").host === host,
  );
}

beforeAll(async () => {
  cloud = await startLocalCloud({
    hosts: [{ name: "host-1" }, { name: "host-2" }, { name: "host-3" }],
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
  [web] = (await bootByAdoption(cloud, [{ name: "web-1", host: "host-1", nics: 1 }])) as [Instance];
}, 600_000);

afterAll(async () => {
  await cloud?.stop();
});

describe("an agent-only failure that ends before any proof", () => {
  it("the guest keeps running on host-1 only; the evacuation gives up listing it; recovery clears the mark", async () => {
    const h1 = cloud.fleet.hosts.get("host-1")!;
    cloud.ec2.setFault({ mode: "fail", message: "injected: the power controller refused" });
    const seen: string[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const where = await runningOn(web.uuid);
        if (where.join(",") !== "host-1") seen.push(`running on [${where.join(", ")}]`);
        await sleep(300);
      }
    })();
    try {
      await h1.stopHeartbeat();
      await h1.stopAgent();
      const execution = await until("the host-evacuation of host-1", () =>
        executionOf("host-evacuation", "host-1"),
      );
      await until(
        "web-1 marked fencing required",
        async () => (await cloud.stores.instances.require(web.uuid)).fencingRequired !== null,
      );
      // The management network returns before any proof of death.
      await h1.startAgent();
      h1.startHeartbeat();
      const run = await waitFlow(
        sfn,
        { requestId: "host-evacuation", executionArn: execution.executionArn! },
        180_000,
      );
      expect(run.status).toBe("FAILED");
      expect(run.error).toBe("HostEvacuationIncomplete");
      const report = JSON.parse(run.cause ?? "{}") as {
        fencingRequired: { name: string }[];
        failed: unknown[];
      };
      expect(report.fencingRequired.map((f) => f.name)).toEqual(["web-1"]);
      expect(report.failed).toEqual([]);
      const recovery = await until("host-1's recovery", () => executionOf("host-recovery", "host-1"));
      const rec = await waitFlow(
        sfn,
        { requestId: "host-recovery", executionArn: recovery.executionArn! },
        180_000,
      );
      expect(rec.status, rec.cause).toBe("SUCCEEDED");
    } finally {
      cloud.ec2.setFault(null);
      sampling = false;
      await sampler;
    }
    expect(seen).toEqual([]);
    expect(cloud.ec2.stops.length).toBeGreaterThanOrEqual(1);
    const after = await cloud.stores.instances.require(web.uuid);
    expect(after).toMatchObject({
      host: "host-1",
      vmState: "active",
      taskState: null,
      fault: null,
      fencingRequired: null,
    });
    expect(
      cloud.stepFunctions.listExecutions({ stateMachineArn: cloud.stateMachineArns.rebuild! }).executions,
    ).toEqual([]);
    expect(await checkInvariants(cloud.stores, cloud.fleet.hosts, { quiet: true })).toEqual([]);
  });
});
