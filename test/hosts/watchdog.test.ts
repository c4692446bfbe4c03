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
import type { LocalCloud } from "#local/cloud.js";
import type { Instance } from "#shared/domain/schemas.js";
import { watchDoubleRuns } from "../support/double-runs.js";
import { waitFlow } from "../support/flows.js";
import {
  domStates as domStatesIn,
  executionFor,
  expectInvariants,
  sleep,
  startAgentFailureFleet,
  until,
} from "../support/hosts.js";

const LEASE_SECONDS = 6;
let cloud: LocalCloud;
let sfn: SFNClient;
let web: Instance;
const domStates = (uuid: string) => domStatesIn(cloud, uuid);

beforeAll(async () => {
  ({ cloud, sfn, web } = await startAgentFailureFleet({
    watchdogLeaseSeconds: LEASE_SECONDS,
    leaseMarginSeconds: 3,
    fencing: { power: "none", watchdog: true, diskLocks: false },
  }));
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
    const watch = watchDoubleRuns(cloud, [web]);
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

      const execution = await executionFor(cloud, "host-evacuation", "host-1");
      const run = await waitFlow(sfn, execution, 240_000);
      expect(run.status, run.cause).toBe("SUCCEEDED");
      const report = (
        run.output as { report: { evacuated: { name: string; proof: string }[]; hostProof: string } }
      ).report;
      expect(report.evacuated).toEqual([expect.objectContaining({ name: "web-1", proof: "lease" })]);
      expect(report.hostProof).toMatch(/lease expired/);
    } finally {
      await watch.stop();
    }
    expect(await watch.stop()).toEqual([]);
    const moved = await cloud.stores.instances.require(web.uuid);
    expect(moved).toMatchObject({ vmState: "active", taskState: null, fencingRequired: null });
    expect(["host-2", "host-3"]).toContain(moved.host);
    expect((await domStates(web.uuid))[moved.host]).toBe("running");
  });

  it("host-1's network returns: fed again, and host-recovery removes the stale copy; invariants hold", async () => {
    const h1 = cloud.fleet.hosts.get("host-1")!;
    await h1.startAgent();
    h1.startHeartbeat();
    const recovery = await executionFor(cloud, "host-recovery", "host-1");
    const run = await waitFlow(sfn, recovery, 180_000);
    expect(run.status, run.cause).toBe("SUCCEEDED");
    const moved = await cloud.stores.instances.require(web.uuid);
    expect(await domStates(web.uuid)).toEqual({ [moved.host]: "running" });
    await expectInvariants(cloud);
  });
});
