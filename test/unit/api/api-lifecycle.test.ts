/**
 * `POST /servers` and `DELETE /servers/{id}` over HTTP against a host-less local cloud (the real boot and
 * delete machines and handlers; no agent answers, so a boot that reaches its host fails there, as on AWS
 * against an unreachable host): every refusal changes nothing and starts nothing; an accepted create is a
 * BUILD server at once (its build, before a host is chosen), and ends in ERROR with its fault; one that
 * finds no host is an ERROR server without a host (no record is made), which a delete removes.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiTestCloud, startApiTestCloud } from "../../support/api-cloud.js";
import { stateSnapshot } from "../../support/api-state.js";
import { makeHost, makeInstance, makePort, seedUncleanTarget } from "../../support/fixtures.js";

let cloud: ApiTestCloud;
const FRESH = new Date(Date.now() + 3_600_000).toISOString();
const STALE = "2020-01-01T00:00:00.000Z";

beforeAll(async () => {
  cloud = await startApiTestCloud();
  await cloud.db.stores.hosts.put(makeHost({ name: "host-a", lastHeartbeatAt: FRESH }));
  await cloud.db.stores.hosts.put(makeHost({ name: "host-down", lastHeartbeatAt: STALE }));
}, 60_000);

afterAll(async () => {
  await cloud?.stop();
});

const create = (server: Record<string, unknown>, extra: Record<string, unknown> = {}, version = "2.95") =>
  cloud.call("POST", "/v2.1/servers", {
    body: { server: { name: "web-1", flavorRef: "m1.nano", imageRef: "cirros-0.6", ...server }, ...extra },
    version,
  });

async function refused(request: () => ReturnType<ApiTestCloud["call"]>, status: number, message: RegExp) {
  const before = await stateSnapshot(cloud);
  const res = await request();
  expect(res.status, res.text).toBe(status);
  expect(Object.values(res.json as Record<string, { message: string }>)[0]!.message).toMatch(message);
  expect(await stateSnapshot(cloud)).toEqual(before);
}

async function until<T>(what: () => Promise<T | undefined | null | false>, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await what();
    if (v) return v;
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("POST /servers", () => {
  it("refuses what it cannot build before anything is written or started", async () => {
    await refused(() => create({ flavorRef: "m9.huge" }), 400, /Flavor "m9.huge" could not be found/);
    await refused(() => create({ imageRef: "windows" }), 400, /Image "windows" could not be found/);
    await refused(() => create({ name: "bad name; rm" }), 400, /Invalid server name/);
    await refused(() => create({ min_count: 2, max_count: 2 }), 400, /one at a time/);
    await refused(() => create({ networks: [{ uuid: randomUUID() }] }), 400, /Network .* could not be found/);
    await refused(() => create({ availability_zone: "nowhere" }), 400, /availability zone is not available/);
    await refused(() => create({ key_name: "k" }), 400, /key_name/);
    await refused(() => create({}, { "os:scheduler_hints": { group: "none" } }), 400, /Invalid server group/);
    await refused(
      () =>
        create({
          block_device_mapping_v2: [{ source_type: "blank", destination_type: "local", volume_size: 1 }],
        }),
      400,
      /Local block devices/,
    );
    await refused(
      () =>
        create({
          block_device_mapping_v2: [
            { source_type: "volume", destination_type: "volume", uuid: randomUUID() },
          ],
        }),
      400,
      /Volume .* could not be found/,
    );
    const held = makePort({ instanceUuid: randomUUID(), bindingHost: "host-a" });
    await cloud.db.stores.ports.put(held);
    await refused(() => create({ networks: [{ port: held.id }] }), 409, /still in use/);
    await refused(() => create({ description: "d" }, {}, "2.18"), 400, /description/);
  });

  it("answers 202 with the server's id; it is BUILD at once, then its boot runs (and fails on a host no agent answers)", async () => {
    const res = await create({ name: "first", networks: "auto", metadata: { role: "web" } });
    expect(res.status, res.text).toBe(202);
    const id = (res.json as { server: { id: string } }).server.id;
    expect(res.headers.get("location")).toMatch(new RegExp(`/v2.1/servers/${id}$`));
    const shown = await cloud.call("GET", `/v2.1/servers/${id}`, { version: "2.95" });
    expect(shown.status).toBe(200);
    expect((shown.json as { server: Record<string, unknown> }).server).toMatchObject({
      id,
      name: "first",
      metadata: { role: "web" },
    });
    await cloud.settle();
    const after = await cloud.db.stores.instances.require(id);
    expect(after).toMatchObject({ host: "host-a", vmState: "error", taskState: null, flavorId: "m1.nano" });
    expect(after.fault?.error).toBe("BootTargetNotClean"); // the host never answered: nothing released
    const list = await cloud.call("GET", "/v2.1/servers/detail", { version: "2.95" });
    expect((list.json as { servers: { id: string; status: string }[] }).servers).toContainEqual(
      expect.objectContaining({ id, status: "ERROR" }),
    );
    const events = await cloud.call("GET", `/v2.1/servers/${id}/os-instance-actions`, { version: "2.95" });
    expect((events.json as { instanceActions: Record<string, unknown>[] }).instanceActions).toEqual([
      expect.objectContaining({ action: "create", message: "Error" }),
    ]);
  });

  it("finds no host: an ERROR server with no host and no record, which a delete removes", async () => {
    const res = await create({ name: "nowhere", availability_zone: "az1:host-down" }, {}, "2.95");
    expect(res.status, res.text).toBe(202);
    const id = (res.json as { server: { id: string } }).server.id;
    await cloud.settle();
    expect(await cloud.db.stores.instances.get(id)).toBeNull();
    const shown = (await cloud.call("GET", `/v2.1/servers/${id}`, { version: "2.95" })).json as {
      server: Record<string, unknown>;
    };
    expect(shown.server).toMatchObject({ status: "ERROR", "OS-EXT-SRV-ATTR:host": null });
    expect(shown.server.fault).toMatchObject({ message: expect.stringMatching(/No valid host/) });
    expect(Object.values((await cloud.db.stores.hosts.require("host-down")).claims)).toEqual([]);
    const deleted = await cloud.call("DELETE", `/v2.1/servers/${id}`);
    expect(deleted.status).toBe(204);
    expect((await cloud.call("GET", `/v2.1/servers/${id}`)).status).toBe(404);
  });
});

describe("DELETE /servers/{id}", () => {
  it("refuses a locked instance, one in a task, one whose host is down, an unknown one: nothing changes", async () => {
    const locked = await cloud.db.stores.instances.create(makeInstance({ locked: true }));
    await refused(() => cloud.call("DELETE", `/v2.1/servers/${locked.uuid}`), 409, /locked/);
    const busy = await cloud.db.stores.instances.create(
      makeInstance({ taskState: "rebuilding", taskRequestId: randomUUID() }),
    );
    await refused(() => cloud.call("DELETE", `/v2.1/servers/${busy.uuid}`), 409, /task_state rebuilding/);
    const down = await cloud.db.stores.instances.create(
      makeInstance({ host: "host-down", node: "host-down" }),
    );
    await refused(() => cloud.call("DELETE", `/v2.1/servers/${down.uuid}`), 409, /is down/);
    await refused(() => cloud.call("DELETE", `/v2.1/servers/${randomUUID()}`), 404, /could not be found/);
  });

  it("takes the instance and answers 204; a delete that cannot reach the host leaves it in ERROR holding what it holds", async () => {
    const inst = await cloud.db.stores.instances.create(makeInstance({ name: "to-delete" }));
    const res = await cloud.call("DELETE", `/v2.1/servers/${inst.uuid}`);
    expect(res.status, res.text).toBe(204);
    await cloud.settle();
    const after = await until(async () => {
      const i = await cloud.db.stores.instances.require(inst.uuid);
      return i.taskState === null && i;
    });
    expect(after).toMatchObject({ vmState: "error", host: "host-a" });
    expect(after.fault?.step).toBe("destroyInstance");
  });
});

describe("lock, reset state, reboot, console", () => {
  const act = (id: string, body: unknown, version = "2.95") =>
    cloud.call("POST", `/v2.1/servers/${id}/action`, { body, version });

  it("lock refuses what nova's lock refuses (not evacuate); unlock lifts it; both are in the action log", async () => {
    const inst = await cloud.db.stores.instances.create(makeInstance({ name: "lockable" }));
    expect((await act(inst.uuid, { lock: { locked_reason: "maintenance" } })).status).toBe(202);
    expect((await cloud.db.stores.instances.require(inst.uuid)).locked).toBe(true);
    await refused(() => act(inst.uuid, { rebuild: { imageRef: "cirros-0.6" } }), 409, /locked/);
    await refused(() => act(inst.uuid, { reboot: { type: "HARD" } }), 409, /locked/);
    await refused(() => cloud.call("DELETE", `/v2.1/servers/${inst.uuid}`), 409, /locked/);
    await refused(() => act(inst.uuid, { lock: { locked_reason: "x" } }, "2.72"), 400, /lock/);
    expect((await act(inst.uuid, { unlock: null })).status).toBe(202);
    expect((await cloud.db.stores.instances.require(inst.uuid)).locked).toBe(false);
    const shown = await cloud.call("GET", `/v2.1/servers/${inst.uuid}`, { version: "2.95" });
    expect((shown.json as { server: { locked: boolean } }).server.locked).toBe(false);
    const log = await cloud.call("GET", `/v2.1/servers/${inst.uuid}/os-instance-actions`, {
      version: "2.95",
    });
    expect(
      (log.json as { instanceActions: { action: string }[] }).instanceActions.map((a) => a.action).sort(),
    ).toEqual(["lock", "unlock"]);
  });

  it("os-resetState sets ERROR with a fault saying who, or ACTIVE; refused while a flow holds the instance", async () => {
    const inst = await cloud.db.stores.instances.create(makeInstance({ name: "resettable" }));
    expect((await act(inst.uuid, { "os-resetState": { state: "error" } })).status).toBe(202);
    const errored = await cloud.db.stores.instances.require(inst.uuid);
    expect(errored).toMatchObject({ vmState: "error", fault: { error: "ResetState" } });
    expect((await act(inst.uuid, { "os-resetState": { state: "active" } })).status).toBe(202);
    expect(await cloud.db.stores.instances.require(inst.uuid)).toMatchObject({
      vmState: "active",
      fault: null,
    });
    await refused(() => act(inst.uuid, { "os-resetState": { state: "deleted" } }), 400, /state/);
    const busy = await cloud.db.stores.instances.create(
      makeInstance({ taskState: "rebuilding", taskRequestId: randomUUID() }),
    );
    await refused(() => act(busy.uuid, { "os-resetState": { state: "error" } }), 409, /flow that holds it/);
  });

  it("lazarus:cleanTarget ends an unclean target only when the host is cleaned or the operator says it is gone", async () => {
    const { instance: inst, owner: flow } = await seedUncleanTarget(cloud.db.stores, "host-a", {
      name: "unclean",
      host: "host-down",
    });
    const clean = (body: unknown, id = inst.uuid) => act(id, { "lazarus:cleanTarget": body });
    const shown = async () =>
      (
        (await cloud.call("GET", `/v2.1/servers/${inst.uuid}`, { version: "2.95" })).json as {
          server: Record<string, unknown>;
        }
      ).server["lazarus:unclean_targets"];
    expect(await shown()).toEqual(["host-a"]);
    await refused(() => clean({ host: "host-a; reboot" }), 400, /lazarus:cleanTarget/);
    await refused(() => clean({ host: "host-a", gone: false }), 400, /lazarus:cleanTarget/);
    await refused(
      () => clean({ host: "host-down" }),
      409,
      /no unclean target on host host-down \(its unclean targets: host-a\)/,
    );
    // host-a's agent does not answer (no agent in this cloud): nothing is released.
    await refused(
      () => clean({ host: "host-a" }),
      409,
      /Host host-a could not be cleaned .*nothing was released.*"gone": true/,
    );
    const busy = await cloud.db.stores.instances.create(
      makeInstance({
        taskState: "rebuilding",
        taskRequestId: randomUUID(),
        uncleanTargets: [{ host: "host-a", requestId: flow }],
      }),
    );
    await refused(() => clean({ host: "host-a", gone: true }, busy.uuid), 409, /flow that holds it/);

    const res = await clean({ host: "host-a", gone: true });
    expect(res.status, res.text).toBe(200);
    expect(res.json).toEqual({
      cleanTarget: { host: "host-a", how: "operator-statement", claimReleased: true, uncleanTargets: [] },
    });
    expect((await cloud.db.stores.hosts.require("host-a")).claims[inst.uuid]).toBeUndefined();
    expect(await shown()).toEqual([]);
    // The state is the operator's to reset (os-resetState), as in nova; the statement is in the action log.
    expect(await cloud.db.stores.instances.require(inst.uuid)).toMatchObject({
      vmState: "error",
      uncleanTargets: [],
    });
    const requestId = res.headers.get("x-openstack-request-id")!.replace(/^req-/, "");
    expect((await cloud.db.stores.actions.get(requestId))?.message).toMatch(
      /operator stated that host host-a/,
    );
    await refused(() => clean({ host: "host-a", gone: true }), 409, /no unclean target on host host-a/);
  });

  it("reboot takes SOFT or HARD, from the states nova allows; the console output takes nova's length", async () => {
    const stopped = await cloud.db.stores.instances.create(
      makeInstance({ vmState: "stopped", powerState: "shutdown" }),
    );
    await refused(() => act(stopped.uuid, { reboot: { type: "SOFT" } }), 409, /Cannot 'reboot'/);
    await refused(() => act(stopped.uuid, { reboot: { type: "MEDIUM" } }), 400, /reboot/);
    await refused(() => act(stopped.uuid, { "os-getConsoleOutput": { length: -5 } }), 400, /length/);
    await refused(() => act(stopped.uuid, { "os-getConsoleOutput": { length: "x" } }), 400, /length/);
  });
});
