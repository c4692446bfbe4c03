/**
 * Shell injection, end to end on real hosts: known injection strings sent (1) through the API as image refs,
 * target hosts, service hosts and host names, (2) directly as execution inputs of the rebuild and
 * host-evacuation machines, and (3) planted in the records the flows read (an instance name, a volume
 * device, a port MAC, a host's storage path: what a writer that bypassed the stores could leave). Each
 * payload, run by a shell, would create a marker file; afterwards, ON EACH HOST (as its user), no marker
 * exists. A control runs one payload through a host's shell unquoted and sees its marker, so the check can
 * fail. Legitimate flows still run on the same hosts around the attempts (rebuild and evacuation succeed).
 * Hosts: a, b share pool p1; a is killed and forced down for the evacuation attempts. The instances are
 * domains defined with virsh on their hosts and adopted, as a fleet has them.
 */
import { randomUUID } from "node:crypto";
import { chmodSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type SFNClient, StartExecutionCommand } from "@aws-sdk/client-sfn";
import { GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalCloud, startLocalCloud } from "#local/cloud.js";
import type { Instance } from "#shared/domain/schemas.js";
import { createDocumentClient, createDynamoClient } from "#shared/store/client.js";
import { tableNamesFromEnv } from "#shared/store/tables.js";
import { runFlow, sfnClient, waitFlow } from "../support/flows.js";
import { bootAdopted, expectInvariants, killAndForceDown, poolHosts, sweepUntil } from "../support/hosts.js";

let cloud: LocalCloud;
let sfn: SFNClient;
let markerDir: string;
const booted: Record<string, Instance> = {};
let payloadCount = 0;

/** Injection strings, each creating its own marker file in markerDir if any shell ever runs it. */
function payloads(): string[] {
  const m = () => join(markerDir, `pwn-${++payloadCount}`);
  return [
    `$(touch ${m()})`,
    `\`touch ${m()}\``,
    `x; touch ${m()}`,
    `x && touch ${m()}`,
    `x | touch ${m()}`,
    `x\ntouch ${m()}`,
    `x' ; touch ${m()} ; '`,
    `x" ; touch ${m()} ; "`,
    `cirros-0.6;touch${"$"}{IFS}${m()}`,
    `--help;touch ${m()}`,
    `x</name><devices><emulator>/bin/sh -c 'touch ${m()}'</emulator></devices><name>`,
    `../../../..${m()}`,
  ];
}

async function markersOnHosts(): Promise<string[]> {
  const found: string[] = [];
  for (const [name, h] of cloud.fleet.hosts) {
    if (!h.running) continue;
    const r = await h.runAs("/bin/ls", ["-A", markerDir]);
    expect(r.exitCode, `${name} cannot list ${markerDir}: ${r.stderr}`).toBe(0);
    for (const f of r.stdout.split("\n").filter(Boolean)) found.push(`${name}: ${f}`);
    // A relative `touch` would land in the agent's or the script's working folder.
    const rel = await h.runAs("/usr/bin/find", [h.homeDir, h.hostDir, "-maxdepth", "3", "-name", "pwn-*"]);
    for (const f of rel.stdout.split("\n").filter(Boolean)) found.push(`${name}: ${f}`);
  }
  return found;
}

async function api(method: string, path: string, body?: unknown, version = "2.29") {
  const res = await fetch(`${cloud.api.url}${path}`, {
    method,
    headers: { "content-type": "application/json", "OpenStack-API-Version": `compute ${version}` },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, text: await res.text() };
}

beforeAll(async () => {
  markerDir = mkdtempSync(join(tmpdir(), "lz-inject-"));
  chmodSync(markerDir, 0o1777); // every host user could write its marker here
  cloud = await startLocalCloud({
    hosts: poolHosts("p1", "host-a", "host-b"),
    retryIntervalScale: 0.01,
    hostCommandDeadlineMs: 30_000,
  });
  sfn = sfnClient();
  Object.assign(
    booted,
    await bootAdopted(cloud, {
      onA: { name: "inj-a", host: "host-a", volumes: [{ name: "inj-vol", sizeGiB: 1, device: "vdb" }] },
      onB: { name: "inj-b", host: "host-b" },
    }),
  );
}, 600_000);

afterAll(async () => {
  await cloud?.stop();
  if (markerDir) rmSync(markerDir, { recursive: true, force: true });
});

describe("shell injection", () => {
  it("control: a payload run by a host's shell unquoted leaves its marker, and the check sees it", async () => {
    const [payload] = payloads();
    const h = cloud.fleet.hosts.get("host-b")!;
    await h.runAs("/bin/bash", ["-c", `echo ${payload}`]);
    expect(await markersOnHosts()).not.toEqual([]);
    for (const f of readdirSync(markerDir)) rmSync(join(markerDir, f), { force: true });
    expect(await markersOnHosts()).toEqual([]);
  });

  it("through the API: every injection string is refused (4xx) and nothing runs on a host", async () => {
    const inst = booted.onB!;
    const statuses: number[] = [];
    for (const p of payloads()) {
      statuses.push(
        (await api("POST", `/v2.1/servers/${inst.uuid}/action`, { rebuild: { imageRef: p } })).status,
      );
      statuses.push(
        (await api("POST", `/v2.1/servers/${inst.uuid}/action`, { evacuate: { host: p, force: true } }))
          .status,
      );
      statuses.push(
        (await api("PUT", "/v2.1/os-services/force-down", { host: p, forced_down: true }, "2.11")).status,
      );
      statuses.push((await api("POST", `/v2.1/os-hosts/${encodeURIComponent(p)}/evacuate`, {})).status);
      statuses.push((await api("GET", `/v2.1/servers/${encodeURIComponent(p)}`)).status);
    }
    for (const s of statuses) expect(s >= 400 && (s < 500 || s === 501), `HTTP ${s}`).toBe(true);
    expect(await markersOnHosts()).toEqual([]);
    // The instance was not touched.
    expect(await cloud.stores.instances.require(inst.uuid)).toMatchObject({
      taskState: null,
      vmState: "active",
    });
  });

  it("as execution inputs: the machines refuse them (InvalidInput) and nothing runs on a host", async () => {
    const inst = booted.onB!;
    const runs = [];
    for (const p of payloads()) {
      runs.push(
        runFlow(sfn, cloud.rebuildStateMachineArn, { instanceUuid: inst.uuid, recreate: false, imageRef: p }),
      );
      runs.push(
        runFlow(sfn, cloud.rebuildStateMachineArn, {
          instanceUuid: inst.uuid,
          recreate: true,
          targetHost: p,
        }),
      );
      runs.push(runFlow(sfn, cloud.rebuildStateMachineArn, { instanceUuid: p, recreate: true }));
      const name = randomUUID();
      const started = await sfn.send(
        new StartExecutionCommand({
          stateMachineArn: cloud.stateMachineArns["host-evacuation"]!,
          name,
          input: JSON.stringify({ host: p, reason: p }),
        }),
      );
      runs.push(waitFlow(sfn, { requestId: name, executionArn: started.executionArn! }));
    }
    for (const run of await Promise.all(runs)) {
      expect(run.status).toBe("FAILED");
      expect(run.error, run.cause).toBe("InvalidInput");
    }
    expect(await markersOnHosts()).toEqual([]);
  });

  it("planted in the records: the flows refuse the corrupt record (CorruptRecord), nothing runs, the sweeper ends what they held", async () => {
    const doc = createDocumentClient({ client: createDynamoClient({ endpoint: cloud.dynamo.endpoint }) });
    const tables = tableNamesFromEnv(cloud.env);
    const inst = booted.onB!;
    const original = (
      await doc.send(new GetCommand({ TableName: tables.instances, Key: { uuid: inst.uuid } }))
    ).Item!;
    const port = booted.onA!.ports[0]!;
    const vol = booted.onA!.volumes[0]!;
    const plant = [
      { what: "instance name", item: (p: string) => ({ ...original, name: p }) },
      { what: "image ref", item: (p: string) => ({ ...original, imageRef: p }) },
      {
        what: "volume device",
        item: (p: string) => ({ ...original, volumes: [{ ...vol, device: p }] }),
      },
    ];
    for (const p of payloads().slice(0, 4)) {
      for (const { what, item } of plant) {
        await doc.send(new PutCommand({ TableName: tables.instances, Item: item(p) }));
        const run = await runFlow(sfn, cloud.rebuildStateMachineArn, {
          instanceUuid: inst.uuid,
          recreate: false,
        });
        expect(run.status, what).toBe("FAILED");
        expect(run.error, `${what}: ${run.cause}`).toBe("CorruptRecord");
      }
    }
    await doc.send(new PutCommand({ TableName: tables.instances, Item: original }));

    // A port MAC and a host's storage path, read by an evacuation of the instance on the dead host.
    await killAndForceDown(cloud, "host-a");
    const portItem = (await doc.send(new GetCommand({ TableName: tables.ports, Key: { id: port } }))).Item!;
    const hostItem = (await doc.send(new GetCommand({ TableName: tables.hosts, Key: { name: "host-b" } })))
      .Item!;
    const errors: string[] = [];
    /** Plant, run an evacuation, restore; a flow that could not end cleanly is ended by the sweeper. */
    const attempt = async (plantIt: () => Promise<void>, restore: () => Promise<void>) => {
      await plantIt();
      const run = await runFlow(sfn, cloud.rebuildStateMachineArn, {
        instanceUuid: booted.onA!.uuid,
        recreate: true,
      });
      await restore();
      expect(run.status).toBe("FAILED");
      errors.push(run.error ?? "");
      // HandleFailure reads the same corrupt record and may fail too: the task is then left to the
      // sweeper (ARCHITECTURE, "No task held"), which ends it once the record reads again.
      await sweepUntil(
        cloud,
        "no task held",
        async () => (await cloud.stores.instances.require(booted.onA!.uuid)).taskState === null,
      );
    };
    for (const p of payloads().slice(0, 3)) {
      await attempt(
        () =>
          doc.send(new PutCommand({ TableName: tables.ports, Item: { ...portItem, mac: p } })).then(() => {}),
        () => doc.send(new PutCommand({ TableName: tables.ports, Item: portItem })).then(() => {}),
      );
      const storage = hostItem.storage as Record<string, unknown>;
      await attempt(
        async () => {
          const now = (await doc.send(new GetCommand({ TableName: tables.hosts, Key: { name: "host-b" } })))
            .Item!;
          await doc.send(
            new PutCommand({
              TableName: tables.hosts,
              Item: { ...now, storage: { ...storage, instancesPath: p } },
            }),
          );
        },
        async () => {
          // The host record as the failed flow left it (its claims may have changed meanwhile), storage whole.
          const now = (await doc.send(new GetCommand({ TableName: tables.hosts, Key: { name: "host-b" } })))
            .Item!;
          await doc.send(new PutCommand({ TableName: tables.hosts, Item: { ...now, storage } }));
        },
      );
    }
    expect(
      errors.every((e) => e === "CorruptRecord" || e === "NoValidHost"),
      errors.join(", "),
    ).toBe(true);
    expect(errors).toContain("CorruptRecord");
    expect(await markersOnHosts()).toEqual([]);

    // With the records whole again, the same flows work on the same hosts.
    const evacuated = await runFlow(sfn, cloud.rebuildStateMachineArn, {
      instanceUuid: booted.onA!.uuid,
      recreate: true,
    });
    expect(evacuated.status, evacuated.cause).toBe("SUCCEEDED");
    const rebuilt = await runFlow(sfn, cloud.rebuildStateMachineArn, {
      instanceUuid: inst.uuid,
      recreate: false,
    });
    expect(rebuilt.status, rebuilt.cause).toBe("SUCCEEDED");
    expect(await markersOnHosts()).toEqual([]);
    await expectInvariants(cloud);
  });
});
