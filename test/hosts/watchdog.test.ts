/**
 * Issue 16, the `lease` proof on real hosts: every host runs its watchdog (local/hosts/host-guard.ts), a
 * process apart from its agent, fed by the heartbeat publisher only after an accepted heartbeat. host-1
 * loses its management network (SSM agent and heartbeat publisher stopped; libvirtd and the guest go on):
 * unfed for the lease, the watchdog destroys the guest itself; the control plane, with no power fence,
 * counts host-1 as self-fenced only at last heartbeat + lease + margin, and only then starts the instance
 * elsewhere (report: proof `lease`). No instance runs twice at any look. host-1's network returns: the
 * watchdog is fed again and host-recovery removes the stale copy.
 * Hosts: 1, 2, 3 with local disks; no power fence.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { SFNClient } from "@aws-sdk/client-sfn";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalCloud, startLocalCloud } from "#local/cloud.js";
import { bootByAdoption } from "#local/fleet-domains.js";
import { checkInvariants } from "#local/invariants.js";
import type { Instance } from "#shared/domain/schemas.js";
import { sfnClient, waitFlow } from "../support/flows.js";

const LEASE_SECONDS = 6;
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

async function domStates(uuid: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [name, h] of cloud.fleet.hosts) {
    if (!h.running) continue;
    const r = await h.virsh(["domstate", uuid], { allowFail: true });
    if (r.exitCode === 0) out[name] = r.stdout.trim();
  }
  return out;
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
      watchdogLeaseSeconds: LEASE_SECONDS,
      leaseMarginSeconds: 3,
      fencing: { power: "none", watchdog: true, diskLocks: false },
      fenceRetrySeconds: 2,
    },
  });
  sfn = sfnClient();
  // Defined with virsh on the host and adopted, as a fleet has its VMs.
  [web] = (await bootByAdoption(cloud, [{ name: "web-1", host: "host-1", nics: 1 }])) as [Instance];
}, 600_000);

afterAll(async () => {
  await cloud?.stop();
});

describe("the lease watchdog", () => {
  it("fed by accepted heartbeats, it leaves a healthy host alone for longer than the lease", async () => {
    const h1 = cloud.fleet.hosts.get("host-1")!;
    expect(h1.guardPid).toBeGreaterThan(0);
    await sleep((LEASE_SECONDS + 2) * 1000);
    expect(await domStates(web.uuid)).toEqual({ "host-1": "running" });
  });

  it("host-1 cut off: its watchdog destroys the guest, then (lease + margin) it is evacuated with proof lease; nothing runs twice", async () => {
    const h1 = cloud.fleet.hosts.get("host-1")!;
    const doubles: string[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const states = await domStates(web.uuid);
        const running = Object.entries(states).filter(([, s]) => s === "running");
        if (running.length > 1) doubles.push(running.map(([h]) => h).join(" and "));
        await sleep(300);
      }
    })();
    try {
      await h1.stopHeartbeat();
      await h1.stopAgent();
      expect(h1.running).toBe(true); // libvirtd and the guard go on: only the management network is gone
      await until(
        "the watchdog to destroy the guest",
        async () => (await domStates(web.uuid))["host-1"] === "shut off",
        60_000,
      );
      const log = readFileSync(join(h1.logDir, "host-guard.log"), "utf8");
      expect(log).toMatch(/lease expired/);
      // The adopted domain keeps its libvirt name until Lazarus recreates it.
      expect(log).toMatch(new RegExp(`destroyed ${web.name}\\b`));

      const execution = await until("the host-evacuation of host-1", () =>
        executionOf("host-evacuation", "host-1"),
      );
      const run = await waitFlow(
        sfn,
        { requestId: "host-evacuation", executionArn: execution.executionArn! },
        240_000,
      );
      expect(run.status, run.cause).toBe("SUCCEEDED");
      const report = (
        run.output as { report: { evacuated: { name: string; proof: string }[]; hostProof: string } }
      ).report;
      expect(report.evacuated).toEqual([expect.objectContaining({ name: "web-1", proof: "lease" })]);
      expect(report.hostProof).toMatch(/lease expired/);
    } finally {
      sampling = false;
      await sampler;
    }
    expect(doubles).toEqual([]);
    const moved = await cloud.stores.instances.require(web.uuid);
    expect(moved).toMatchObject({ vmState: "active", taskState: null, fencingRequired: null });
    expect(["host-2", "host-3"]).toContain(moved.host);
    expect((await domStates(web.uuid))[moved.host]).toBe("running");
  });

  it("host-1's network returns: fed again, and host-recovery removes the stale copy; invariants hold", async () => {
    const h1 = cloud.fleet.hosts.get("host-1")!;
    await h1.startAgent();
    h1.startHeartbeat();
    const recovery = await until("host-1's recovery", () => executionOf("host-recovery", "host-1"));
    const run = await waitFlow(
      sfn,
      { requestId: "host-recovery", executionArn: recovery.executionArn! },
      180_000,
    );
    expect(run.status, run.cause).toBe("SUCCEEDED");
    const moved = await cloud.stores.instances.require(web.uuid);
    expect(await domStates(web.uuid)).toEqual({ [moved.host]: "running" });
    expect(await checkInvariants(cloud.stores, cloud.fleet.hosts, { quiet: true })).toEqual([]);
  });
});
