/**
 * Real parts only: two LocalHosts (own users, own session libvirtd, own agents), the local SSM
 * endpoint, and the real @aws-sdk/client-ssm behind SsmHostExecutor.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import {
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  InvalidInstanceId,
  InvocationDoesNotExist,
  SendCommandCommand,
  SSMClient,
} from "@aws-sdk/client-ssm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Fleet, startFleet } from "#local/hosts/fleet.js";
import { processesOfUid } from "#local/hosts/local-host.js";
import { HostCommandFailed, HostCommandTimedOut, HostUnreachable } from "#shared/domain/errors.js";
import type { HostTarget } from "#shared/hosts/executor.js";
import { SsmHostExecutor } from "#shared/hosts/ssm-executor.js";
import { describeHostPing } from "#shared/hosts/ssm-host-directory.js";

const VM = "lz-test-vm";
const UUID = "6f1d2c1e-8a4b-4c1e-9d2a-0b1c2d3e4f50";
const MAC = "52:54:00:6a:11:01";

let fleet: Fleet;
let client: SSMClient;
let exec: SsmHostExecutor;
let hostA: HostTarget;
let hostB: HostTarget;

beforeAll(async () => {
  fleet = await startFleet({
    hosts: [{ name: "host-a" }, { name: "host-b" }],
    ssm: {
      agentHealthIntervalMs: 500,
      connectionLostAfterMs: 1500,
      maxDeliveryMs: 3000,
      invocationVisibilityDelayMs: 50,
    },
  });
  client = new SSMClient({
    endpoint: fleet.ssm.url,
    region: "us-east-1",
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
  });
  exec = new SsmHostExecutor({ client, pollInitialMs: 50, pollMaxMs: 500, defaultDeadlineMs: 60_000 });
  const a = fleet.hosts.get("host-a");
  const b = fleet.hosts.get("host-b");
  if (!a || !b) throw new Error("hosts missing");
  hostA = { name: a.name, managedInstanceId: a.managedInstanceId };
  hostB = { name: b.name, managedInstanceId: b.managedInstanceId };
});

afterAll(async () => {
  client?.destroy();
  await fleet?.stop();
});

function domainXml(disk: string): string {
  return `<domain type='qemu'>
  <name>${VM}</name>
  <uuid>${UUID}</uuid>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <features><acpi/></features>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='${disk}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='user'>
      <mac address='${MAC}'/>
      <model type='virtio'/>
    </interface>
  </devices>
</domain>`;
}

describe("local hosts through SSM", () => {
  it("runs a script on the host's own libvirt: define + start a domain on host-a only", async () => {
    const a = fleet.hosts.get("host-a");
    if (!a) throw new Error("no host-a");
    expect(a.record()).toMatchObject({
      name: "host-a",
      virtType: "qemu",
      storage: { sharedPoolId: null, instancesPath: a.instancesPath },
    });
    expect(a.managedInstanceId).toMatch(/^mi-[0-9a-f]{17}$/);

    const dir = `${a.instancesPath}/${UUID}`;
    const script = [
      "set -euo pipefail",
      `mkdir -p ${dir}`,
      `qemu-img create -q -f qcow2 -b ${a.imageCachePath}/cirros-0.6.qcow2 -F qcow2 ${dir}/disk`,
      `cat > ${dir}/domain.xml <<'XML'`,
      domainXml(`${dir}/disk`),
      "XML",
      `virsh define ${dir}/domain.xml`,
      `virsh start ${VM}`,
      `virsh domstate ${VM}`,
    ].join("\n");
    const res = await exec.run(hostA, script, { executionTimeoutSeconds: 60, comment: "define+start" });
    expect(res.exitCode).toBe(0);
    expect(res.stdout).toContain("running");

    expect((await a.virsh(["domstate", VM])).stdout.trim()).toBe("running");
    const onB = await exec.run(hostB, "virsh list --all --name");
    expect(onB.stdout).not.toContain(VM);
    const bList = await fleet.hosts.get("host-b")?.virsh(["list", "--all", "--name"]);
    expect(bList?.stdout).not.toContain(VM);
    // The script saw the host's own identity and environment.
    const who = await exec.run(hostA, 'id -un; echo "$LIBVIRT_DEFAULT_URI"');
    expect(who.stdout).toBe(`${a.unixUser}\nqemu:///session\n`);
  });

  it("speaks SSM's JSON 1.1 as the SDK expects: named errors, eventual consistency, instance info", async () => {
    const sent = await client.send(
      new SendCommandCommand({
        DocumentName: "AWS-RunShellScript",
        InstanceIds: [hostB.managedInstanceId],
        Parameters: { commands: ["echo hi"] },
      }),
    );
    const commandId = sent.Command?.CommandId ?? "";
    // Right after SendCommand the invocation is not visible yet, as in AWS.
    await expect(
      client.send(
        new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: hostB.managedInstanceId }),
      ),
    ).rejects.toBeInstanceOf(InvocationDoesNotExist);
    await expect(
      client.send(
        new SendCommandCommand({
          DocumentName: "AWS-RunShellScript",
          InstanceIds: ["mi-0123456789abcdef0"],
          Parameters: { commands: ["true"] },
        }),
      ),
    ).rejects.toBeInstanceOf(InvalidInstanceId);
    await expect(
      exec.run({ name: "ghost", managedInstanceId: "mi-0123456789abcdef0" }, "true"),
    ).rejects.toBeInstanceOf(HostUnreachable);
    const info = await client.send(
      new DescribeInstanceInformationCommand({
        InstanceInformationFilterList: [{ key: "InstanceIds", valueSet: [hostA.managedInstanceId] }],
      }),
    );
    expect(info.InstanceInformationList).toHaveLength(1);
    expect(info.InstanceInformationList?.[0]).toMatchObject({
      InstanceId: hostA.managedInstanceId,
      PingStatus: "Online",
      ComputerName: "host-a",
      PlatformType: "Linux",
    });
    expect(info.InstanceInformationList?.[0]?.LastPingDateTime).toBeInstanceOf(Date);
  });

  it("a non-zero exit is HostCommandFailed from run() and a result from probe()", async () => {
    const err = await exec.run(hostB, "echo out; echo boom >&2; exit 3").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HostCommandFailed);
    const failed = err as HostCommandFailed;
    expect(failed.details).toMatchObject({ host: "host-b", exitCode: 3, stdout: "out\n", stderr: "boom\n" });
    expect(failed.details.commandId).toEqual(expect.any(String));
    expect(failed.message).toContain("host-b");
    expect(failed.message).toContain(String(failed.details.commandId));

    const probed = await exec.probe(hostB, "echo out; echo boom >&2; exit 3");
    expect(probed).toEqual({ exitCode: 3, stdout: "out\n", stderr: "boom\n" });
  });

  it("enforces executionTimeout on the host (HostCommandTimedOut)", async () => {
    const t0 = Date.now();
    const err = await exec.run(hostB, "sleep 60", { executionTimeoutSeconds: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HostCommandTimedOut);
    expect(Date.now() - t0).toBeLessThan(15_000);
  });

  it("a killed host is unreachable and ConnectionLost; after restart the domain is defined but shut off", async () => {
    const a = fleet.hosts.get("host-a");
    if (!a) throw new Error("no host-a");
    await a.kill();
    expect(processesOfUid(a.uid)).toEqual([]);

    const t0 = Date.now();
    const err = await exec.run(hostA, "true", { deadlineMs: 20_000 }).catch((e: unknown) => e);
    expect(err instanceof HostUnreachable || err instanceof HostCommandTimedOut).toBe(true);
    expect((err as Error).message).toContain("host-a");
    expect(Date.now() - t0).toBeLessThan(21_000);

    // No poll for connectionLostAfterMs (1.5 s here) = ConnectionLost.
    await new Promise((r) => setTimeout(r, 1600));
    const ping = await describeHostPing(client, [
      hostA.managedInstanceId,
      hostB.managedInstanceId,
      "mi-00000000000000000",
    ]);
    expect(ping).toEqual({
      [hostA.managedInstanceId]: "ConnectionLost",
      [hostB.managedInstanceId]: "Online",
      "mi-00000000000000000": "Inactive",
    });
    // A command to a ConnectionLost agent is Undeliverable.
    const err2 = await exec.run(hostA, "true", { deadlineMs: 20_000 }).catch((e: unknown) => e);
    expect(err2).toBeInstanceOf(HostUnreachable);

    await a.restart();
    expect((await a.virsh(["domstate", VM])).stdout.trim()).toBe("shut off");
    const again = await exec.run(hostA, `virsh domstate ${VM}`);
    expect(again.stdout.trim()).toBe("shut off");
    expect((await describeHostPing(client, [hostA.managedInstanceId]))[hostA.managedInstanceId]).toBe(
      "Online",
    );
  });

  it("tear-down leaves no process, user, group or folder", async () => {
    const users = [...fleet.hosts.values()].map((h) => ({ uid: h.uid, user: h.unixUser }));
    const { dir, group } = fleet;
    await fleet.stop();
    for (const { uid, user } of users) {
      expect(processesOfUid(uid)).toEqual([]);
      expect(spawnSync("getent", ["passwd", user]).status).not.toBe(0);
    }
    expect(spawnSync("getent", ["group", group]).status).not.toBe(0);
    expect(existsSync(dir)).toBe(false);
  });
});
