/**
 * Nothing a boot, a migration or a delete does reads the fleet (issue 34): ScheduleBoot (any zone: each
 * zone's index), the boot's failure end, ScheduleMigration, the migrate flow's failure end, and a delete's
 * FinishDelete read the same DynamoDB items at 10 hosts and at 1,000 (counted at the DynamoDB endpoint), and
 * each end releases the claim its flow made (named before the claim: write-ahead).
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { acceptBoot } from "#functions/conductor/steps/accept-boot.js";
import { acceptDelete } from "#functions/conductor/steps/accept-delete.js";
import { finishDelete } from "#functions/conductor/steps/finish-delete.js";
import { handleBootFailure } from "#functions/conductor/steps/handle-boot-failure.js";
import { scheduleBoot } from "#functions/conductor/steps/schedule-boot.js";
import { acceptMigration } from "#functions/migration/steps/accept.js";
import { handleMigrationFailure } from "#functions/migration/steps/handle-failure.js";
import { scheduleMigration } from "#functions/migration/steps/schedule.js";
import type { BootState } from "#shared/flow/boot-contract.js";
import type { MaintenanceDeps } from "#shared/lambda/maintenance-runtime.js";
import { makeBuildSpec } from "../../support/fixtures.js";
import { fleetOf, itemsReadBy } from "../../support/scale.js";
import { executionArn as arn, seedHosts, seedInstance, useStepHarness } from "../../support/step-harness.js";

const newWorld = useStepHarness();
const failed = (step: string) => ({
  [step]: {
    Error: "InjectedFault",
    Cause: JSON.stringify({ errorType: "InjectedFault", errorMessage: "made to fail" }),
  },
});

async function readsAt(hosts: number) {
  const w = await newWorld();
  await seedHosts(w, [{ name: "src" }]);
  // Half the fleet in a second zone: a boot that asks for no zone reads both zones' indexes.
  await fleetOf(w, hosts / 2);
  await fleetOf(w, hosts / 2, { prefix: "z", overrides: { availabilityZone: "az2" } });
  w.executor.on(() => ({ exitCode: 0, stdout: "", stderr: "" }));
  const d = w.deps;

  // A boot in any zone: scheduled, then failed (its host cleaned): the claim released where the build names it.
  const requestId = randomUUID();
  const build = makeBuildSpec();
  const accepted = await acceptBoot(d, {
    request: { requestId, build },
    executionArn: arn("boot", requestId),
  });
  const boot = await itemsReadBy(w, () => scheduleBoot(d, accepted));
  const bootHost = (boot.result as BootState).host!;
  expect((await w.db.stores.actions.require(requestId)).build?.targetHost).toBe(bootHost);
  const bootEnd = await itemsReadBy(w, () =>
    handleBootFailure(d, { ...(boot.result as BootState), failure: failed("prepareBoot") }),
  );
  expect((await w.db.stores.hosts.require(bootHost)).claims[build.instanceUuid]).toBeUndefined();

  // A cold migration off src: scheduled, then failed at its check: the claim released on the named target.
  const instance = await seedInstance(w, "src");
  const maintenance: MaintenanceDeps = {
    ...d,
    maintenance: { liveMigrationTimeoutSeconds: 60, drainMaxConcurrency: 2 },
  };
  const migrationId = randomUUID();
  const flow = await acceptMigration(maintenance, {
    request: { requestId: migrationId, instanceUuid: instance.uuid, live: false },
    executionArn: arn("migrate", migrationId),
  });
  const migrate = await itemsReadBy(w, () => scheduleMigration(maintenance, flow));
  const target = migrate.result.destHost;
  expect((await w.db.stores.hosts.require(target)).claims[instance.uuid]?.owner).toBe(migrationId);
  const migrateEnd = await itemsReadBy(w, () =>
    handleMigrationFailure(maintenance, { ...migrate.result, failure: failed("checkTarget") }),
  );
  expect((await w.db.stores.hosts.require(target)).claims[instance.uuid]).toBeUndefined();

  // A delete of that instance: FinishDelete releases its claims where it may hold them.
  const deleteId = randomUUID();
  const del = await acceptDelete(d, {
    request: { requestId: deleteId, instanceUuid: instance.uuid },
    executionArn: arn("delete", deleteId),
  });
  const finish = await itemsReadBy(w, () => finishDelete(d, del));
  expect((await w.db.stores.hosts.require("src")).claims[instance.uuid]).toBeUndefined();

  const counts = {
    scheduleBoot: boot.items,
    bootEnd: bootEnd.items,
    scheduleMigration: migrate.items,
    migrateEnd: migrateEnd.items,
    finishDelete: finish.items,
  };
  console.log(`items read at ${hosts} hosts: ${JSON.stringify(counts)}`);
  return counts;
}

describe("boots, migrations and deletes read no more at 1,000 hosts than at 10", () => {
  it("ScheduleBoot, ScheduleMigration and their failure ends, and FinishDelete", async () => {
    const small = await readsAt(10);
    const large = await readsAt(1000);
    const both = JSON.stringify({ small, large });
    // Bounded: a few index pages (CANDIDATE_PAGE hosts each, per zone), never the fleet.
    expect(large.scheduleBoot, both).toBeLessThanOrEqual(small.scheduleBoot + 2 * 16);
    expect(large.scheduleBoot, both).toBeLessThan(100);
    expect(large.scheduleMigration, both).toBeLessThanOrEqual(small.scheduleMigration + 16);
    expect(large.scheduleMigration, both).toBeLessThan(100);
    expect(large.bootEnd, both).toBeLessThanOrEqual(small.bootEnd);
    expect(large.migrateEnd, both).toBeLessThanOrEqual(small.migrateEnd);
    expect(large.finishDelete, both).toBeLessThanOrEqual(small.finishDelete);
  }, 180_000);
});

describe("what the scheduler's index holds of a host", () => {
  it("is enough for every filter: a live migration placed from the index lands on a host that takes one", async () => {
    const w = await newWorld();
    const live = (host: string) => ({
      uri: `qemu+unix:///session?socket=/run/${host}.sock`,
      inboundAddress: "127.0.0.1",
      poolIsLocalFolder: true,
    });
    await seedHosts(w, [{ name: "src", overrides: { liveMigration: live("src") } }]);
    // The roomiest hosts take no live migration; three others do (the index's order puts them last).
    await fleetOf(w, 20);
    await fleetOf(w, 3, {
      prefix: "live",
      overrides: { liveMigration: live("live"), usage: { vcpus: 0, memoryMiB: 3000, diskGiB: 0 } },
    });
    const instance = await seedInstance(w, "src");
    const deps: MaintenanceDeps = {
      ...w.deps,
      maintenance: { liveMigrationTimeoutSeconds: 60, drainMaxConcurrency: 2 },
    };
    const migrationId = randomUUID();
    const flow = await acceptMigration(deps, {
      request: { requestId: migrationId, instanceUuid: instance.uuid, live: true },
      executionArn: arn("migrate", migrationId),
    });
    const scheduled = await scheduleMigration(deps, flow);
    expect(scheduled.destHost).toMatch(/^live/);
  });
});
