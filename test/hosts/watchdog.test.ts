/**
 * The old user-space guard on real hosts (local/hosts/host-guard.ts): a process of the host apart from its
 * agent, fed by the heartbeat publisher only after an accepted heartbeat, that destroys the host's guests
 * through libvirtd when unfed for the lease. It is no watchdog device (it dies with the host's user space
 * and does nothing while libvirtd hangs), so its host's heartbeats say 0 and, since issue 26, the control
 * plane never counts its lease: host-1 loses its management network (SSM agent and heartbeat publisher
 * stopped; libvirtd and the guest go on), the guard destroys the guest, and still nothing is started
 * elsewhere on `lease`: web-1 waits "fencing required". No instance runs twice at any look. host-1's network
 * returns before any proof: the evacuation gives up, host-recovery clears the mark. (The watchdog device,
 * whose heartbeats do say "armed", is the host agent's test.)
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

describe("the user-space guard is no proof of death", () => {
  it("fed by accepted heartbeats, it leaves a healthy host alone for longer than the lease", async () => {
    const h1 = cloud.fleet.hosts.get("host-1")!;
    expect(h1.guardPid).toBeGreaterThan(0);
    await sleep((LEASE_SECONDS + 2) * 1000);
    expect(await domStates(web.uuid)).toEqual({ "host-1": "running" });
  });

  it("host-1 cut off: the guard destroys the guest, yet its heartbeats never said armed: no lease, web-1 waits; nothing runs twice", async () => {
    const h1 = cloud.fleet.hosts.get("host-1")!;
    const watch = watchDoubleRuns(cloud, [web]);
    try {
      await h1.stopHeartbeat();
      await h1.stopAgent();
      const lastBeat = Date.now();
      expect(h1.running).toBe(true); // libvirtd and the guard go on: only the management network is gone
      await until(
        "the guard to destroy the guest",
        async () => (await domStates(web.uuid))["host-1"] === "shut off",
        60_000,
      );
      const log = readFileSync(join(h1.logDir, "host-guard.log"), "utf8");
      expect(log).toMatch(/lease expired/);
      // The adopted domain keeps its libvirt name until Lazarus recreates it.
      expect(log).toMatch(new RegExp(`destroyed ${web.name}\\b`));

      const execution = await executionFor(cloud, "host-evacuation", "host-1");
      await until(
        "web-1 marked fencing required",
        async () => (await cloud.stores.instances.require(web.uuid)).fencingRequired !== null,
        120_000,
      );
      // Well past the lease and its margin: still no proof, nothing started.
      await sleep(Math.max(0, lastBeat + (LEASE_SECONDS + 3 + 8) * 1000 - Date.now()));
      expect(await cloud.stores.hosts.require("host-1")).toMatchObject({
        deathProof: null,
        forcedDown: false,
      });
      expect(
        cloud.stepFunctions.listExecutions({ stateMachineArn: cloud.rebuildStateMachineArn }).executions,
      ).toEqual([]);
      // The network returns before any proof: the evacuation gives up, listing web-1.
      await h1.startAgent();
      h1.startHeartbeat();
      const run = await waitFlow(sfn, execution, 240_000);
      expect(run.status).toBe("FAILED");
      expect(run.error).toBe("HostEvacuationIncomplete");
      const report = JSON.parse(run.cause ?? "{}") as { hostProof: string; notEvacuated: { name: string }[] };
      expect(report.hostProof).toMatch(/no lease: .*no watchdog armed/);
      expect(report.notEvacuated.map((n) => n.name)).toEqual(["web-1"]);
    } finally {
      await watch.stop();
    }
    expect(await watch.stop()).toEqual([]);
  });

  it("host-recovery clears the mark: web-1 is host-1's again (shut off by the guard); invariants hold", async () => {
    const recovery = await executionFor(cloud, "host-recovery", "host-1");
    const run = await waitFlow(sfn, recovery, 180_000);
    expect(run.status, run.cause).toBe("SUCCEEDED");
    expect(await cloud.stores.instances.require(web.uuid)).toMatchObject({
      host: "host-1",
      fencingRequired: null,
      fault: null,
    });
    expect(await domStates(web.uuid)).toEqual({ "host-1": "shut off" });
    await expectInvariants(cloud);
  });
});
