/**
 * The read-only resources openstackclient and novaclient read, over HTTP against a host-less local cloud:
 * flavors, images (nova's proxy shape for a compute client, glance's for openstacksdk's image client),
 * availability zones, aggregates, server groups, server migrations, hypervisor statistics and servers,
 * nova's os-hosts, limits, usage and key pairs, each at the microversions that change it.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serviceUuid } from "#functions/api/views.js";
import { FLAVORS, IMAGES } from "#shared/domain/catalog.js";
import type { Instance } from "#shared/domain/schemas.js";
import { type ApiTestCloud, startApiTestCloud } from "../../support/api-cloud.js";
import { makeHost, makeInstance, makeMigration } from "../../support/fixtures.js";

let cloud: ApiTestCloud;
const FRESH = new Date(Date.now() + 3_600_000).toISOString();
const group = { id: "g-web", policy: "anti-affinity" as const };
let web: Instance;

beforeAll(async () => {
  cloud = await startApiTestCloud();
  const { hosts, instances, migrations } = cloud.db.stores;
  await hosts.put(makeHost({ name: "host-a", lastHeartbeatAt: FRESH }));
  await hosts.put(
    makeHost({
      name: "host-z",
      lastHeartbeatAt: FRESH,
      availabilityZone: "az2",
      storage: { ...makeHost().storage, sharedPoolId: null },
    }),
  );
  web = await instances.create(
    makeInstance({ name: "web-1", host: "host-a", node: "host-a", serverGroup: group, flavorId: "m1.small" }),
  );
  await instances.create(makeInstance({ name: "web-2", host: "host-z", node: "host-z", serverGroup: group }));
  await migrations.create(
    makeMigration({ instanceUuid: web.uuid, sourceHost: "host-z", destHost: "host-a" }),
  );
}, 60_000);

afterAll(async () => {
  await cloud?.stop();
});

const get = (path: string, version = "2.95", headers: Record<string, string> = {}) =>
  cloud.call("GET", `/v2.1${path}`, { version, headers });

describe("flavors and images", () => {
  it("lists flavors with detail in nova's shape; a flavor by id; public flavors have no access list", async () => {
    const list = await get("/flavors/detail?is_public=True", "2.92");
    expect(list.status).toBe(200);
    const flavors = (list.json as { flavors: Record<string, unknown>[] }).flavors;
    expect(flavors.map((f) => f.id)).toEqual(FLAVORS.map((f) => f.id));
    expect(flavors[0]).toMatchObject({
      name: "m1.nano",
      vcpus: 1,
      ram: 64,
      disk: 1,
      "os-flavor-access:is_public": true,
      "OS-FLV-EXT-DATA:ephemeral": 0,
      swap: 0,
      extra_specs: {},
    });
    expect(
      ((await get("/flavors/detail", "2.1")).json as { flavors: { swap: unknown }[] }).flavors[0]!.swap,
    ).toBe("");
    expect((await get("/flavors/m1.small")).json).toMatchObject({ flavor: { id: "m1.small", ram: 512 } });
    expect((await get("/flavors/none")).status).toBe(404);
    expect((await get("/flavors/m1.small/os-flavor-access")).status).toBe(404);
    expect((await get("/flavors?minRam=500")).json).toMatchObject({
      flavors: [{ id: "m1.small" }, { id: "m1.medium" }],
    });
  });

  it("answers a compute client in nova's image proxy shape and openstacksdk's image client in glance's", async () => {
    const nova = await get("/images/detail");
    expect((nova.json as { images: Record<string, unknown>[] }).images[0]).toMatchObject({
      id: IMAGES[0]!.id,
      status: "ACTIVE",
      minDisk: 1,
    });
    expect((await get(`/images/${IMAGES[0]!.id}`)).json).toMatchObject({ image: { status: "ACTIVE" } });
    const glance = await cloud.call("GET", `/v2.1/images/${IMAGES[1]!.id}`);
    expect(glance.json).toMatchObject({ id: IMAGES[1]!.id, name: IMAGES[1]!.name, status: "active" });
    const byName = await cloud.call("GET", `/v2.1/images?name=${IMAGES[1]!.name}`);
    expect((byName.json as { images: { id: string }[] }).images.map((i) => i.id)).toEqual([IMAGES[1]!.id]);
    expect((await cloud.call("GET", "/v2.1/images/nope")).status).toBe(404);
  });
});

describe("the fleet's grouping", () => {
  it("availability zones with their hosts; aggregates for zones and shared pools", async () => {
    const zones = await get("/os-availability-zone/detail");
    expect(zones.json).toMatchObject({
      availabilityZoneInfo: [
        {
          zoneName: "az1",
          zoneState: { available: true },
          hosts: { "host-a": { "nova-compute": { active: true } } },
        },
        { zoneName: "az2", zoneState: { available: true } },
      ],
    });
    expect(
      ((await get("/os-availability-zone")).json as { availabilityZoneInfo: { hosts: unknown }[] })
        .availabilityZoneInfo[0]!.hosts,
    ).toBeNull();
    const aggregates = (await get("/os-aggregates")).json as { aggregates: Record<string, unknown>[] };
    expect(aggregates.aggregates.map((a) => [a.name, a.availability_zone, a.hosts])).toEqual([
      ["az1", "az1", ["host-a"]],
      ["az2", "az2", ["host-z"]],
      ["pool-pool-1", null, ["host-a"]],
    ]);
    expect((await get("/os-aggregates/3")).json).toMatchObject({ aggregate: { name: "pool-pool-1" } });
  });

  it("server groups with their members, policy by microversion", async () => {
    const new_ = (await get("/os-server-groups")).json as { server_groups: Record<string, unknown>[] };
    expect(new_.server_groups).toEqual([
      expect.objectContaining({
        id: "g-web",
        policy: "anti-affinity",
        members: expect.arrayContaining([web.uuid]),
      }),
    ]);
    const old = (await get("/os-server-groups/g-web", "2.1")).json as {
      server_group: Record<string, unknown>;
    };
    expect(old.server_group).toMatchObject({ policies: ["anti-affinity"] });
    expect((await get("/os-server-groups/none")).status).toBe(404);
  });
});

describe("hosts, hypervisors, server migrations", () => {
  it("hypervisor statistics before 2.88; a hypervisor with its servers; nova's os-hosts show", async () => {
    const stats = await get("/os-hypervisors/statistics", "2.87");
    expect(stats.json).toMatchObject({ hypervisor_statistics: { count: 2 } });
    expect((await get("/os-hypervisors/statistics", "2.88")).status).toBe(404);
    const shown = await get(`/os-hypervisors/${serviceUuid("host-a")}?with_servers=true`);
    expect(shown.json).toMatchObject({
      hypervisor: { hypervisor_hostname: "host-a", servers: [{ uuid: web.uuid }] },
    });
    const old = await get("/os-hypervisors/host-a/servers", "2.52");
    expect(old.json).toMatchObject({
      hypervisors: [{ hypervisor_hostname: "host-a", servers: [{ uuid: web.uuid }] }],
    });
    const host = (await get("/os-hosts/host-a")).json as { host: { resource: Record<string, unknown> }[] };
    expect(host.host.map((r) => r.resource.project)).toEqual(["(total)", "(used_now)", "(used_max)"]);
    expect(host.host[0]!.resource).toMatchObject({ host: "host-a", cpu: 8, memory_mb: 16384 });
  });

  it("a server's migrations and one of them by id", async () => {
    const list = (await get(`/servers/${web.uuid}/migrations`)).json as {
      migrations: Record<string, unknown>[];
    };
    expect(list.migrations).toEqual([
      expect.objectContaining({ server_uuid: web.uuid, dest_compute: "host-a" }),
    ]);
    const id = String(list.migrations[0]!.uuid);
    expect((await get(`/servers/${web.uuid}/migrations/${id}`)).json).toMatchObject({ migration: { id } });
    expect((await get(`/servers/${web.uuid}/migrations/${randomUUID()}`)).status).toBe(404);
  });
});

describe("per-project reads", () => {
  it("limits from the fleet's capacity; usage; no key pairs, and creating one is refused", async () => {
    const limits = (await get("/limits")).json as { limits: { absolute: Record<string, number> } };
    expect(limits.limits.absolute).toMatchObject({
      maxTotalCores: 16,
      totalInstancesUsed: 2,
      totalCoresUsed: 2,
    });
    const start = new Date(Date.parse("2026-01-01T00:00:00Z") - 3_600_000).toISOString();
    const usage = await get(`/os-simple-tenant-usage?start=${start}&detailed=1`);
    expect(usage.json).toMatchObject({
      tenant_usages: [
        {
          tenant_id: "lazarus",
          server_usages: expect.arrayContaining([
            expect.objectContaining({ name: "web-1", flavor: "m1.small" }),
          ]),
        },
      ],
    });
    expect((await get("/os-keypairs")).json).toEqual({ keypairs: [] });
    const refused = await cloud.call("POST", "/v2.1/os-keypairs", { body: { keypair: { name: "k" } } });
    expect(refused.status).toBe(400);
  });
});
