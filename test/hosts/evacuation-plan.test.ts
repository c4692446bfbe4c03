/**
 * Issue 16, outcome 5, on real hosts: the evacuation plan read from the API before a host is killed
 * (GET /os-hosts/{host}/evacuation-plan) names where each instance lands when the host then really dies
 * and host-evacuation runs (nothing else changed in between; the children of a tier run at once, each trying
 * the host the plan gave it first, so the order in which they reach Schedule does not matter: without that,
 * c-small reaching Schedule first would take the room b-mid needs); the instance it could not place fails
 * NoValidHost; and the fleet check
 * (GET /os-evacuation-capacity) names host-1 as a loss the fleet cannot absorb.
 * Hosts: 1 (the source), 2 and 3 small (local disks).
 */
import type { SFNClient } from "@aws-sdk/client-sfn";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalCloud, startLocalCloud } from "#local/cloud.js";
import type { Instance } from "#shared/domain/schemas.js";
import { sfnClient, waitFlow } from "../support/flows.js";
import { apiGet, bootAdopted, executionFor, expectInvariants, FAST_PROBE } from "../support/hosts.js";

let cloud: LocalCloud;
let sfn: SFNClient;
let booted: Record<"prio" | "mid" | "small" | "big", Instance>;

const small = (memoryMiB: number) => ({ vcpus: 4, memoryMiB, diskGiB: 40 });

beforeAll(async () => {
  cloud = await startLocalCloud({
    hosts: [
      { name: "host-1" },
      { name: "host-2", capacity: small(256) },
      { name: "host-3", capacity: small(192) },
    ],
    retryIntervalScale: 0.05,
    hostCommandDeadlineMs: 30_000,
    hostFailure: FAST_PROBE,
  });
  sfn = sfnClient();
  const flavor = (memoryMiB: number) => ({ vcpus: 1, memoryMiB, diskGiB: 1 });
  // Defined with virsh on host-1 and adopted, as a fleet has its VMs; the priority set after adoption.
  booted = await bootAdopted(cloud, {
    prio: { name: "a-prio", host: "host-1", flavor: flavor(128), policy: { haPriority: 10 } },
    mid: { name: "b-mid", host: "host-1", flavor: flavor(192) },
    small: { name: "c-small", host: "host-1", flavor: flavor(128) },
    big: { name: "d-big", host: "host-1", flavor: flavor(400) },
  });
}, 600_000);

afterAll(async () => {
  await cloud?.stop();
});

interface Plan {
  placements: { instanceUuid: string; name: string; target: string }[];
  unplaced: { instanceUuid: string; name: string; reason: string }[];
}

describe("the evacuation plan before a kill", () => {
  it("names where each instance lands, and the one that finds no room; the fleet check names host-1", async () => {
    const plan = (await apiGet(cloud, "/os-hosts/host-1/evacuation-plan")).evacuation_plan as Plan;
    const capacity = (await apiGet(cloud, "/os-evacuation-capacity")).evacuation_capacity as {
      notAbsorbable: { host: string; unplaced: { name: string }[] }[];
    };
    // The plan is not trivial: the instances spread over both small hosts, and d-big fits nowhere.
    expect(plan.placements.map((p) => p.name).sort()).toEqual(["a-prio", "b-mid", "c-small"]);
    expect(new Set(plan.placements.map((p) => p.target))).toEqual(new Set(["host-2", "host-3"]));
    expect(plan.unplaced.map((u) => u.name)).toEqual(["d-big"]);
    expect(capacity.notAbsorbable).toEqual([
      expect.objectContaining({ host: "host-1", unplaced: [expect.objectContaining({ name: "d-big" })] }),
    ]);

    await cloud.killHost("host-1");
    const execution = await executionFor(cloud, "host-evacuation", "host-1");
    const run = await waitFlow(sfn, execution, 300_000);
    expect(run.status).toBe("FAILED");
    expect(run.error).toBe("HostEvacuationIncomplete");

    const landed: Record<string, string> = {};
    for (const i of Object.values(booted))
      landed[i.name] = (await cloud.stores.instances.require(i.uuid)).host;
    expect(Object.fromEntries(plan.placements.map((p) => [p.name, p.target]))).toEqual({
      "a-prio": landed["a-prio"],
      "b-mid": landed["b-mid"],
      "c-small": landed["c-small"],
    });
    const big = await cloud.stores.instances.require(booted.big.uuid);
    expect(big).toMatchObject({ host: "host-1", vmState: "error", fault: { error: "NoValidHost" } });
    await expectInvariants(cloud);
  });
});
