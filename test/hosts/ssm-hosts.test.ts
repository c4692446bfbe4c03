/**
 * Real parts only: two LocalHosts (own users, own session libvirtd, own agents), the local SSM endpoint
 * serving the stack's host documents, and the real @aws-sdk/client-ssm behind SsmHostExecutor. Every
 * command here is one of the stack's documents, run by the agent as SSM's runs it (`sh -c _script.sh`,
 * parameters in the environment). A parameter outside its pattern, and the shell document, are refused by
 * the endpoint as SSM refuses them, and nothing runs on the host.
 */

import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import {
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  InvalidDocument,
  InvalidInstanceId,
  InvalidParameters,
  InvocationDoesNotExist,
  ListCommandInvocationsCommand,
  SendCommandCommand,
  SSMClient,
} from "@aws-sdk/client-ssm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Fleet, startFleet } from "#local/hosts/fleet.js";
import { processesOfUid } from "#local/hosts/local-host.js";
import type { SsmCommandNotice } from "#local/ssm/ssm-endpoint.js";
import {
  HostCommandFailed,
  HostCommandTimedOut,
  HostUnreachable,
  InvalidInput,
} from "#shared/domain/errors.js";
import { newHostRecord } from "#shared/domain/host-record.js";
import type { Host, Instance } from "#shared/domain/schemas.js";
import type { HostTarget } from "#shared/hosts/executor.js";
import { defineDomain } from "#shared/hosts/instance-domain.js";
import { domainStateProbe, parseDomainStateProbe } from "#shared/hosts/probes.js";
import { createRootDisk } from "#shared/hosts/qemu-img.js";
import { SsmHostExecutor } from "#shared/hosts/ssm-executor.js";
import { describeHostPing } from "#shared/hosts/ssm-host-directory.js";
import { listDomains, startDomain, stopDomain } from "#shared/hosts/virsh.js";
import { parseListUuids } from "#shared/hosts/virsh-parsers.js";
import { makeInstance, makePort } from "#test/support/fixtures.js";

const UUID = "6f1d2c1e-8a4b-4c1e-9d2a-0b1c2d3e4f50";
const MAC = "52:54:00:6a:11:01";

let fleet: Fleet;
let client: SSMClient;
let exec: SsmHostExecutor;
let hostA: HostTarget;
let hostB: HostTarget;
let recordA: Host;
let instance: Instance;
const commands: SsmCommandNotice[] = [];

beforeAll(async () => {
  fleet = await startFleet({
    hosts: [{ name: "host-a" }, { name: "host-b" }],
    // SSM at AWS's timings: no faster ConnectionLost, Undeliverable or delivery timeout than AWS gives.
    ssm: { invocationVisibilityDelayMs: 50 },
  });
  fleet.ssm.onCommand((c) => commands.push(c));
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
  recordA = newHostRecord(a.record(), {});
  instance = makeInstance({
    uuid: UUID,
    name: "lz-test-vm",
    host: "host-a",
    node: "host-a",
    imageRef: "cirros-0.6",
    flavor: { vcpus: 1, memoryMiB: 64, diskGiB: 1 },
    ports: [],
    volumes: [],
  });
});

afterAll(async () => {
  client?.destroy();
  await fleet?.stop();
});

describe("local hosts through SSM, with the stack's documents", () => {
  it("the documents run on the host's own libvirt: root disk, define + start a domain on host-a only", async () => {
    const a = fleet.hosts.get("host-a")!;
    expect(a.managedInstanceId).toMatch(/^mi-[0-9a-f]{17}$/);
    await exec.run(
      hostA,
      createRootDisk(recordA, { instanceUuid: UUID, imageRef: "cirros-0.6", sizeGiB: 1, replace: false }),
    );
    const port = makePort({ instanceUuid: UUID, mac: MAC, bindingHost: "host-a" });
    await exec.run(
      hostA,
      defineDomain({ instance, host: recordA, ports: [port], volumes: [] }, { start: true }),
      {
        executionTimeoutSeconds: 60,
        comment: "define+start",
      },
    );
    const state = parseDomainStateProbe("host-a", await exec.probe(hostA, domainStateProbe(UUID)));
    expect(state).toBe("running");
    expect((await a.virsh(["domstate", UUID])).stdout.trim()).toBe("running");
    // Defined as the host's user, with the host's libvirt, beside the disk: not on host-b.
    expect(parseListUuids((await exec.run(hostA, listDomains())).stdout)).toContain(UUID);
    expect(parseListUuids((await exec.run(hostB, listDomains())).stdout)).not.toContain(UUID);
    expect(existsSync(`${a.instancesPath}/${UUID}/libvirt.xml`)).toBe(true);
    // Every command was a stack document, its values in its parameters, none in its script.
    for (const c of commands) {
      expect(c.documentName).toMatch(/^lazarus-/);
      expect(c.script).not.toContain(UUID);
    }
  });

  it("a parameter outside its pattern is refused by the endpoint as SSM refuses it, and nothing runs", async () => {
    const before = commands.length;
    const marker = `/tmp/lazarus-ssm-injection-${process.pid}`;
    await expect(
      client.send(
        new SendCommandCommand({
          DocumentName: "lazarus-start-domain",
          InstanceIds: [hostA.managedInstanceId],
          Parameters: { uuid: [`$(touch ${marker})`] },
        }),
      ),
    ).rejects.toBeInstanceOf(InvalidParameters);
    // The shell document is not served: a role that could send it would hold root on every host.
    await expect(
      client.send(
        new SendCommandCommand({
          DocumentName: "AWS-RunShellScript",
          InstanceIds: [hostA.managedInstanceId],
          Parameters: { commands: [`touch ${marker}`] },
        }),
      ),
    ).rejects.toBeInstanceOf(InvalidDocument);
    // The executor reports the refusal as InvalidInput (a named error), sending nothing else.
    const forged = { document: "start-domain", parameters: { uuid: "x; reboot" } };
    await expect(exec.run(hostA, forged)).rejects.toBeInstanceOf(InvalidInput);
    expect(commands.length).toBe(before);
    const listed = await client.send(
      new ListCommandInvocationsCommand({ InstanceId: hostA.managedInstanceId }),
    );
    expect(listed.CommandInvocations?.some((i) => i.DocumentName === "AWS-RunShellScript")).toBe(false);
    expect(existsSync(marker)).toBe(false);
  });

  it("speaks SSM's JSON 1.1 as the SDK expects: named errors, eventual consistency, instance info", async () => {
    const sent = await client.send(
      new SendCommandCommand({
        DocumentName: "lazarus-list-domains",
        InstanceIds: [hostB.managedInstanceId],
      }),
    );
    const commandId = sent.Command?.CommandId ?? "";
    expect(commandId).not.toBe("");
    // An invocation SSM does not show (yet: the visibility delay after SendCommand, proven on a moved clock in
    // test/unit/local/ssm-state.test.ts; or at all) reaches the SDK as its named error. By time alone, "right
    // after SendCommand" was not right after on a loaded machine.
    await expect(
      client.send(
        new GetCommandInvocationCommand({ CommandId: randomUUID(), InstanceId: hostB.managedInstanceId }),
      ),
    ).rejects.toBeInstanceOf(InvocationDoesNotExist);
    await expect(
      client.send(
        new SendCommandCommand({
          DocumentName: "lazarus-list-domains",
          InstanceIds: ["mi-0123456789abcdef0"],
        }),
      ),
    ).rejects.toBeInstanceOf(InvalidInstanceId);
    await expect(
      exec.run({ name: "ghost", managedInstanceId: "mi-0123456789abcdef0" }, listDomains()),
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
    // The domain is not defined on host-b: start-domain exits 4 (EXIT_DOMAIN_ABSENT), saying so.
    const err = await exec.run(hostB, startDomain(UUID)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HostCommandFailed);
    const failed = err as HostCommandFailed;
    expect(failed.details).toMatchObject({ host: "host-b", exitCode: 4 });
    expect(String(failed.details.stderr)).toContain("is not defined");
    expect(failed.details.commandId).toEqual(expect.any(String));
    expect(failed.message).toContain("host-b");
    expect(failed.message).toContain(String(failed.details.commandId));

    const probed = await exec.probe(hostB, startDomain(UUID));
    expect(probed.exitCode).toBe(4);
  });

  it("enforces executionTimeout on the host (HostCommandTimedOut)", async () => {
    // A guest without an operating system ignores ACPI: the clean stop would wait its whole minute.
    const t0 = Date.now();
    const err = await exec
      .run(hostA, stopDomain(UUID, 60), { executionTimeoutSeconds: 2 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HostCommandTimedOut);
    expect(Date.now() - t0).toBeLessThan(20_000);
  });

  it("a killed host's commands wait Pending until the executor's deadline while SSM still says Online; after restart the domain is defined but shut off", async () => {
    const a = fleet.hosts.get("host-a");
    if (!a) throw new Error("no host-a");
    await a.kill();
    expect(processesOfUid(a.uid)).toEqual([]);

    // As in AWS: nothing refuses the command and nothing delivers it. SSM would expire it only after
    // TimeoutSeconds (30 s at least) + executionTimeout; the executor's own deadline comes first.
    const t0 = Date.now();
    const err = await exec.run(hostA, listDomains(), { deadlineMs: 8000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HostCommandTimedOut);
    expect((err as HostCommandTimedOut).details).toMatchObject({ host: "host-a", lastStatus: "Pending" });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(8000);

    // The agent's last health report is seconds old: Online, as AWS shows a dead host for up to 10 minutes
    // (ConnectionLost and Undeliverable are reached by moving SSM's clock in the unit tests).
    const ping = await describeHostPing(client, [
      hostA.managedInstanceId,
      hostB.managedInstanceId,
      "mi-00000000000000000",
    ]);
    expect(ping).toEqual({
      [hostA.managedInstanceId]: "Online",
      [hostB.managedInstanceId]: "Online",
      "mi-00000000000000000": "Inactive",
    });

    await a.restart();
    expect((await a.virsh(["domstate", UUID])).stdout.trim()).toBe("shut off");
    const again = parseDomainStateProbe("host-a", await exec.probe(hostA, domainStateProbe(UUID)));
    expect(again).toBe("shutdown");
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
