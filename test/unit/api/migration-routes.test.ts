/**
 * Issue 32's routes over real HTTP against a local cloud without hypervisors (dynalite, the real
 * handlers, the real rebuild, migrate and host-drain ASL, an SSM endpoint no agent answers): nova's
 * os-migrateLive / migrate / confirmResize / revertResize as nova answers them, every refusal changing
 * nothing; the server's migrations and action log; drain, undrain and the drain check. A flow that gets past
 * its checks fails on the hosts no agent answers for, and ends as the migrate machine ends a failure.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Instance } from "#shared/domain/schemas.js";
import { type ApiTestCloud, startApiTestCloud } from "../../support/api-cloud.js";
import { refusedWithoutChange as refusedWithoutChangeIn } from "../../support/api-state.js";
import { makeHost, makeInstance, makeMigration } from "../../support/fixtures.js";

let cloud: ApiTestCloud;
const FRESH = new Date(Date.now() + 3_600_000).toISOString();
const liveMigration = (host: string) => ({
  uri: `qemu+tls://${host}.example/system`,
  inboundAddress: "10.0.0.9",
  poolIsLocalFolder: false,
});

beforeAll(async () => {
  cloud = await startApiTestCloud({ machines: ["migrate", "host-drain"] });
  const { hosts } = cloud.db.stores;
  for (const name of ["host-a", "host-b", "host-c"])
    await hosts.put(makeHost({ name, lastHeartbeatAt: FRESH, liveMigration: liveMigration(name) }));
  await hosts.put(makeHost({ name: "host-cold", lastHeartbeatAt: FRESH }));
  await hosts.put(
    makeHost({
      name: "host-failed",
      lastHeartbeatAt: FRESH,
      incident: {
        id: "inc-1",
        status: "evacuating",
        source: "alarm",
        reason: null,
        executionName: "x",
        openedAt: FRESH,
        updatedAt: FRESH,
        summary: null,
      },
    }),
  );
}, 60_000);

afterAll(async () => {
  await cloud?.stop();
});

beforeEach(async () => {
  await cloud.settle();
});

async function instance(overrides: Partial<Instance> = {}): Promise<Instance> {
  const i = makeInstance({
    host: "host-a",
    node: "host-a",
    createdAt: new Date().toISOString(),
    ...overrides,
  });
  await cloud.db.stores.hosts.claim(i.host, {
    instanceUuid: i.uuid,
    resources: i.flavor,
    owner: `boot-${i.uuid}`,
    serverGroup: null,
  });
  return cloud.db.stores.instances.create(i);
}

const action = (id: string, body: unknown, version = "2.95") =>
  cloud.call("POST", `/v2.1/servers/${id}/action`, { body, version });

const refusedWithoutChange = (
  request: () => ReturnType<ApiTestCloud["call"]>,
  status: number,
  fault: string,
  message?: RegExp,
) => refusedWithoutChangeIn(cloud, request, status, fault, message);

describe("os-migrateLive and migrate", () => {
  it("refuses by nova's rules and changes nothing", async () => {
    const busy = await instance({ taskState: "powering_on", taskRequestId: randomUUID() });
    await refusedWithoutChange(
      () => action(busy.uuid, { "os-migrateLive": { host: null, block_migration: "auto" } }),
      409,
      "conflictingRequest",
    );
    const local = await instance({ onSharedStorage: false });
    const res = await refusedWithoutChange(
      () => action(local.uuid, { "os-migrateLive": { host: null, block_migration: "auto" } }),
      400,
      "badRequest",
    );
    expect(res.text).toMatch(/block migration is not supported/);
    const ok = await instance();
    await refusedWithoutChange(
      () => action(ok.uuid, { "os-migrateLive": { host: null, block_migration: true } }),
      400,
      "badRequest",
    );
    await refusedWithoutChange(
      () => action(ok.uuid, { "os-migrateLive": { host: "host-x", block_migration: "auto" } }),
      404,
      "itemNotFound",
    );
    await refusedWithoutChange(
      () => action(ok.uuid, { "os-migrateLive": { host: "host-a", block_migration: "auto" } }),
      400,
      "badRequest",
    );
    await refusedWithoutChange(
      () => action(ok.uuid, { "os-migrateLive": { host: "host-cold", block_migration: "auto" } }),
      400,
      "badRequest",
    );
    // Versioned fields: disk_over_commit only before 2.25, a host for migrate only from 2.56.
    await refusedWithoutChange(
      () =>
        action(ok.uuid, {
          "os-migrateLive": { host: null, block_migration: "auto", disk_over_commit: false },
        }),
      400,
      "badRequest",
    );
    await refusedWithoutChange(
      () => action(ok.uuid, { migrate: { host: "host-b" } }, "2.55"),
      400,
      "badRequest",
    );
    await refusedWithoutChange(() => action(ok.uuid, { confirmResize: null }), 409, "conflictingRequest");
    await refusedWithoutChange(() => action(ok.uuid, { revertResize: null }), 409, "conflictingRequest");
  });

  it("accepts: 202, the migration and execution ids as headers; failing on hosts no agent answers, it ends as it was", async () => {
    const i = await instance();
    const res = await action(i.uuid, { "os-migrateLive": { host: "host-b", block_migration: "auto" } });
    expect(res.status, res.text).toBe(202);
    const migrationId = res.headers.get("x-lazarus-migration-id")!;
    expect(res.headers.get("x-lazarus-execution-id")).toBe(migrationId);
    expect(await cloud.db.stores.migrations.require(migrationId)).toMatchObject({
      type: "live-migration",
      sourceHost: "host-a",
    });
    await cloud.settle();
    expect(await cloud.db.stores.instances.require(i.uuid)).toMatchObject({
      host: "host-a",
      vmState: "active",
      taskState: null,
    });
    expect((await cloud.db.stores.migrations.require(migrationId)).status).toBe("failed");
    expect(Object.keys((await cloud.db.stores.hosts.require("host-b")).claims)).not.toContain(i.uuid);

    const listed = await cloud.call("GET", `/v2.1/servers/${i.uuid}/migrations`, { version: "2.80" });
    expect(listed.json).toMatchObject({
      migrations: [{ uuid: migrationId, server_uuid: i.uuid, status: "failed" }],
    });
    const shown = await cloud.call("GET", `/v2.1/servers/${i.uuid}/migrations/${migrationId}`, {
      version: "2.80",
    });
    expect(shown.json).toMatchObject({ migration: { id: migrationId, dest_compute: "host-b" } });
    const actions = await cloud.call("GET", `/v2.1/servers/${i.uuid}/os-instance-actions`);
    expect(actions.json).toMatchObject({ instanceActions: [{ action: "live-migration", message: "Error" }] });
    const one = (await cloud.call("GET", `/v2.1/servers/${i.uuid}/os-instance-actions/req-${migrationId}`))
      .json as {
      instanceAction: { events: { event: string }[] };
    };
    expect(one.instanceAction.events.map((e) => e.event)).toEqual(
      expect.arrayContaining(["Accept", "Schedule", "HandleFailure"]),
    );

    const cold = await action(i.uuid, { migrate: null });
    expect(cold.status, cold.text).toBe(202);
    await cloud.settle();
    expect(
      await cloud.db.stores.migrations.require(cold.headers.get("x-lazarus-migration-id")!),
    ).toMatchObject({
      type: "migration",
      status: "error",
    });
    expect(await cloud.db.stores.instances.require(i.uuid)).toMatchObject({
      host: "host-a",
      vmState: "active",
      taskState: null,
    });
  });
});

describe("confirmResize and revertResize of a finished cold migration", () => {
  async function resized() {
    const i = await instance({ host: "host-b", node: "host-b", vmState: "resized" });
    // The source's reservation, as a cold migration keeps it until the confirm.
    await cloud.db.stores.hosts.claim("host-a", {
      instanceUuid: i.uuid,
      resources: i.flavor,
      owner: "old",
      serverGroup: null,
    });
    const m = makeMigration({
      instanceUuid: i.uuid,
      type: "migration",
      status: "finished",
      sourceHost: "host-a",
      destHost: "host-b",
    });
    await cloud.db.stores.migrations.create(m);
    return { i, m };
  }

  it("confirm: 204, the source's reservation released, ACTIVE, confirmed; listed as confirmResize", async () => {
    const { i, m } = await resized();
    const confirm = () =>
      cloud.call("POST", `/v2.1/servers/${i.uuid}/action`, {
        body: { confirmResize: null },
        version: "2.95",
        headers: { "idempotency-key": "confirm-1" },
      });
    const res = await confirm();
    expect(res.status, res.text).toBe(204);
    expect(await cloud.db.stores.instances.require(i.uuid)).toMatchObject({
      vmState: "active",
      host: "host-b",
    });
    expect((await cloud.db.stores.hosts.require("host-a")).claims[i.uuid]).toBeUndefined();
    expect((await cloud.db.stores.migrations.require(m.id)).status).toBe("confirmed");
    const actions = (await cloud.call("GET", `/v2.1/servers/${i.uuid}/os-instance-actions`)).json as {
      instanceActions: { action: string }[];
    };
    expect(actions.instanceActions.map((a) => a.action).sort()).toEqual(["confirmResize", "migrate"]);
    // The same request again (same Idempotency-Key) is a replay of its answer; another confirm is refused.
    expect((await confirm()).status).toBe(204);
    await refusedWithoutChange(
      () =>
        cloud.call("POST", `/v2.1/servers/${i.uuid}/action`, {
          body: { confirmResize: null },
          version: "2.95",
          headers: { "Idempotency-Key": randomUUID() },
        }),
      409,
      "conflictingRequest",
    );
  });

  it("revert: 202 and the revert flow; on hosts no agent answers it fails and stays on the target, ACTIVE", async () => {
    const { i, m } = await resized();
    const res = await action(i.uuid, { revertResize: null });
    expect(res.status, res.text).toBe(202);
    expect(res.headers.get("x-lazarus-migration-id")).toBe(m.id);
    await cloud.settle();
    const after = await cloud.db.stores.instances.require(i.uuid);
    expect(after).toMatchObject({ host: "host-b", taskState: null });
    expect((await cloud.db.stores.migrations.require(m.id)).followUps.map((u) => u.action)).toEqual([
      "revertResize",
    ]);
  });
});

describe("drain, undrain and the drain check", () => {
  it("the check names each instance's target and how; an unknown host is 404", async () => {
    const res = await cloud.call("GET", "/v2.1/os-evacuation-capacity?drain=host-c");
    expect(res.status, res.text).toBe(200);
    expect(res.json).toMatchObject({
      evacuation_capacity: { drain: { host: "host-c", drainable: true, placements: [] } },
    });
    expect((await cloud.call("GET", "/v2.1/os-evacuation-capacity?drain=host-x")).status).toBe(404);
  });

  it("refuses a failing host and an undrain of a host not in maintenance (409); drains one (202: disabled, never forced down)", async () => {
    await refusedWithoutChange(
      () => cloud.call("POST", "/v2.1/os-hosts/host-failed/drain", { body: {} }),
      409,
      "conflictingRequest",
    );
    await refusedWithoutChange(
      () => cloud.call("POST", "/v2.1/os-hosts/host-c/undrain", { body: {} }),
      409,
      "conflictingRequest",
    );
    await refusedWithoutChange(
      () => cloud.call("POST", "/v2.1/os-hosts/host-c/drain", { body: { reason: 7 } }),
      400,
      "badRequest",
    );
    const res = await cloud.call("POST", "/v2.1/os-hosts/host-c/drain", { body: { reason: "bios" } });
    expect(res.status, res.text).toBe(202);
    expect(await cloud.db.stores.hosts.require("host-c")).toMatchObject({
      enabled: false,
      disabledReason: "maintenance: bios",
      forcedDown: false,
    });
    await cloud.settle();
    // host-c held nothing: in maintenance at once.
    expect((await cloud.db.stores.hosts.require("host-c")).maintenance).toMatchObject({
      state: "maintenance",
      moved: [],
    });
    const view = (await cloud.call("GET", "/v2.1/os-hosts/host-c")).json as {
      "lazarus:host": { maintenance: { state: string } };
    };
    expect(view["lazarus:host"].maintenance.state).toBe("maintenance");
    const undrain = await cloud.call("POST", "/v2.1/os-hosts/host-c/undrain", { body: { return: true } });
    expect(undrain.status, undrain.text).toBe(200);
    expect(await cloud.db.stores.hosts.require("host-c")).toMatchObject({
      enabled: true,
      maintenance: null,
      disabledReason: null,
    });
  });
});
