/**
 * Power control carried out (shared/flow/host-power.ts) over real parts where they exist here: the host
 * records in dynalite, the EC2 path through the real @aws-sdk/client-ec2 against the local EC2 endpoint,
 * and the BMC path's delegate document run as its agent runs it (fence_redfish stands in at the process boundary:
 * test/support/fence-stubs.ts). The executor is a fake at the SSM interface: it runs the script, or fails
 * as an unreachable delegate does. Also the pure rules: delegates, operators' refusals, success.
 */
import type { EC2Client } from "@aws-sdk/client-ec2";
import { DeleteCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type Ec2Endpoint, startEc2Endpoint } from "#local/ec2/ec2-endpoint.js";
import { HostCommandTimedOut, HostUnreachable } from "#shared/domain/errors.js";
import { chooseDelegates, powerActionRefusal, powerActionSucceeded } from "#shared/domain/power-control.js";
import { type Host, HostFencing } from "#shared/domain/schemas.js";
import { controlHostPower, type HostPowerDeps } from "#shared/flow/host-power.js";
import type { HostExecutor, HostTarget, RunResult } from "#shared/hosts/executor.js";
import type { HostCommand } from "#shared/hosts/host-command.js";
import { Ec2PowerFence } from "#shared/hosts/power-fence.js";
import { startTestDynamo, type TestDynamo } from "../support/dynamo.js";
import { localEc2Client } from "../support/ec2.js";
import { type FenceStubs, makeFenceStubs, STUB_SECRET } from "../support/fence-stubs.js";
import { makeHost } from "../support/fixtures.js";

const NOW = new Date("2026-01-01T00:00:05.000Z");

const redfish = (over: Partial<HostFencing["bmc"] & object> = {}) =>
  HostFencing.parse({
    power: "redfish",
    watchdog: false,
    diskLocks: false,
    bmcNetworks: ["oob-a"],
    bmc: {
      address: "10.9.0.1",
      network: "oob-a",
      username: "fence",
      credentials: { secretsManager: "lazarus/bmc/ok" },
      ...over,
    },
  });

/** Runs the delegate's command as its agent would (the stand-ins on PATH), or fails as SSM does for `unreachable`. */
class BashExecutor implements HostExecutor {
  readonly sent: { host: string; command: HostCommand }[] = [];
  unreachable = new Set<string>();
  timedOut = new Set<string>();
  constructor(private readonly stubs: FenceStubs) {}
  async run(host: HostTarget, command: HostCommand): Promise<RunResult> {
    return this.probe(host, command);
  }
  async probe(host: HostTarget, command: HostCommand): Promise<RunResult> {
    this.sent.push({ host: host.name, command });
    if (this.unreachable.has(host.name))
      throw new HostUnreachable(`host ${host.name}: command was never delivered (TimedOut/DeliveryTimedOut)`);
    if (this.timedOut.has(host.name)) throw new HostCommandTimedOut(`host ${host.name}: no terminal status`);
    const power = this.stubs.read("power").trim() === "off" ? "off" : "on";
    const r = this.stubs.run(command, power);
    return { exitCode: r.code ?? -1, stdout: r.stdout, stderr: r.stderr };
  }
}

let db: TestDynamo;
let stubs: FenceStubs;
let ec2: Ec2Endpoint;
let ec2Client: EC2Client;
let executor: BashExecutor;
let deps: HostPowerDeps;
const machines = new Map<string, boolean>();

beforeAll(async () => {
  db = await startTestDynamo();
  stubs = makeFenceStubs();
  ec2 = await startEc2Endpoint();
  ec2Client = localEc2Client(ec2.url);
});

afterAll(async () => {
  ec2Client.destroy();
  await ec2.close();
  stubs.remove();
  await db.close();
});

async function seed(hosts: Host[]): Promise<void> {
  for (const h of await db.stores.hosts.list()) await db.doc.send(deleteHost(h.name));
  for (const h of hosts) await db.stores.hosts.put(h);
}

const deleteHost = (name: string) => new DeleteCommand({ TableName: db.tables.hosts, Key: { name } });

beforeEach(() => {
  executor = new BashExecutor(stubs);
  stubs.refuse(false);
  stubs.reset("on");
  deps = {
    stores: db.stores,
    executor,
    ec2: new Ec2PowerFence(ec2Client),
    // The delegate's script compares its deadline (notAfter) with the real clock.
    now: () => new Date(),
    sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 20))),
    region: "eu-west-1",
    serviceDownSeconds: 60,
    pollMs: 20,
    maxDelegates: 3,
  };
});

describe("delegates", () => {
  it("peers on the victim's BMC network, up and enabled, by name; the others passed over with why", () => {
    const victim = makeHost({ name: "h1", fencing: redfish() });
    const peer = (name: string, over: Partial<Host> = {}) =>
      makeHost({ name, fencing: HostFencing.parse({ ...redfish(), bmc: null, power: "none" }), ...over });
    const fleet = [
      victim,
      peer("h4"),
      peer("h2"),
      peer("h3", { enabled: false }),
      peer("h5", { forcedDown: true }),
      peer("h6", { lastHeartbeatAt: "2025-12-31T23:00:00.000Z" }),
      peer("h7", {
        incident: {
          id: "i-1",
          status: "evacuating",
          source: "alarm",
          reason: null,
          executionName: null,
          openedAt: NOW.toISOString(),
          updatedAt: NOW.toISOString(),
          summary: null,
        },
      }),
      peer("h8", { fencing: HostFencing.parse({ ...redfish(), bmcNetworks: ["oob-b"] }) }),
    ];
    const choice = chooseDelegates(victim, fleet, NOW, 60);
    expect(choice.delegates).toEqual(["h2", "h4"]);
    expect(choice.passedOver).toEqual([
      { host: "h3", reason: "disabled" },
      { host: "h5", reason: "forced down" },
      { host: "h6", reason: "down (its heartbeat is not fresh)" },
      { host: "h7", reason: "in incident i-1 (evacuating)" },
    ]);
    // h8 reaches another BMC network only.
    expect(chooseDelegates(victim, [victim, fleet[7]!], NOW, 60)).toMatchObject({
      delegates: [],
      reason: "no other host reaches BMC network oob-a (fencing.bmcNetworks)",
    });
    expect(chooseDelegates(makeHost({ name: "x" }), fleet, NOW, 60).reason).toBe("host x has no BMC");
  });

  it("operators' off and cycle need a disabled host, and force while instances are on it", () => {
    const h = makeHost({ name: "h1", fencing: redfish() });
    expect(powerActionRefusal(h, "status", { force: false })).toBeNull();
    expect(powerActionRefusal(h, "on", { force: false })).toBeNull();
    expect(powerActionRefusal(h, "off", { force: true })).toMatch(/is enabled: disable it first/);
    const disabled = { ...h, enabled: false };
    expect(powerActionRefusal(disabled, "cycle", { force: false })).toBeNull();
    const busy = { ...disabled, claims: { a: {} as never } };
    expect(powerActionRefusal(busy, "off", { force: false })).toMatch(/holds 1 instance/);
    expect(powerActionRefusal(busy, "off", { force: true })).toBeNull();
    expect(powerActionRefusal(makeHost({ name: "n" }), "status", { force: false })).toMatch(/no power fence/);
    expect(powerActionSucceeded("status", "off")).toBe(true);
    expect(powerActionSucceeded("fence-test", "failed")).toBe(false);
    expect(powerActionSucceeded("off", "on")).toBe(false);
    expect(powerActionSucceeded("cycle", "on")).toBe(true);
    expect(powerActionSucceeded("fence", "unavailable")).toBe(false);
  });
});

/** The fence step's off, under the incident of `id` (`<incident>/fence-<round>`). */
const fence = (victim: Host, id: string) =>
  controlHostPower(deps, victim, {
    action: "fence",
    id,
    requestedBy: `incident ${id.split("/")[0]}`,
    deadlineSeconds: 10,
  });

describe("through a delegate's fence agent", () => {
  // No heartbeat times on the records (as in AWS: the alarm's status says up or down).
  const fleet = () => {
    const victim = makeHost({ name: "h1", fencing: redfish(), lastHeartbeatAt: null });
    const peers = ["h2", "h3"].map((name) =>
      makeHost({
        name,
        lastHeartbeatAt: null,
        fencing: HostFencing.parse({ ...redfish(), power: "none", bmc: null }),
      }),
    );
    return { victim, peers };
  };

  it("off: the first delegate runs the agent; the BMC's answers and the delegate are recorded on the host", async () => {
    const { victim, peers } = fleet();
    await seed([victim, ...peers]);
    const record = await fence(victim, "inc-1/fence-1");
    expect(record).toMatchObject({ action: "fence", method: "redfish", outcome: "off", delegate: "h2" });
    expect(record.answers.map((a) => [a.delegate, a.step, a.exitCode, a.answer])).toEqual([
      ["h2", "off", 0, "Success: Powered OFF"],
      ["h2", "status", 2, "Status: OFF"],
    ]);
    expect(executor.sent.map((s) => s.host)).toEqual(["h2"]);
    expect((await db.stores.hosts.require("h1")).powerLog).toEqual([record]);
    // The command sent: the reference to the password, never the password.
    expect(executor.sent[0]!.command.parameters.credentialId).toBe("lazarus/bmc/ok");
    expect(JSON.stringify(executor.sent[0]!.command)).not.toContain(STUB_SECRET);
    expect(JSON.stringify(record)).not.toContain(STUB_SECRET);
  });

  it("a delegate that cannot run it makes way for the next; a BMC that refuses through every one: failed", async () => {
    const { victim, peers } = fleet();
    await seed([victim, ...peers]);
    executor.unreachable.add("h2");
    const off = await controlHostPower(deps, victim, {
      action: "off",
      id: "r-1",
      requestedBy: "op",
      deadlineSeconds: 10,
    });
    expect(off).toMatchObject({ outcome: "off", delegate: "h3" });
    expect(off.answers[0]).toMatchObject({ delegate: "h2", step: "delivery", exitCode: null });
    expect(off.detail).toMatch(/tried h2, h3/);

    executor.unreachable.clear();
    stubs.refuse(true);
    const refused = await fence(victim, "inc-1/fence-2");
    expect(refused).toMatchObject({ outcome: "failed", delegate: "h3" });
    expect(executor.sent.slice(-2).map((s) => s.host)).toEqual(["h2", "h3"]);
    expect(refused.answers.some((a) => /Unable to obtain correct plug status/.test(a.answer))).toBe(true);
    expect(JSON.stringify(refused)).not.toContain(STUB_SECRET);

    // Every delegate timed out: nothing says "off" for them.
    stubs.refuse(false);
    executor.timedOut = new Set(["h2", "h3"]);
    const late = await fence(victim, "inc-1/fence-3");
    expect(late).toMatchObject({ outcome: "unavailable", delegate: "h3" });
    expect((await db.stores.hosts.require("h1")).powerLog.map((r) => r.outcome)).toEqual([
      "off",
      "failed",
      "unavailable",
    ]);
  });

  it("no delegate at all: unavailable, never off, and nothing is sent", async () => {
    const { victim, peers } = fleet();
    await seed([victim, ...peers.map((p) => ({ ...p, enabled: false }))]);
    const r = await fence(victim, "inc-2/fence-1");
    expect(r).toMatchObject({ outcome: "unavailable", delegate: null });
    expect(r.detail).toBe("fence unavailable: no delegate on BMC network oob-a: h2 disabled, h3 disabled");
    expect(executor.sent).toEqual([]);
  });
});

describe("through EC2 (the local EC2 endpoint, real client-ec2)", () => {
  it("status, off, on and cycle; a refused stop is failed; none is unsupported", async () => {
    const host = makeHost({
      name: "e1",
      managedInstanceId: "i-0000000000000e001",
      fencing: HostFencing.parse({ power: "ec2", watchdog: false, diskLocks: false }),
    });
    await seed([host]);
    machines.set(host.managedInstanceId, true);
    ec2.addInstance(host.managedInstanceId, {
      powerOff: async () => void machines.set(host.managedInstanceId, false),
      powerOn: async () => void machines.set(host.managedInstanceId, true),
      isOn: () => machines.get(host.managedInstanceId) === true,
    });
    const act = (action: "status" | "off" | "on" | "cycle", id: string) =>
      controlHostPower(deps, host, { action, id, requestedBy: "op", deadlineSeconds: 5 });
    expect(await act("status", "s-1")).toMatchObject({ outcome: "on", method: "ec2", delegate: null });
    const off = await act("off", "o-1");
    expect(off.outcome).toBe("off");
    expect(off.answers.map((a) => a.step)).toEqual(
      expect.arrayContaining(["StopInstances", "DescribeInstances"]),
    );
    expect(await act("status", "s-2")).toMatchObject({ outcome: "off" });
    expect(await act("on", "n-1")).toMatchObject({ outcome: "on" });
    expect(machines.get(host.managedInstanceId)).toBe(true);
    const cycle = await act("cycle", "c-1");
    expect(cycle.outcome).toBe("on");
    expect(cycle.answers.map((a) => a.step)).toEqual(
      expect.arrayContaining(["StopInstances", "StartInstances"]),
    );
    ec2.setFault({ mode: "fail", message: "injected: refused" });
    try {
      expect(await act("off", "o-2")).toMatchObject({ outcome: "failed" });
    } finally {
      ec2.setFault(null);
    }
    expect(machines.get(host.managedInstanceId)).toBe(true);
    const none = makeHost({ name: "n1" });
    await db.stores.hosts.put(none);
    expect(
      await controlHostPower(deps, none, {
        action: "status",
        id: "x",
        requestedBy: "op",
        deadlineSeconds: 5,
      }),
    ).toMatchObject({ outcome: "unsupported", method: "none" });
    expect((await db.stores.hosts.require("e1")).powerLog.map((r) => `${r.action}:${r.outcome}`)).toEqual([
      "status:on",
      "off:off",
      "status:off",
      "on:on",
      "cycle:on",
      "off:failed",
    ]);
  });
});
