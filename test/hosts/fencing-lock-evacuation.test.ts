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
import type { Instance } from "#shared/domain/schemas.js";
import { watchDoubleRuns } from "../support/double-runs.js";
import { sfnClient, waitFlow } from "../support/flows.js";
import {
  BMC_REFUSES,
  bootAdopted,
  executionFor,
  executions,
  expectInvariants,
  FAST_FENCING,
  HOST_FAILURE_WAIT_MS,
  poolHosts,
  runningOn as runningOnIn,
  until,
} from "../support/hosts.js";

let cloud: LocalCloud;
let sfn: SFNClient;
let db: Instance;
const runningOn = (uuid: string) => runningOnIn(cloud, uuid);

/** The rebuild executions started for the instance so far (one per round that tried it). */
const childRuns = (uuid: string) =>
  executions(cloud, "rebuild").filter((d) => d.inputObject.instanceUuid === uuid);

beforeAll(async () => {
  cloud = await startLocalCloud({
    hosts: poolHosts("p1", "host-a", "host-b", "host-c"),
    retryIntervalScale: 0.05,
    hostCommandDeadlineMs: 30_000,
    hostFailure: FAST_FENCING,
  });
  sfn = sfnClient();
  ({ db } = await bootAdopted(cloud, { db: { name: "db-1", host: "host-a", nics: 1 } }));
}, 600_000);

afterAll(async () => {
  await cloud?.stop();
});

describe("a shared disk under the image lock, host-a not proven dead", () => {
  it("tried on `lock` and refused while host-a runs it (fencing required, retried each round); evacuated once the fence works", async () => {
    const a = cloud.fleet.hosts.get("host-a")!;
    cloud.bmcs.setFault("host-a", BMC_REFUSES);
    const watch = watchDoubleRuns(cloud, [db]);
    try {
      await a.stopHeartbeat();
      await a.stopAgent();
      const execution = await executionFor(cloud, "host-evacuation", "host-a");
      // Two rounds tried it on `lock`, each a child of its own (a new request id), each refused by the lock.
      await until(
        "two refused tries",
        () =>
          childRuns(db.uuid).filter((d) => d.status === "FAILED" && d.error === "FencingRequired").length >=
          2,
        HOST_FAILURE_WAIT_MS,
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

      cloud.bmcs.setFault("host-a", null);
      const run = await waitFlow(sfn, execution, 240_000);
      expect(run.status, run.cause).toBe("SUCCEEDED");
      expect(a.running).toBe(false);
      const report = (
        run.output as { report: { evacuated: { name: string; proof: string }[]; failed: unknown[] } }
      ).report;
      expect(report.evacuated).toEqual([expect.objectContaining({ name: "db-1", proof: "power" })]);
      expect(report.failed).toEqual([]);
    } finally {
      cloud.bmcs.setFault("host-a", null);
      await watch.stop();
    }
    expect(await watch.stop()).toEqual([]);
    const moved = await cloud.stores.instances.require(db.uuid);
    expect(moved).toMatchObject({ vmState: "active", taskState: null, fault: null, fencingRequired: null });
    expect(await runningOn(db.uuid)).toEqual([moved.host]);
    await expectInvariants(cloud);
  });
});
