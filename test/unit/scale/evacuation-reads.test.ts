/**
 * Nothing one evacuation does reads the fleet (issue 34): the DynamoDB items one Schedule and one end of a
 * flow (Finish after a good spawn, HandleFailure after a failed one) read, counted at the DynamoDB endpoint
 * (what a Query or Scan examined, as DynamoDB bills it: bench/cost.ts), are the same in a fleet of 10 hosts
 * and of 1,000. And a host item holding 200 instances' claims stays far below DynamoDB's 400 KB.
 */
import { randomUUID } from "node:crypto";
import { GetItemCommand } from "@aws-sdk/client-dynamodb";
import { describe, expect, it } from "vitest";
import { checkInstanceNotOnTarget } from "#functions/compute-steps/steps/check-instance-not-on-target.js";
import { checkSharedStorage } from "#functions/compute-steps/steps/check-shared-storage.js";
import { prepareTarget } from "#functions/compute-steps/steps/prepare-target.js";
import { spawn } from "#functions/compute-steps/steps/spawn.js";
import { accept } from "#functions/conductor/steps/accept.js";
import { finish } from "#functions/conductor/steps/finish.js";
import { handleFailure } from "#functions/conductor/steps/handle-failure.js";
import { schedule } from "#functions/conductor/steps/schedule.js";
import type { FlowState } from "#shared/flow/contract.js";
import { itemBytes } from "../../../bench/cost.js";
import { fleetOf, itemsReadBy } from "../../support/scale.js";
import {
  probeFacts,
  rebuildExecutionArn,
  seedHosts,
  seedInstance,
  useStepHarness,
} from "../../support/step-harness.js";

const newWorld = useStepHarness();

async function evacuationIn(hosts: number) {
  const w = await newWorld();
  await seedHosts(w, [{ name: "src", down: true }]);
  await fleetOf(w, hosts);
  const start = async () => {
    const instance = await seedInstance(w, "src");
    const requestId = randomUUID();
    const flow = await accept(w.deps, {
      request: { requestId, instanceUuid: instance.uuid, recreate: true },
      executionArn: rebuildExecutionArn(requestId),
    });
    return flow;
  };
  return { w, start };
}

/** What one Schedule, one Finish and one HandleFailure read in a fleet of `hosts`. */
async function readsAt(hosts: number) {
  const { w, start } = await evacuationIn(hosts);
  w.executor.on(() => ({ exitCode: 0, stdout: "domain=absent\ndisk=present\nimage=present\n", stderr: "" }));

  const good = await start();
  const scheduled = await itemsReadBy(w, () => schedule(w.deps, good));
  let state = scheduled.result as FlowState;
  w.executor.on(probeFacts(state.destHost!, { domain: "absent", disk: "present", image: "present" }));
  for (const step of [checkInstanceNotOnTarget, checkSharedStorage, prepareTarget, spawn])
    state = await step(w.deps, state);
  const finished = await itemsReadBy(w, () => finish(w.deps, state));

  const bad = await start();
  const badState = (await schedule(w.deps, bad)) as FlowState;
  const failed = await itemsReadBy(w, () =>
    handleFailure(w.deps, {
      ...badState,
      failure: {
        checkInstanceNotOnTarget: {
          Error: "InstanceExists",
          Cause: JSON.stringify({ errorType: "InstanceExists", errorMessage: "a copy is on the target" }),
        },
      },
    }),
  );
  const dest = (await w.db.stores.hosts.get(badState.destHost!))!;
  expect(dest.claims[badState.instanceUuid], "the failed flow's claim is released").toBeUndefined();
  const counts = { schedule: scheduled.items, finish: finished.items, handleFailure: failed.items };
  console.log(`items read at ${hosts} hosts: ${JSON.stringify(counts)}`);
  return counts;
}

describe("one evacuation's reads do not grow with the fleet", () => {
  it("Schedule, Finish and HandleFailure read the same items at 10 and at 1,000 hosts", async () => {
    const small = await readsAt(10);
    const large = await readsAt(1000);
    // Bounded: a few index pages (CANDIDATE_PAGE hosts each), never the fleet.
    expect(large.schedule, JSON.stringify({ small, large })).toBeLessThanOrEqual(small.schedule + 16);
    expect(large.schedule).toBeLessThan(100);
    expect(large.finish).toBeLessThanOrEqual(small.finish);
    expect(large.handleFailure).toBeLessThanOrEqual(small.handleFailure);
  }, 120_000);

  it("a host item with 200 instances' claims stays far below 400 KB", async () => {
    const w = await newWorld();
    await seedHosts(w, [
      { name: "big", overrides: { capacity: { vcpus: 4096, memoryMiB: 1 << 22, diskGiB: 1 << 16 } } },
    ]);
    for (let i = 0; i < 200; i++) await seedInstance(w, "big");
    const raw = await w.db.client.send(
      new GetItemCommand({ TableName: w.db.tables.hosts, Key: { name: { S: "big" } } }),
    );
    const bytes = itemBytes(raw.Item as unknown as Record<string, Record<string, unknown>>);
    expect(Object.keys((await w.db.stores.hosts.require("big")).claims)).toHaveLength(200);
    console.log(`host item with 200 claims: ${bytes} bytes`);
    expect(bytes).toBeLessThan(100 * 1024);
  }, 60_000);
});
