/**
 * The API over real HTTP against a local cloud without hypervisors (dynalite, the real flow handlers and
 * rebuild ASL, the local Step Functions): every route's success and error codes, nova's shapes at the
 * microversions that change them, idempotency, and that every refused request changes nothing.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { serviceUuid } from "#functions/api/views.js";
import { stateMachineSpec } from "#shared/definitions/state-machines.js";
import { type Instance, NO_FENCING } from "#shared/domain/schemas.js";
import { resetDeps } from "#shared/lambda/runtime.js";
import { type ApiTestCloud, startApiTestCloud } from "../../support/api-cloud.js";
import { refusedWithoutChange as refusedWithoutChangeIn, stateSnapshot } from "../../support/api-state.js";

const HOST_EVACUATION_ARN_ENV = stateMachineSpec("host-evacuation").arnEnv;

import { makeFault, makeHost, makeInstance } from "../../support/fixtures.js";
import { runFlow } from "../../support/flows.js";

let cloud: ApiTestCloud;
/** A heartbeat that stays fresh for the whole run (hosts "up" without a heartbeat loop). */
const FRESH = new Date(Date.now() + 3_600_000).toISOString();
const STALE = "2020-01-01T00:00:00.000Z";
const FENCED = { kind: "power" as const, at: STALE, incidentId: "inc-dead", detail: "fenced off (test)" };
const OPERATOR = { kind: "operator" as const, at: STALE, incidentId: null, detail: "forced down (test)" };

beforeAll(async () => {
  cloud = await startApiTestCloud();
  const { hosts } = cloud.db.stores;
  await hosts.put(makeHost({ name: "host-a", lastHeartbeatAt: FRESH }));
  await hosts.put(makeHost({ name: "host-b", lastHeartbeatAt: FRESH }));
  // Down, and proven dead by its fence: evacuations from it are admitted (proof `power`).
  await hosts.put(
    makeHost({ name: "host-dead", lastHeartbeatAt: STALE, forcedDown: true, deathProof: FENCED }),
  );
  // Down (its heartbeat is stale) but not proven dead: an evacuation from it is "fencing required".
  await hosts.put(makeHost({ name: "host-down", lastHeartbeatAt: STALE }));
  await hosts.put(
    makeHost({ name: "host-fenced", lastHeartbeatAt: FRESH, forcedDown: true, deathProof: OPERATOR }),
  );
  // Down, not proven dead, its pool's hosts enforce the disk lock: an evacuation may try on `lock`.
  await hosts.put(
    makeHost({
      name: "host-locked",
      lastHeartbeatAt: STALE,
      fencing: { ...NO_FENCING, diskLocks: true },
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
  return cloud.db.stores.instances.create(
    makeInstance({ createdAt: new Date().toISOString(), ...overrides }),
  );
}

const action = (id: string, body: unknown, version = "2.95", headers: Record<string, string> = {}) =>
  cloud.call("POST", `/v2.1/servers/${id}/action`, { body, version, headers });

/** The request is refused with `status` and nova's fault name, and nothing at all changed. */
const refusedWithoutChange = (
  request: () => ReturnType<ApiTestCloud["call"]>,
  status: number,
  fault: string,
  message?: RegExp,
) => refusedWithoutChangeIn(cloud, request, status, fault, message);

describe("version documents and microversions", () => {
  it("serves the version documents keystoneauth discovers, with links on the caller's base URL", async () => {
    const root = await cloud.call("GET", "/");
    expect(root.status).toBe(200);
    expect(root.json).toMatchObject({
      versions: [{ id: "v2.1", status: "CURRENT", version: "2.95", min_version: "2.1" }],
    });
    const v21 = await cloud.call("GET", "/v2.1");
    expect(v21.status).toBe(200);
    const doc = v21.json as { version: { links: { rel: string; href: string }[]; version: string } };
    expect(doc.version.version).toBe("2.95");
    expect(doc.version.links[0]!.href).toBe(`${cloud.api.url}/v2.1/`);
    expect((await cloud.call("GET", "/v2.1/")).status).toBe(200);
  });

  it("echoes the negotiated version in both headers; latest is 2.95; none is 2.1", async () => {
    const latest = await cloud.call("GET", "/v2.1/servers", {
      headers: { "OpenStack-API-Version": "compute latest" },
    });
    expect(latest.headers.get("openstack-api-version")).toBe("compute 2.95");
    expect(latest.headers.get("x-openstack-nova-api-version")).toBe("2.95");
    const legacy = await cloud.call("GET", "/v2.1/servers", {
      headers: { "X-OpenStack-Nova-API-Version": "2.53" },
    });
    expect(legacy.headers.get("openstack-api-version")).toBe("compute 2.53");
    const none = await cloud.call("GET", "/v2.1/servers");
    expect(none.headers.get("x-openstack-nova-api-version")).toBe("2.1");
  });

  it("refuses an unsupported version with 406 and a malformed one with 400", async () => {
    await refusedWithoutChange(
      () => cloud.call("GET", "/v2.1/servers", { version: "2.96" }),
      406,
      "computeFault",
      /not supported/,
    );
    await refusedWithoutChange(
      () => cloud.call("GET", "/v2.1/servers", { version: "2.0" }),
      406,
      "computeFault",
    );
    await refusedWithoutChange(
      () => cloud.call("GET", "/v2.1/servers", { version: "two" }),
      400,
      "badRequest",
      /invalid format/,
    );
  });

  it("answers an unknown path 404 and a wrong method 405", async () => {
    await refusedWithoutChange(() => cloud.call("GET", "/v2.1/os-cells"), 404, "itemNotFound");
    const res = await refusedWithoutChange(() => cloud.call("DELETE", "/v2.1/os-hosts"), 405, "badMethod");
    expect(res.headers.get("allow")).toContain("GET");
  });
});

describe("servers", () => {
  it("lists and shows servers in nova's shape: status, vm/task state, host, fault only in ERROR", async () => {
    const active = await instance({ name: "list-active", host: "host-b", node: "host-b" });
    const broken = await instance({
      name: "list-error",
      host: "host-b",
      node: "host-b",
      vmState: "error",
      fault: makeFault({ message: "spawn failed on host-b" }),
    });
    const busy = await instance({
      name: "list-busy",
      host: "host-b",
      node: "host-b",
      taskState: "rebuilding",
      taskRequestId: randomUUID(),
    });

    const list = await cloud.call("GET", "/v2.1/servers/detail?host=host-b", { version: "2.95" });
    expect(list.status).toBe(200);
    const servers = (list.json as { servers: Record<string, unknown>[] }).servers;
    const byId = new Map(servers.map((s) => [s.id, s]));
    expect(byId.get(active.uuid)).toMatchObject({
      status: "ACTIVE",
      "OS-EXT-STS:vm_state": "active",
      "OS-EXT-STS:task_state": null,
      "OS-EXT-STS:power_state": 1,
      "OS-EXT-SRV-ATTR:host": "host-b",
      host_status: "UP",
      flavor: { vcpus: 1, ram: 512, disk: 2 },
    });
    expect(byId.get(active.uuid)).not.toHaveProperty("fault");
    expect(byId.get(broken.uuid)).toMatchObject({
      status: "ERROR",
      fault: { code: 500, message: "spawn failed on host-b" },
    });
    expect(byId.get(busy.uuid)).toMatchObject({ status: "REBUILD", "OS-EXT-STS:task_state": "rebuilding" });

    const errors = await cloud.call("GET", "/v2.1/servers/detail?status=error");
    expect((errors.json as { servers: { id: string }[] }).servers.map((s) => s.id)).toContain(broken.uuid);
    expect((errors.json as { servers: { id: string }[] }).servers.map((s) => s.id)).not.toContain(
      active.uuid,
    );

    const brief = await cloud.call("GET", "/v2.1/servers?name=list-act");
    expect((brief.json as { servers: unknown[] }).servers).toEqual([
      { id: active.uuid, name: "list-active", links: expect.any(Array) },
    ]);

    const show = await cloud.call("GET", `/v2.1/servers/${active.uuid}`, { version: "2.1" });
    expect(show.status).toBe(200);
    // Before 2.47 the flavor is a reference, not embedded.
    expect((show.json as { server: { flavor: unknown } }).server.flavor).toMatchObject({ id: "m1.small" });
  });

  it("answers 404 for an unknown or malformed server id, 400 for bad filters", async () => {
    await refusedWithoutChange(
      () => cloud.call("GET", `/v2.1/servers/${randomUUID()}`),
      404,
      "itemNotFound",
      /could not be found/,
    );
    await refusedWithoutChange(() => cloud.call("GET", "/v2.1/servers/web-1"), 404, "itemNotFound");
    await refusedWithoutChange(
      () => cloud.call("GET", "/v2.1/servers/detail?host=a;rm%20-rf"),
      400,
      "badRequest",
      /host/,
    );
    await refusedWithoutChange(
      () => cloud.call("GET", "/v2.1/servers/detail?status=NOPE"),
      400,
      "badRequest",
    );
    await refusedWithoutChange(
      () => cloud.call("GET", `/v2.1/servers/detail?marker=${randomUUID()}`),
      400,
      "badRequest",
    );
  });
});

describe("evacuate and rebuild: refusals change nothing", () => {
  it("refuses evacuating from a host whose compute service is up: 400 still in use", async () => {
    const inst = await instance({ host: "host-a", node: "host-a" });
    await refusedWithoutChange(
      () => action(inst.uuid, { evacuate: {} }),
      400,
      "badRequest",
      /^Compute service of host-a is still in use\.$/,
    );
  });

  it("refuses an instance in a task or in a state that cannot be rebuilt: 409", async () => {
    const busy = await instance({
      host: "host-down",
      node: "host-down",
      taskState: "rebuilding",
      taskRequestId: randomUUID(),
    });
    await refusedWithoutChange(
      () => action(busy.uuid, { evacuate: {} }),
      409,
      "conflictingRequest",
      /task_state rebuilding/,
    );
    const paused = await instance({ host: "host-down", node: "host-down", vmState: "paused" });
    await refusedWithoutChange(
      () => action(paused.uuid, { evacuate: {} }),
      409,
      "conflictingRequest",
      /vm_state paused/,
    );
  });

  it("refuses a bad target: same host 400, unknown host 404; an unknown instance 404", async () => {
    const inst = await instance({ host: "host-down", node: "host-down" });
    await refusedWithoutChange(
      () => action(inst.uuid, { evacuate: { host: "host-down" } }),
      400,
      "badRequest",
      /can't be the same one/,
    );
    await refusedWithoutChange(
      () => action(inst.uuid, { evacuate: { host: "host-z" } }),
      404,
      "itemNotFound",
      /host-z not found/,
    );
    await refusedWithoutChange(() => action(randomUUID(), { evacuate: {} }), 404, "itemNotFound");
  });

  it("refuses rebuilding on a host that is down (409) and preserve_ephemeral (400)", async () => {
    const down = await instance({ host: "host-down", node: "host-down" });
    await refusedWithoutChange(
      () => action(down.uuid, { rebuild: { imageRef: "cirros-0.6" } }),
      409,
      "conflictingRequest",
    );
    const up = await instance({ host: "host-a", node: "host-a" });
    await refusedWithoutChange(
      () => action(up.uuid, { rebuild: { imageRef: "cirros-0.6", preserve_ephemeral: true } }),
      400,
      "badRequest",
      /preserve_ephemeral/,
    );
  });

  it("a host name with a shell metacharacter is a 400 wherever one is taken (never a lookup: not a 404)", async () => {
    const inst = await instance({ host: "host-dead", node: "host-dead" });
    for (const bad of ["host-a;reboot", "host-a;", ";host-a", "host-a|id", "host-a&&id"]) {
      const enc = encodeURIComponent(bad);
      await refusedWithoutChange(() => action(inst.uuid, { evacuate: { host: bad } }), 400, "badRequest");
      await refusedWithoutChange(() => cloud.call("GET", `/v2.1/os-hosts/${enc}`), 400, "badRequest");
      await refusedWithoutChange(
        () => cloud.call("POST", `/v2.1/os-hosts/${enc}/evacuate`, { body: {} }),
        400,
        "badRequest",
      );
      await refusedWithoutChange(
        () =>
          cloud.call("PUT", "/v2.1/os-services/force-down", {
            version: "2.11",
            body: { host: bad, binary: "nova-compute", forced_down: true },
          }),
        400,
        "badRequest",
      );
    }
  });

  it("validates every body: malformed JSON, wrong types, unknown fields, versioned fields, injection", async () => {
    const inst = await instance({ host: "host-down", node: "host-down" });
    const url = `/v2.1/servers/${inst.uuid}/action`;
    const post = (
      rawBody: string,
      headers: Record<string, string> = { "content-type": "application/json" },
    ) =>
      cloud.call("POST", url, { rawBody, headers: { ...headers, "OpenStack-API-Version": "compute 2.95" } });
    await refusedWithoutChange(() => post("{not json"), 400, "badRequest", /Malformed/);
    await refusedWithoutChange(() => post(""), 400, "badRequest");
    await refusedWithoutChange(() => post("{}", { "content-type": "text/plain" }), 415, "badMediaType");
    await refusedWithoutChange(
      () => post(JSON.stringify({ evacuate: {}, rebuild: {} })),
      400,
      "badRequest",
      /exactly one/,
    );
    await refusedWithoutChange(
      () => post(JSON.stringify({ shelve: null })),
      400,
      "badRequest",
      /no such action/,
    );
    await refusedWithoutChange(() => post("[1,2]"), 400, "badRequest");
    await refusedWithoutChange(
      () => action(inst.uuid, { evacuate: { host: 42 } }),
      400,
      "badRequest",
      /evacuate\.host/,
    );
    await refusedWithoutChange(
      () => action(inst.uuid, { evacuate: { colour: "red" } }),
      400,
      "badRequest",
      /colour/,
    );
    await refusedWithoutChange(
      () => action(inst.uuid, { evacuate: { host: "b; rm -rf /" } }),
      400,
      "badRequest",
    );
    await refusedWithoutChange(
      () => action(inst.uuid, { evacuate: { host: "$(reboot)" } }),
      400,
      "badRequest",
    );
    // force exists only from 2.29 to 2.67, as in nova.
    await refusedWithoutChange(
      () => action(inst.uuid, { evacuate: { host: "host-a", force: true } }, "2.14"),
      400,
      "badRequest",
      /force/,
    );
    await refusedWithoutChange(
      () => action(inst.uuid, { evacuate: { host: "host-a", force: true } }, "2.68"),
      400,
      "badRequest",
      /force/,
    );
    await refusedWithoutChange(
      () => action(inst.uuid, { rebuild: { imageRef: "../../etc/passwd" } }),
      400,
      "badRequest",
      /imageRef/,
    );
    await refusedWithoutChange(() => action(inst.uuid, { rebuild: {} }), 400, "badRequest", /imageRef/);
    await refusedWithoutChange(
      () => post(JSON.stringify({ evacuate: { pad: "x".repeat(120_000) } })),
      413,
      "overLimit",
    );
    // Past API Gateway's 10 MB the gateway answers, in nova's shape, with the version headers.
    const huge = await refusedWithoutChange(
      () => post(JSON.stringify({ evacuate: { pad: "x".repeat(20 * 1024 * 1024) } })),
      413,
      "overLimit",
    );
    expect(huge.headers.get("openstack-api-version")).toMatch(/^compute 2\.\d+$/);
    // An unknown image is refused before anything starts (nova: 400), not left to fail in the flow.
    const onHost = await instance({ host: "host-a", node: "host-a" });
    await refusedWithoutChange(
      () => action(onHost.uuid, { rebuild: { imageRef: "no-such-image" } }),
      400,
      "badRequest",
      /Image "no-such-image" could not be found/,
    );
    // Fields nova does not take at the microversion asked, and a key pair that does not exist.
    await refusedWithoutChange(
      () => action(onHost.uuid, { rebuild: { imageRef: "cirros-0.6", description: "d" } }, "2.18"),
      400,
      "badRequest",
      /description/,
    );
    await refusedWithoutChange(
      () => action(onHost.uuid, { rebuild: { imageRef: "cirros-0.6", key_name: "k" } }, "2.54"),
      400,
      "badRequest",
      /key_name/,
    );
    await refusedWithoutChange(
      () => action(inst.uuid, { evacuate: { onSharedStorage: "maybe" } }, "2.1"),
      400,
      "badRequest",
      /onSharedStorage/,
    );
  });
});

describe("evacuate needs proof that no other copy runs (issue 26)", () => {
  it("a host down without proof: 409 FencingRequired at every microversion, naming the host and what proves it dead; nothing changes", async () => {
    const inst = await instance({ host: "host-down", node: "host-down" });
    for (const version of ["2.1", "2.14", "2.29", "2.68", "2.95"]) {
      await refusedWithoutChange(
        () => action(inst.uuid, { evacuate: {} }, version),
        409,
        "conflictingRequest",
        /^Fencing required: .*host-down is not proven dead.*openstack compute service set --down host-down nova-compute.*lazarus host force-down host-down/,
      );
    }
    // With a target and force (2.29) too: the proof is never skipped.
    await refusedWithoutChange(
      () => action(inst.uuid, { evacuate: { host: "host-a", force: true } }, "2.29"),
      409,
      "conflictingRequest",
      /Fencing required/,
    );
  });

  it("the rebuild machine started directly with recreate is refused by Accept (FencingRequired) and changes nothing", async () => {
    const inst = await instance({ host: "host-down", node: "host-down" });
    const before = await stateSnapshot(cloud);
    const run = await runFlow(cloud.sfn, cloud.rebuildArn, {
      requestId: randomUUID(),
      instanceUuid: inst.uuid,
      recreate: true,
    });
    expect(run.status).toBe("FAILED");
    expect(run.error).toBe("FencingRequired");
    expect(run.cause).toMatch(/host-down is not proven dead/);
    // Nothing but the refused execution itself: no record changed.
    expect((await stateSnapshot(cloud)).tables).toEqual(before.tables);
  });

  it("the operator's force-down is proof `operator`: recorded with who and through what, evacuate then works and its migration says so; unset clears it", async () => {
    const inst = await instance({ host: "host-down", node: "host-down" });
    const down = await cloud.call("PUT", "/v2.1/os-services/force-down", {
      version: "2.11",
      body: { host: "host-down", binary: "nova-compute", forced_down: true },
    });
    expect(down.status, down.text).toBe(200);
    try {
      const host = await cloud.call("GET", "/v2.1/os-hosts/host-down");
      expect((host.json as { "lazarus:host": unknown })["lazarus:host"]).toMatchObject({
        forced_down: true,
        death_proof: {
          kind: "operator",
          detail: expect.stringMatching(/forced down by .*PUT \/os-services\/force-down, compute 2\.11/),
        },
      });
      const res = await action(inst.uuid, { evacuate: {} }, "2.29");
      expect(res.status, res.text).toBe(200);
      const migration = await cloud.db.stores.migrations.require(res.headers.get("x-lazarus-migration-id")!);
      expect(migration.proof).toMatchObject({ kind: "operator" });
      await cloud.settle();
    } finally {
      const up = await cloud.call("PUT", "/v2.1/os-services/force-down", {
        version: "2.11",
        body: { host: "host-down", binary: "nova-compute", forced_down: false },
      });
      expect(up.status).toBe(200);
    }
    expect(await cloud.db.stores.hosts.require("host-down")).toMatchObject({
      forcedDown: false,
      deathProof: null,
    });
    const again = await instance({ host: "host-down", node: "host-down" });
    await refusedWithoutChange(
      () => action(again.uuid, { evacuate: {} }, "2.95"),
      409,
      "conflictingRequest",
      /Fencing required/,
    );
  });

  it("a shared disk whose pool enforces the lock may try without host proof (proof `lock`); one the instance says is local may not", async () => {
    const shared = await instance({ host: "host-locked", node: "host-locked" });
    const res = await action(shared.uuid, { evacuate: {} }, "2.95");
    expect(res.status, res.text).toBe(200);
    const migration = await cloud.db.stores.migrations.require(res.headers.get("x-lazarus-migration-id")!);
    expect(migration.proof).toMatchObject({ kind: "lock" });
    await cloud.settle();
    const local = await instance({ host: "host-locked", node: "host-locked", onSharedStorage: false });
    await refusedWithoutChange(
      () => action(local.uuid, { evacuate: {} }, "2.95"),
      409,
      "conflictingRequest",
      /Fencing required.*local disk/,
    );
  });

  it("the caller cannot give the flow's internal fields (relocateFromLiveHost, plannedHost): 400 naming them", async () => {
    const inst = await instance({ host: "host-dead", node: "host-dead" });
    for (const [field, value] of [
      ["relocateFromLiveHost", randomUUID()],
      ["plannedHost", "host-a"],
      ["requestId", randomUUID()],
    ] as const) {
      for (const version of ["2.14", "2.29", "2.95"]) {
        await refusedWithoutChange(
          () => action(inst.uuid, { evacuate: { [field]: value } }, version),
          400,
          "badRequest",
          new RegExp(field),
        );
      }
    }
  });
});

describe("evacuate and rebuild: accepted", () => {
  it("evacuate at 2.95: 200 without a body, migration and execution ids as headers, STOPPED asked of the flow", async () => {
    const inst = await instance({ host: "host-dead", node: "host-dead" });
    const res = await action(inst.uuid, { evacuate: { host: "host-a" } });
    expect(res.status, res.text).toBe(200);
    expect(res.text).toBe("");
    const migrationId = res.headers.get("x-lazarus-migration-id")!;
    expect(res.headers.get("x-lazarus-execution-arn")).toBe(
      `${cloud.rebuildArn.replace(":stateMachine:", ":execution:")}:${migrationId}`,
    );
    const migration = await cloud.db.stores.migrations.require(migrationId);
    expect(migration).toMatchObject({
      instanceUuid: inst.uuid,
      type: "evacuation",
      sourceHost: "host-dead",
      destHost: "host-a",
    });
    const execution = await cloud.call("GET", `/v2.1/executions/${migrationId}`);
    expect(execution.status).toBe(200);
    const ex = (
      execution.json as { execution: { input: Record<string, unknown>; steps: { name: string }[] } }
    ).execution;
    expect(ex.input).toMatchObject({
      instanceUuid: inst.uuid,
      recreate: true,
      targetHost: "host-a",
      targetState: "stopped",
    });
    expect(ex.steps[0]).toMatchObject({ name: "Accept", status: "succeeded" });
    await cloud.settle();
  });

  it("evacuate before 2.14 answers {adminPass}; before 2.95 keeps the power state (no targetState)", async () => {
    const inst = await instance({ host: "host-fenced", node: "host-fenced" });
    const res = await action(inst.uuid, { evacuate: { onSharedStorage: false } }, "2.1");
    expect(res.status, res.text).toBe(200);
    expect(res.json).toEqual({ adminPass: null });
    const ex = await cloud.call("GET", `/v2.1/executions/${res.headers.get("x-lazarus-execution-id")}`);
    expect((ex.json as { execution: { input: unknown } }).execution.input).toMatchObject({
      targetState: null,
      onSharedStorage: false,
    });
    await cloud.settle();
  });

  it("takes what nova takes: rebuild's adminPass, name and metadata; evacuate's onSharedStorage as a string", async () => {
    const inst = await instance({ host: "host-a", node: "host-a", name: "before-name" });
    const res = await action(inst.uuid, {
      rebuild: {
        imageRef: "ubuntu-24.04",
        adminPass: "s3cret!",
        name: "after-name",
        metadata: { role: "db" },
      },
    });
    expect(res.status, res.text).toBe(202);
    const migrationId = res.headers.get("x-lazarus-migration-id")!;
    expect((res.json as { server: Record<string, unknown> }).server).toMatchObject({
      name: "after-name",
      metadata: { role: "db" },
    });
    await cloud.settle();
    // The password is not stored anywhere; the action says it was not set and why.
    const event = await cloud.call(
      "GET",
      `/v2.1/servers/${inst.uuid}/os-instance-actions/req-${migrationId}`,
    );
    const events = (event.json as { instanceAction: { events: Record<string, unknown>[] } }).instanceAction
      .events;
    expect(events).toContainEqual(
      expect.objectContaining({ event: "compute_set_admin_password", result: "Error" }),
    );
    expect(JSON.stringify(await stateSnapshot(cloud))).not.toContain("s3cret!");

    const dead = await instance({ host: "host-fenced", node: "host-fenced" });
    const ev = await action(dead.uuid, { evacuate: { onSharedStorage: "False", adminPass: "x" } }, "2.1");
    expect(ev.status, ev.text).toBe(200);
    expect(ev.json).toEqual({ adminPass: null });
    const ex = await cloud.call("GET", `/v2.1/executions/${ev.headers.get("x-lazarus-execution-id")}`);
    expect((ex.json as { execution: { input: unknown } }).execution.input).toMatchObject({
      onSharedStorage: false,
    });
    await cloud.settle();
  });

  it("rebuild: 202 with the server in REBUILD, its migration and execution", async () => {
    const inst = await instance({ host: "host-a", node: "host-a" });
    const res = await action(inst.uuid, { rebuild: { imageRef: "ubuntu-24.04" } });
    expect(res.status, res.text).toBe(202);
    expect((res.json as { server: Record<string, unknown> }).server).toMatchObject({
      id: inst.uuid,
      status: "REBUILD",
      "OS-EXT-STS:task_state": "rebuilding",
    });
    const migration = await cloud.db.stores.migrations.require(res.headers.get("x-lazarus-migration-id")!);
    expect(migration.type).toBe("rebuild");
    await cloud.settle();
  });

  it("two evacuations racing for one instance: one wins, the other gets 409 from the flow's Accept", async () => {
    const inst = await instance({ host: "host-dead", node: "host-dead" });
    const [a, b] = await Promise.all([
      action(inst.uuid, { evacuate: {} }, "2.95", { "Idempotency-Key": randomUUID() }),
      action(inst.uuid, { evacuate: {} }, "2.95", { "Idempotency-Key": randomUUID() }),
    ]);
    expect([a.status, b.status].sort()).toEqual([200, 409]);
    const loser = a.status === 409 ? a : b;
    expect(Object.keys(loser.json as object)).toEqual(["conflictingRequest"]);
    expect(await cloud.db.stores.migrations.listByInstance(inst.uuid)).toHaveLength(1);
    await cloud.settle();
  });
});

describe("idempotency", () => {
  it("the same Idempotency-Key gets the first answer and starts nothing new; another body is 422", async () => {
    const inst = await instance({ host: "host-dead", node: "host-dead" });
    const key = randomUUID();
    const first = await action(inst.uuid, { evacuate: {} }, "2.95", { "Idempotency-Key": key });
    expect(first.status, first.text).toBe(200);
    const again = await action(inst.uuid, { evacuate: {} }, "2.95", { "Idempotency-Key": key });
    expect(again.status).toBe(200);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(again.headers.get("x-lazarus-migration-id")).toBe(first.headers.get("x-lazarus-migration-id"));
    expect(await cloud.db.stores.migrations.listByInstance(inst.uuid)).toHaveLength(1);
    const other = await action(inst.uuid, { evacuate: { host: "host-b" } }, "2.95", {
      "Idempotency-Key": key,
    });
    expect(other.status).toBe(422);
    await cloud.settle();
  });

  it("without a key, the same request is a new request, as in nova: never silently replayed", async () => {
    const inst = await instance({ host: "host-a", node: "host-a" });
    const first = await action(inst.uuid, { rebuild: { imageRef: "cirros-0.6" } });
    expect(first.status, first.text).toBe(202);
    // The first still holds the instance: the second is refused, not answered with the first's answer.
    const during = await action(inst.uuid, { rebuild: { imageRef: "cirros-0.6" } });
    expect(during.status).toBe(409);
    expect(during.headers.get("idempotent-replayed")).toBeNull();
    await cloud.settle();
    const again = await action(inst.uuid, { rebuild: { imageRef: "cirros-0.6" } });
    expect(again.status, again.text).toBe(202);
    expect(again.headers.get("idempotent-replayed")).toBeNull();
    expect(again.headers.get("x-lazarus-migration-id")).not.toBe(first.headers.get("x-lazarus-migration-id"));
    expect(await cloud.db.stores.migrations.listByInstance(inst.uuid)).toHaveLength(2);
    await cloud.settle();
  });

  it("a refused request is not remembered: once the refusal's cause is gone, the retry runs", async () => {
    const inst = await instance({ host: "host-b", node: "host-b" });
    const key = randomUUID();
    const refused = await action(inst.uuid, { evacuate: {} }, "2.95", { "Idempotency-Key": key });
    expect(refused.status).toBe(400);
    await cloud.db.stores.hosts.forceDown("host-b", OPERATOR);
    try {
      const retried = await action(inst.uuid, { evacuate: {} }, "2.95", { "Idempotency-Key": key });
      expect(retried.status, retried.text).toBe(200);
    } finally {
      await cloud.db.stores.hosts.forceDown("host-b", null);
    }
    await cloud.settle();
  });

  it("refuses a malformed Idempotency-Key", async () => {
    const inst = await instance({ host: "host-dead", node: "host-dead" });
    await refusedWithoutChange(
      () => action(inst.uuid, { evacuate: {} }, "2.95", { "Idempotency-Key": "x".repeat(300) }),
      400,
      "badRequest",
      /Idempotency-Key/,
    );
  });
});

describe("services, hypervisors, hosts", () => {
  it("lists services; force-down and enable/disable the pre-2.53 way", async () => {
    const list = await cloud.call("GET", "/v2.1/os-services?host=host-down", { version: "2.11" });
    expect((list.json as { services: unknown[] }).services).toEqual([
      expect.objectContaining({
        host: "host-down",
        binary: "nova-compute",
        state: "down",
        status: "enabled",
        forced_down: false,
      }),
    ]);
    const down = await cloud.call("PUT", "/v2.1/os-services/force-down", {
      version: "2.11",
      body: { host: "host-b", binary: "nova-compute", forced_down: true },
    });
    expect(down.status, down.text).toBe(200);
    expect(down.json).toEqual({ service: { host: "host-b", binary: "nova-compute", forced_down: true } });
    expect((await cloud.db.stores.hosts.require("host-b")).forcedDown).toBe(true);
    const disabled = await cloud.call("PUT", "/v2.1/os-services/disable-log-reason", {
      version: "2.11",
      body: { host: "host-b", binary: "nova-compute", disabled_reason: "maintenance" },
    });
    expect(disabled.status).toBe(200);
    expect(await cloud.db.stores.hosts.require("host-b")).toMatchObject({
      enabled: false,
      disabledReason: "maintenance",
    });
    for (const body of [{ host: "host-b", binary: "nova-compute", forced_down: false }]) {
      expect(
        (await cloud.call("PUT", "/v2.1/os-services/force-down", { version: "2.11", body })).status,
      ).toBe(200);
    }
    expect(
      (
        await cloud.call("PUT", "/v2.1/os-services/enable", {
          version: "2.11",
          body: { host: "host-b", binary: "nova-compute" },
        })
      ).status,
    ).toBe(200);
    expect(await cloud.db.stores.hosts.require("host-b")).toMatchObject({
      enabled: true,
      forcedDown: false,
      disabledReason: null,
    });
  });

  it("from 2.53 updates a service by its UUID, and the old routes are gone", async () => {
    const id = serviceUuid("host-b");
    const res = await cloud.call("PUT", `/v2.1/os-services/${id}`, {
      version: "2.53",
      body: { forced_down: true },
    });
    expect(res.status, res.text).toBe(200);
    expect((res.json as { service: unknown }).service).toMatchObject({
      id,
      host: "host-b",
      forced_down: true,
      state: "down",
    });
    // The operator's word that host-b is off: its proof of death, kind operator, saying through what.
    expect((await cloud.db.stores.hosts.require("host-b")).deathProof).toMatchObject({
      kind: "operator",
      detail: expect.stringMatching(/forced down by .*PUT \/os-services\/[0-9a-f-]+, compute 2\.53/),
    });
    const back = await cloud.call("PUT", `/v2.1/os-services/${id}`, {
      version: "2.53",
      body: { forced_down: false, status: "enabled" },
    });
    expect(back.status).toBe(200);
    expect(await cloud.db.stores.hosts.require("host-b")).toMatchObject({
      forcedDown: false,
      deathProof: null,
      enabled: true,
    });
    await refusedWithoutChange(
      () =>
        cloud.call("PUT", "/v2.1/os-services/force-down", {
          version: "2.53",
          body: { host: "host-b", binary: "nova-compute", forced_down: true },
        }),
      404,
      "itemNotFound",
    );
    await refusedWithoutChange(
      () =>
        cloud.call("PUT", `/v2.1/os-services/${randomUUID()}`, {
          version: "2.53",
          body: { forced_down: true },
        }),
      404,
      "itemNotFound",
    );
    await refusedWithoutChange(
      () => cloud.call("PUT", `/v2.1/os-services/${id}`, { version: "2.53", body: { forced_down: "yes" } }),
      400,
      "badRequest",
    );
    await refusedWithoutChange(
      () => cloud.call("PUT", `/v2.1/os-services/${id}`, { version: "2.53", body: { disabled_reason: "x" } }),
      400,
      "badRequest",
    );
    await refusedWithoutChange(
      () =>
        cloud.call("PUT", "/v2.1/os-services/force-down", {
          version: "2.10",
          body: { host: "host-b", binary: "nova-compute", forced_down: true },
        }),
      404,
      "itemNotFound",
    );
    await refusedWithoutChange(
      () =>
        cloud.call("PUT", "/v2.1/os-services/force-down", {
          version: "2.11",
          body: { host: "host-zz", binary: "nova-compute", forced_down: true },
        }),
      404,
      "itemNotFound",
    );
  });

  it("hypervisors with usage before 2.88, without from 2.88; Lazarus's hosts always with usage", async () => {
    const old = await cloud.call("GET", "/v2.1/os-hypervisors/detail", { version: "2.87" });
    expect((old.json as { hypervisors: Record<string, unknown>[] }).hypervisors[0]).toMatchObject({
      hypervisor_hostname: "host-a",
      vcpus: 8,
      memory_mb: 16384,
    });
    const newer = await cloud.call("GET", "/v2.1/os-hypervisors/detail", { version: "2.88" });
    expect((newer.json as { hypervisors: Record<string, unknown>[] }).hypervisors[0]).not.toHaveProperty(
      "vcpus",
    );
    const one = await cloud.call("GET", `/v2.1/os-hypervisors/${serviceUuid("host-a")}`, { version: "2.53" });
    expect(one.status).toBe(200);
    const hosts = await cloud.call("GET", "/v2.1/os-hosts");
    expect((hosts.json as { hosts: Record<string, unknown>[] }).hosts.map((h) => h.host_name)).toEqual([
      "host-a",
      "host-b",
      "host-dead",
      "host-down",
      "host-fenced",
      "host-locked",
    ]);
    const host = await cloud.call("GET", "/v2.1/os-hosts/host-down");
    expect((host.json as { "lazarus:host": unknown })["lazarus:host"]).toMatchObject({
      state: "down",
      capacity: { vcpus: 8 },
      limits: { vcpus: 8 },
    });
    await refusedWithoutChange(() => cloud.call("GET", "/v2.1/os-hosts/host-q"), 404, "itemNotFound");
    await refusedWithoutChange(() => cloud.call("GET", "/v2.1/os-hosts/%24(id)"), 400, "badRequest");
    await refusedWithoutChange(() => cloud.call("GET", "/v2.1/os-hypervisors/99"), 404, "itemNotFound");
  });

  it("host evacuation answers 501 where its machine is not deployed; registration refuses an unknown host; bad bodies are 400", async () => {
    await refusedWithoutChange(
      () => cloud.call("POST", "/v2.1/os-hosts/host-down/evacuate", { body: { reason: "dead" } }),
      501,
      "notImplemented",
      /LAZARUS_HOST_EVACUATION_STATE_MACHINE_ARN/,
    );
    await refusedWithoutChange(
      () => cloud.call("POST", "/v2.1/os-hosts/host-q/evacuate", { body: {} }),
      404,
      "itemNotFound",
    );
    await refusedWithoutChange(
      () => cloud.call("POST", "/v2.1/os-hosts/host-a/evacuate", { body: { why: 1 } }),
      400,
      "badRequest",
    );
    await refusedWithoutChange(
      () =>
        cloud.call("POST", "/v2.1/os-hosts", {
          body: { host: { name: "host-n", managed_instance_id: "mi-0123456789abcdef0" } },
        }),
      409,
      "conflictingRequest",
      /not known to SSM/,
    );
    await refusedWithoutChange(
      () => cloud.call("POST", "/v2.1/os-hosts", { body: { host: { name: "a b" } } }),
      400,
      "badRequest",
    );
    await refusedWithoutChange(
      // No agent answers on this host-less cloud: adoption cannot read the host and changes nothing.
      () => cloud.call("POST", "/v2.1/os-hosts/host-a/adopt", { body: { adopt: {} } }),
      409,
      "conflictingRequest",
      /unreachable/,
    );
    await refusedWithoutChange(
      () => cloud.call("POST", "/v2.1/os-hosts/host-a/sync", { body: { sync: { apply: "no" } } }),
      400,
      "badRequest",
    );
    await refusedWithoutChange(
      () => cloud.call("POST", "/v2.1/os-hosts/host-q/sync", { body: { sync: { apply: false } } }),
      404,
      "itemNotFound",
    );
  });

  it("a report-only sync of a host no agent answers for says so and writes nothing", async () => {
    const before = await stateSnapshot(cloud);
    const res = await cloud.call("POST", "/v2.1/os-hosts/host-a/sync", { body: { sync: { apply: false } } });
    expect(res.status, res.text).toBe(200);
    expect((res.json as { synced: { hosts: unknown[]; drift: boolean } }).synced).toMatchObject({
      drift: false,
      hosts: [{ host: "host-a", status: "unreachable" }],
    });
    expect(await stateSnapshot(cloud)).toEqual(before);
  });
});

describe("migrations, instance actions, executions", () => {
  it("lists migrations by instance, host and status; the action log and its events come from them", async () => {
    const inst = await instance({ host: "host-dead", node: "host-dead" });
    const res = await action(inst.uuid, { evacuate: {} }, "2.95");
    expect(res.status).toBe(200);
    const migrationId = res.headers.get("x-lazarus-migration-id")!;
    await cloud.settle();

    const byInstance = await cloud.call("GET", `/v2.1/os-migrations?instance_uuid=${inst.uuid}`, {
      version: "2.59",
    });
    const migrations = (byInstance.json as { migrations: Record<string, unknown>[] }).migrations;
    expect(migrations).toHaveLength(1);
    // No agent answers on the local SSM endpoint: every target is unreachable, so the flow ends in error.
    expect(migrations[0]).toMatchObject({
      uuid: migrationId,
      migration_type: "evacuation",
      source_compute: "host-dead",
      "lazarus:proof": { kind: "power", detail: expect.stringMatching(/fenced off/) },
    });
    const status = migrations[0]!.status as string;
    expect(["failed", "error"]).toContain(status);
    const byHost = await cloud.call("GET", `/v2.1/os-migrations?host=host-dead&status=${status}`);
    expect((byHost.json as { migrations: { id: string }[] }).migrations.map((m) => m.id)).toContain(
      migrationId,
    );
    const none = await cloud.call("GET", "/v2.1/os-migrations?host=host-dead&status=done");
    expect((none.json as { migrations: { id: string }[] }).migrations.map((m) => m.id)).not.toContain(
      migrationId,
    );
    await refusedWithoutChange(
      () => cloud.call("GET", "/v2.1/os-migrations?status=bogus"),
      400,
      "badRequest",
    );
    await refusedWithoutChange(
      () => cloud.call("GET", "/v2.1/os-migrations?instance_uuid=x"),
      400,
      "badRequest",
    );

    const actions = await cloud.call("GET", `/v2.1/servers/${inst.uuid}/os-instance-actions`, {
      version: "2.58",
    });
    expect((actions.json as { instanceActions: unknown[] }).instanceActions).toEqual([
      expect.objectContaining({
        action: "evacuate",
        request_id: `req-${migrationId}`,
        message: "Error",
        "lazarus:proof": expect.objectContaining({ kind: "power" }),
      }),
    ]);
    const one = await cloud.call("GET", `/v2.1/servers/${inst.uuid}/os-instance-actions/req-${migrationId}`, {
      version: "2.62",
    });
    const events = (one.json as { instanceAction: { events: { event: string; result: string | null }[] } })
      .instanceAction.events;
    expect(events[0]).toMatchObject({ event: "Accept", result: "Success" });
    expect(events.some((e) => e.result === "Error")).toBe(true);
    expect((await cloud.db.stores.instances.require(inst.uuid)).vmState).toBe("error");

    const execution = await cloud.call("GET", `/v2.1/executions/${migrationId}`);
    expect((execution.json as { execution: { status: string; error: string } }).execution).toMatchObject({
      status: "FAILED",
    });
    await refusedWithoutChange(
      () => cloud.call("GET", `/v2.1/servers/${randomUUID()}/os-instance-actions`),
      404,
      "itemNotFound",
    );
    await refusedWithoutChange(
      () => cloud.call("GET", `/v2.1/servers/${inst.uuid}/os-instance-actions/req-nope`),
      404,
      "itemNotFound",
    );
  });

  it("answers 404 for an unknown execution, 400 for a malformed id, 404 for another account's ARN", async () => {
    await refusedWithoutChange(
      () => cloud.call("GET", `/v2.1/executions/${randomUUID()}`),
      404,
      "itemNotFound",
    );
    await refusedWithoutChange(() => cloud.call("GET", "/v2.1/executions/a%20b"), 400, "badRequest");
    const foreign = encodeURIComponent("arn:aws:states:us-east-1:123456789012:execution:other:x");
    await refusedWithoutChange(() => cloud.call("GET", `/v2.1/executions/${foreign}`), 404, "itemNotFound");
  });
});

describe("host evacuation once its state machine is deployed", () => {
  it("POST /os-hosts/{host}/evacuate starts it with {host, incidentId, reason} and answers 202", async () => {
    // A stand-in for the host-failure issue's machine: the API only needs its ARN in the environment.
    const arn = cloud.stepFunctions.createStateMachine({
      name: "lazarus-host-evacuation-standin",
      definition: JSON.stringify({ StartAt: "Done", States: { Done: { Type: "Pass", End: true } } }),
    });
    process.env[HOST_EVACUATION_ARN_ENV] = arn;
    resetDeps();
    try {
      const res = await cloud.call("POST", "/v2.1/os-hosts/host-down/evacuate", {
        body: { reason: "power loss", incident_id: "inc-42" },
      });
      expect(res.status, res.text).toBe(202);
      const id = (res.json as { execution: { id: string } }).execution.id;
      const execution = await cloud.call("GET", `/v2.1/executions/${id}`);
      expect(
        (execution.json as { execution: { input: unknown; state_machine: string } }).execution,
      ).toMatchObject({
        state_machine: arn,
        input: { host: "host-down", incidentId: "inc-42", reason: "power loss" },
      });
      // A retry the client marks as one (its Idempotency-Key) gets the first answer and starts nothing.
      const key = randomUUID();
      const keyed = await cloud.call("POST", "/v2.1/os-hosts/host-down/evacuate", {
        body: { reason: "power loss", incident_id: "inc-43" },
        headers: { "Idempotency-Key": key },
      });
      const again = await cloud.call("POST", "/v2.1/os-hosts/host-down/evacuate", {
        body: { reason: "power loss", incident_id: "inc-43" },
        headers: { "Idempotency-Key": key },
      });
      expect(again.headers.get("idempotent-replayed")).toBe("true");
      expect((again.json as { execution: { id: string } }).execution.id).toBe(
        (keyed.json as { execution: { id: string } }).execution.id,
      );
    } finally {
      delete process.env[HOST_EVACUATION_ARN_ENV];
      resetDeps();
    }
  });
});
