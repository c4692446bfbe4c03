/**
 * The power fence's adapter (shared/hosts/power-fence.ts) through the real @aws-sdk/client-ec2 against the
 * local EC2 endpoint (local/ec2/ec2-endpoint.ts): a forced stop powers the machine off and reads `stopped`;
 * the fault switch makes the stop really fail (an EC2 error) or hang (stays `stopping`); unknown ids are
 * EC2's own error. And the pure gate/wait decisions the host-evacuation flow and the simulator share.
 */
import type { EC2Client } from "@aws-sdk/client-ec2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Ec2Endpoint, startEc2Endpoint } from "#local/ec2/ec2-endpoint.js";
import { gateByProof, type HostProof, nextProofLook } from "#shared/domain/fencing.js";
import { Ec2PowerFence } from "#shared/hosts/power-fence.js";
import { localEc2Client } from "../support/ec2.js";

let ec2: Ec2Endpoint;
let client: EC2Client;
let fence: Ec2PowerFence;
const machines = new Map<string, boolean>();

beforeAll(async () => {
  ec2 = await startEc2Endpoint();
  client = localEc2Client(ec2.url);
  fence = new Ec2PowerFence(client);
  for (const id of ["i-0000000000000000a", "i-0000000000000000b", "i-0000000000000000c"]) {
    machines.set(id, true);
    ec2.addInstance(id, {
      powerOff: async () => {
        machines.set(id, false);
      },
      powerOn: async () => {
        machines.set(id, true);
      },
      isOn: () => machines.get(id) === true,
    });
  }
});

afterAll(async () => {
  client.destroy();
  await ec2.close();
});

const until = async (check: () => Promise<boolean>) => {
  for (let i = 0; i < 100 && !(await check()); i++) await new Promise((r) => setTimeout(r, 20));
};

describe("the power fence through the EC2 API", () => {
  it("a forced stop powers the machine off; DescribeInstances then says stopped", async () => {
    const id = "i-0000000000000000a";
    expect(await fence.powerState(id)).toBe("running");
    await fence.requestPowerOff(id);
    await until(async () => (await fence.powerState(id)) === "stopped");
    expect(await fence.powerState(id)).toBe("stopped");
    expect(machines.get(id)).toBe(false);
    expect(ec2.stops.at(-1)).toMatchObject({ instanceIds: [id], force: true });
  });

  it("fault 'fail': the stop is refused with an EC2 error and the machine keeps running", async () => {
    const id = "i-0000000000000000b";
    ec2.setFault({ mode: "fail", message: "injected: refused" });
    try {
      await expect(fence.requestPowerOff(id)).rejects.toMatchObject({
        name: "IncorrectInstanceState",
        message: "injected: refused",
      });
    } finally {
      ec2.setFault(null);
    }
    expect(machines.get(id)).toBe(true);
    expect(await fence.powerState(id)).toBe("running");
  });

  it("fault 'hang': the stop is accepted and never carried out (stopping); cleared, the next stop works", async () => {
    const id = "i-0000000000000000c";
    ec2.setFault({ mode: "hang" });
    await fence.requestPowerOff(id);
    await new Promise((r) => setTimeout(r, 100));
    expect(await fence.powerState(id)).toBe("stopping");
    expect(machines.get(id)).toBe(true);
    ec2.setFault(null);
    await fence.requestPowerOff(id);
    await until(async () => (await fence.powerState(id)) === "stopped");
    expect(machines.get(id)).toBe(false);
  });

  it("an unknown instance id is EC2's InvalidInstanceID.NotFound", async () => {
    await expect(fence.requestPowerOff("i-00000000000000fff")).rejects.toMatchObject({
      name: "InvalidInstanceID.NotFound",
    });
  });
});

describe("waiting for proof (shared by host-evacuation and the simulator)", () => {
  const none: HostProof = { proof: null, reason: "power fence failed", leaseExpiresAt: null };
  const power: HostProof = { proof: "power", at: "2026-01-01T00:00:00.000Z", reason: "power fence: off" };
  const local = { storage: { sharedPoolId: null }, fencing: { diskLocks: true } };
  const shared = { storage: { sharedPoolId: "p1" }, fencing: { diskLocks: true } };
  const sharedUnlocked = { storage: { sharedPoolId: "p1" }, fencing: { diskLocks: false } };

  it("without host proof, a local disk waits and a locked shared disk may try on `lock`", () => {
    expect(gateByProof(["a"], none, local)).toMatchObject({ ready: [], waiting: [{ item: "a" }] });
    expect(gateByProof(["a"], none, shared)).toMatchObject({
      ready: [{ item: "a", proof: "lock" }],
      waiting: [],
    });
    expect(gateByProof(["a"], power, local)).toMatchObject({ ready: [{ item: "a", proof: "power" }] });
  });

  it("a shared pool whose hosts do NOT enforce the lock is no `lock`: the instance waits for host proof", () => {
    const gate = gateByProof(["a"], none, sharedUnlocked);
    expect(gate.ready).toEqual([]);
    expect(gate.waiting).toEqual([
      { item: "a", reason: expect.stringMatching(/shared disk without a host-side lock/) },
    ]);
    expect(gateByProof(["a"], power, sharedUnlocked).ready).toEqual([{ item: "a", proof: "power" }]);
  });

  it("an instance that says its disk is not on shared storage waits, even in a locked pool", () => {
    const gate = gateByProof(["a", "b"], none, shared, (i) => (i === "a" ? false : null));
    expect(gate.ready).toEqual([{ item: "b", proof: "lock" }]);
    expect(gate.waiting.map((w) => w.item)).toEqual(["a"]);
  });

  it("looks again after fenceRetrySeconds, sooner at lease expiry; gives up after the rounds or when the host is back before proof", () => {
    const now = new Date("2026-01-01T00:00:00.000Z");
    const cfg = { fenceRetrySeconds: 30, maxProofRounds: 3 };
    const look = (over: Partial<Parameters<typeof nextProofLook>[0]>) =>
      nextProofLook(
        { round: 1, proof: none, heartbeatAlive: false, now, waitingForProof: 1, busy: 0, ...over },
        cfg,
      );
    expect(look({})).toMatchObject({ verdict: "wait", waitSeconds: 30 });
    expect(look({ proof: { ...none, leaseExpiresAt: "2026-01-01T00:00:07.500Z" } })).toMatchObject({
      waitSeconds: 8,
    });
    expect(look({ round: 3 }).verdict).toBe("give-up");
    expect(look({ heartbeatAlive: true }).verdict).toBe("give-up");
    // After the proof, a heartbeat back (the node reset and rebooted) does not end the wait for busy ones.
    expect(look({ proof: power, heartbeatAlive: true, waitingForProof: 0, busy: 1 })).toMatchObject({
      verdict: "wait",
      reason: expect.stringMatching(/1 held by another flow/),
    });
    expect(look({ proof: power, waitingForProof: 0, busy: 1, round: 3 })).toMatchObject({
      verdict: "give-up",
      reason: expect.stringMatching(/1 held by another flow/),
    });
  });
});
