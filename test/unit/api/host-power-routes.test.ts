/**
 * A host's power through the API (functions/api/routes/host-power.ts) on a host-less local cloud: the real
 * API, the real host-power function behind the local Lambda endpoint (invoked asynchronously, as in AWS),
 * dynalite, an SSM endpoint where no agent answers. Refusals are synchronous and change nothing; an
 * accepted action is carried out by the function and lands in the host's power log (here "unavailable":
 * its only delegate cannot be reached); the BMC's password is never in an answer. Registration refuses a
 * bad BMC (400) before it asks anything of the host.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HostFencing, type PowerRecord } from "#shared/domain/schemas.js";
import { type ApiTestCloud, startApiTestCloud } from "../../support/api-cloud.js";
import { makeHost } from "../../support/fixtures.js";

let cloud: ApiTestCloud;

const ipmi = HostFencing.parse({
  power: "ipmi",
  watchdog: false,
  diskLocks: false,
  bmcNetworks: ["oob-a"],
  bmc: {
    address: "10.9.0.11",
    network: "oob-a",
    username: "fence",
    credentials: { secretsManager: "lazarus/bmc/oob-a/kvm-1" },
  },
});

beforeAll(async () => {
  cloud = await startApiTestCloud();
  const now = new Date().toISOString();
  await cloud.db.stores.hosts.put(makeHost({ name: "kvm-1", fencing: ipmi, lastHeartbeatAt: now }));
  await cloud.db.stores.hosts.put(
    makeHost({ name: "kvm-2", fencing: { ...ipmi, power: "none", bmc: null }, lastHeartbeatAt: now }),
  );
  await cloud.db.stores.hosts.put(makeHost({ name: "kvm-3", lastHeartbeatAt: now }));
}, 60_000);

afterAll(async () => {
  await cloud?.stop();
});

const post = (path: string, body?: unknown) =>
  cloud.call("POST", `/v2.1${path}`, body === undefined ? {} : { body });
const log = async (host: string) => (await cloud.db.stores.hosts.require(host)).powerLog;

describe("POST /os-hosts/{host}/power and fence-test", () => {
  it("refuses, with nothing done: bad bodies, an unknown host, a host with no fence, an enabled host's off", async () => {
    const refusals: [string, unknown, number, RegExp][] = [
      ["/os-hosts/kvm-1/power", { power: { action: "reboot" } }, 400, /power\.action/],
      ["/os-hosts/kvm-1/power", { power: { action: "off", password: "x" } }, 400, /password/],
      ["/os-hosts/kvm-1/power", { action: "status" }, 400, /action/],
      ["/os-hosts/nope/power", { power: { action: "status" } }, 404, /nope could not be found/],
      ["/os-hosts/kvm-3/power", { power: { action: "status" } }, 409, /has no power fence/],
      ["/os-hosts/kvm-1/power", { power: { action: "off" } }, 409, /is enabled: disable it first/],
      ["/os-hosts/kvm-1/power", { power: { action: "cycle", force: true } }, 409, /is enabled/],
    ];
    for (const [path, body, status, message] of refusals) {
      const res = await post(path, body);
      expect(res.status, `${path} ${JSON.stringify(body)}: ${res.text}`).toBe(status);
      expect(res.text).toMatch(message);
    }
    expect((await post("/os-hosts/kvm-3/fence-test")).status).toBe(409);
    await new Promise((r) => setTimeout(r, 200));
    for (const h of ["kvm-1", "kvm-2", "kvm-3"]) expect(await log(h)).toEqual([]);
  });

  it("accepts a status (202, an id); the host-power function records it: no delegate could run it", async () => {
    const res = await post("/os-hosts/kvm-1/power", { power: { action: "status" } });
    expect(res.status, res.text).toBe(202);
    const { id } = (res.json as { power: { id: string; method: string } }).power;
    expect((res.json as { power: unknown }).power).toMatchObject({
      host: "kvm-1",
      action: "status",
      method: "ipmi",
    });
    let record: PowerRecord | undefined;
    for (let i = 0; i < 200 && !record; i++) {
      record = (await log("kvm-1")).find((r) => r.id === id);
      if (!record) await new Promise((r) => setTimeout(r, 50));
    }
    // kvm-2 is the only delegate on oob-a, and no agent answers for it.
    expect(record).toMatchObject({
      action: "status",
      method: "ipmi",
      outcome: "unavailable",
      delegate: "kvm-2",
      requestedBy: "api (anonymous)",
    });
    expect(record!.answers).toEqual([
      expect.objectContaining({ delegate: "kvm-2", step: "delivery", exitCode: null }),
    ]);

    const test = await post("/os-hosts/kvm-1/fence-test");
    expect(test.status).toBe(202);

    const shown = await cloud.call("GET", "/v2.1/os-hosts/kvm-1/power");
    expect(shown.status).toBe(200);
    expect((shown.json as { power: Record<string, unknown> }).power).toMatchObject({
      host: "kvm-1",
      fence: {
        power: "ipmi",
        bmc_networks: ["oob-a"],
        bmc: {
          address: "10.9.0.11",
          port: null,
          network: "oob-a",
          username: "fence",
          credentials: { secretsManager: "lazarus/bmc/oob-a/kvm-1" },
          lanplus: true,
          cipher: 3,
        },
      },
      delegates: { now: ["kvm-2"], passed_over: [] },
    });
    expect((shown.json as { power: { log: PowerRecord[] } }).power.log.map((r) => r.id)).toContain(id);
    expect(shown.text).not.toMatch(/password/i);
  });
});

describe("POST /os-hosts (registration) with a BMC fence", () => {
  it("a bad BMC is a 400 before anything is asked of the host, the password never echoed", async () => {
    const register = (fencing: unknown) =>
      post("/os-hosts", { host: { name: "kvm-9", managed_instance_id: "mi-0123456789abcdef9", fencing } });
    const bmc = {
      address: "10.9.0.19",
      network: "oob-a",
      username: "fence",
      credentials: { secretsManager: "x/y" },
    };
    for (const [fencing, message] of [
      [{ power: "ipmi", bmc: { ...bmc, address: "10.9.0.19;reboot" } }, /fencing\.bmc\.address/],
      [{ power: "ipmi", bmc: { ...bmc, port: 99999 } }, /fencing\.bmc\.port/],
      [{ power: "redfish" }, /needs bmc/],
      [{ power: "ipmi", bmc: { ...bmc, password: "Hunter2Hunter2" } }, /never stored/],
    ] as const) {
      const res = await register(fencing);
      expect(res.status, res.text).toBe(400);
      expect(res.text).toMatch(message);
      expect(res.text).not.toContain("Hunter2Hunter2");
    }
    expect(await cloud.db.stores.hosts.get("kvm-9")).toBeNull();
  });
});
