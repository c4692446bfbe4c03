/**
 * Issue 16, outcome 1 in its plainest form, on real hosts: an agent-only failure (host-1's SSM agent and
 * heartbeat stopped, its guest running) whose power fence (its IPMI BMC, through a peer's fence_ipmilan)
 * refuses. The guest is never started elsewhere;
 * it stays "fencing required" on host-1 and keeps running there. The network comes back before any proof:
 * the evacuation gives up (its report lists the instance as fencing required), host-recovery finds nothing
 * stale and clears the mark; the guest ran on host-1 the whole time and nowhere else.
 * Hosts: 1, 2, 3 with local disks.
 */
import type { SFNClient } from "@aws-sdk/client-sfn";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LocalCloud } from "#local/cloud.js";
import type { Instance } from "#shared/domain/schemas.js";
import { watchDoubleRuns } from "../support/double-runs.js";
import { waitFlow } from "../support/flows.js";
import {
  BMC_REFUSES,
  bmcPowerOffs,
  executionFor,
  expectInvariants,
  HOST_FAILURE_WAIT_MS,
  startAgentFailureFleet,
  until,
} from "../support/hosts.js";

let cloud: LocalCloud;
let sfn: SFNClient;
let web: Instance;

beforeAll(async () => {
  ({ cloud, sfn, web } = await startAgentFailureFleet());
}, 600_000);

afterAll(async () => {
  await cloud?.stop();
});

describe("an agent-only failure that ends before any proof", () => {
  it("the guest keeps running on host-1 only; the evacuation gives up listing it; recovery clears the mark", async () => {
    const h1 = cloud.fleet.hosts.get("host-1")!;
    cloud.bmcs.setFault("host-1", BMC_REFUSES);
    // Running on host-1 and nowhere else at every look.
    const watch = watchDoubleRuns(cloud, [web], { onlyOn: "host-1" });
    try {
      await h1.stopHeartbeat();
      await h1.stopAgent();
      const execution = await executionFor(cloud, "host-evacuation", "host-1");
      await until(
        "web-1 marked fencing required",
        async () => (await cloud.stores.instances.require(web.uuid)).fencingRequired !== null,
        HOST_FAILURE_WAIT_MS,
      );
      // The management network returns before any proof of death.
      await h1.startAgent();
      h1.startHeartbeat();
      const run = await waitFlow(sfn, execution, 180_000);
      expect(run.status).toBe("FAILED");
      expect(run.error).toBe("HostEvacuationIncomplete");
      const report = JSON.parse(run.cause ?? "{}") as {
        fencingRequired: { name: string }[];
        failed: unknown[];
      };
      expect(report.fencingRequired.map((f) => f.name)).toEqual(["web-1"]);
      expect(report.failed).toEqual([]);
      const recovery = await executionFor(cloud, "host-recovery", "host-1");
      const rec = await waitFlow(sfn, recovery, 180_000);
      expect(rec.status, rec.cause).toBe("SUCCEEDED");
    } finally {
      cloud.bmcs.setFault("host-1", null);
      await watch.stop();
    }
    expect(await watch.stop()).toEqual([]);
    expect(bmcPowerOffs(cloud, "host-1").length).toBeGreaterThanOrEqual(1);
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
    await expectInvariants(cloud);
  });
});
