/**
 * Issue 16, outcomes 1 and 2, on real hosts, with the `ec2` power fence (EC2 bare-metal hosts; the other
 * host tests fence through IPMI BMCs): an agent-only failure (host-1's SSM agent and heartbeat
 * publisher stopped, its qemu still running) while its power fence (the local EC2 endpoint, reached by the
 * real @aws-sdk/client-ec2) first refuses the stop, then accepts it and never carries it out (the fence
 * times out), then works. Until the fence confirms host-1 off, its local-storage instance is not started
 * anywhere else: it stays "fencing required" on host-1, running there, and nothing runs twice at any look.
 * Once the fence works, the same host-evacuation finishes it; the report names the proof (power).
 * Hosts: 1, 2, 3 with local disks (a third of three may fail: the mass-failure guard lets it through).
 */
import type { SFNClient } from "@aws-sdk/client-sfn";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LocalCloud } from "#local/cloud.js";
import type { Instance } from "#shared/domain/schemas.js";
import { watchDoubleRuns } from "../support/double-runs.js";
import { waitFlow } from "../support/flows.js";
import {
  EC2_FENCING,
  executionFor,
  expectInvariants,
  HOST_FAILURE_WAIT_MS,
  POWER_FENCE_REFUSES,
  runningOn as runningOnIn,
  startAgentFailureFleet,
  until,
} from "../support/hosts.js";

let cloud: LocalCloud;
let sfn: SFNClient;
let web: Instance;
const runningOn = (uuid: string) => runningOnIn(cloud, uuid);

/** The Fence step outcomes of an execution so far, in order. */
function fenceOutcomes(executionArn: string): string[] {
  return (cloud.stepFunctions.getExecutionHistory({ executionArn, maxResults: 1000 }).events ?? [])
    .filter((e) => e.type === "TaskStateExited" && e.stateExitedEventDetails?.name === "Fence")
    .map((e) => {
      const out = JSON.parse(e.stateExitedEventDetails?.output ?? "{}") as {
        fence?: { attempt?: { outcome?: string } };
      };
      return out.fence?.attempt?.outcome ?? "?";
    });
}

beforeAll(async () => {
  ({ cloud, sfn, web } = await startAgentFailureFleet({ fencing: EC2_FENCING }));
}, 600_000);

afterAll(async () => {
  await cloud?.stop();
});

describe("an agent-only failure with a fence that fails, then times out, then works", () => {
  it("nothing is started elsewhere until the fence confirms host-1 off; then the instance is evacuated, with proof power", async () => {
    const h1 = cloud.fleet.hosts.get("host-1")!;
    const id = (await cloud.stores.hosts.require("host-1")).managedInstanceId;
    cloud.ec2.setFault(POWER_FENCE_REFUSES);
    const watch = watchDoubleRuns(cloud, [web]);
    try {
      // The agent and the heartbeat stop; the guest goes on running (qemu is not touched).
      await h1.stopHeartbeat();
      await h1.stopAgent();
      const execution = await executionFor(cloud, "host-evacuation", "host-1");
      const arn = execution.executionArn;

      // Outcome 2, a fence that fails: "fencing required", still running on host-1 only, retried.
      await until(
        "two refused fences",
        () => fenceOutcomes(arn).filter((o) => o === "failed").length >= 2,
        HOST_FAILURE_WAIT_MS,
      );
      const waiting = await cloud.stores.instances.require(web.uuid);
      expect(waiting).toMatchObject({
        host: "host-1",
        vmState: "active",
        taskState: null,
        fault: { error: "FencingRequired", details: { holder: "host-1" } },
        fencingRequired: { host: "host-1", refusedBy: null },
      });
      expect(waiting.fault?.message).toMatch(/host-1 is not proven dead/);
      // Marked once for the wait, not once per round.
      const marks = (await cloud.stores.faults.list(web.uuid)).filter((f) => f.error === "FencingRequired");
      expect(marks).toHaveLength(1);
      expect(await runningOn(web.uuid)).toEqual(["host-1"]);
      expect(cloud.ec2.stops.every((s) => s.instanceIds.includes(id) && s.force)).toBe(true);

      // A fence that accepts the stop and never carries it out: timed out, still nothing started.
      cloud.ec2.setFault({ mode: "hang" });
      await until("a timed-out fence", () => fenceOutcomes(arn).includes("timed-out"), HOST_FAILURE_WAIT_MS);
      expect(await runningOn(web.uuid)).toEqual(["host-1"]);
      expect((await cloud.stores.instances.require(web.uuid)).host).toBe("host-1");

      // The fence works again: host-1 is powered off, and the same evacuation finishes the instance.
      cloud.ec2.setFault(null);
      const run = await waitFlow(sfn, execution, 240_000);
      expect(run.status, run.cause).toBe("SUCCEEDED");
      expect(h1.running).toBe(false);
      expect(fenceOutcomes(arn).at(-1)).toBe("off");
      const report = (
        run.output as {
          report: {
            evacuated: { name: string; proof: string }[];
            fencingRequired: unknown[];
            hostProof: string;
          };
        }
      ).report;
      expect(report.evacuated).toEqual([expect.objectContaining({ name: "web-1", proof: "power" })]);
      expect(report.fencingRequired).toEqual([]);
      expect(report.hostProof).toMatch(/power fence/);
    } finally {
      cloud.ec2.setFault(null);
      await watch.stop();
    }
    expect(await watch.stop()).toEqual([]);
    const moved = await cloud.stores.instances.require(web.uuid);
    expect(moved).toMatchObject({ vmState: "active", taskState: null, fault: null, fencingRequired: null });
    expect(["host-2", "host-3"]).toContain(moved.host);
    expect(await runningOn(web.uuid)).toEqual([moved.host]);
    await expectInvariants(cloud);
  });
});
