/**
 * Issue 32, outcomes 1 and 2, on real hosts (host-a, host-b and host-c share pool p1), driven by Debian's
 * openstackclient, unchanged, against the Lazarus API:
 *  (1) live migration of a running guest: its qemu on the target starts before the source's ends, at no
 *      look do both run guest code (the source's state read before and after the target's), and the
 *      guest never restarted (a boot id and a tick count in its memory, read on both hosts);
 *  (2) cold migration of an ACTIVE instance (2 NICs, a volume) confirmed, and of a STOPPED one reverted
 *      (it stays stopped); failures made to happen on the hosts (a target that refuses to start the guest,
 *      a source whose `virsh migrate` fails, a Lambda that crashes after its commit) leave the guest on
 *      exactly one host, running (or stopped) as it was, with its claims right. Each step's failure paths
 *      are in test/unit/steps/migration-failure-paths.test.ts.
 * `server migration list/show` and `server event list` show the moves. Invariants hold after each.
 */
import type { SFNClient } from "@aws-sdk/client-sfn";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalCloud, startLocalCloud } from "#local/cloud.js";
import type { Instance, Migration } from "#shared/domain/schemas.js";
import { sfnClient, waitFlow } from "../support/flows.js";
import {
  bootAdopted,
  definedOn,
  domState,
  executions,
  expectInvariants,
  poolHosts,
  runningOn,
  sleep,
  until,
} from "../support/hosts.js";
import { ranTwice, watchMigration } from "../support/migration-sampler.js";
import { openstackAt } from "../support/openstack-cli.js";
import { installTickerImage, readTicker } from "../support/ticker-guest.js";

let cloud: LocalCloud;
let sfn: SFNClient;
let booted: Record<"ticker" | "web" | "db" | "spare", Instance>;

beforeAll(async () => {
  cloud = await startLocalCloud({
    hosts: poolHosts("p1", "host-a", "host-b", "host-c"),
    retryIntervalScale: 0.05,
    hostCommandDeadlineMs: 30_000,
  });
  sfn = sfnClient();
  await installTickerImage(cloud.fleet.hosts.get("host-a")!, "ticker");
  booted = await bootAdopted(cloud, {
    ticker: { name: "ticker-1", host: "host-a", imageRef: "ticker" },
    web: { name: "web-1", host: "host-a", nics: 2, volumes: [{ name: "data", sizeGiB: 1, device: "vdb" }] },
    db: { name: "db-1", host: "host-a", stopped: true },
    spare: { name: "spare-1", host: "host-b" },
  });
}, 600_000);

afterAll(async () => {
  await cloud?.stop();
});

/** openstackclient at 2.92, `-f json` output parsed (null when it prints nothing). */
const openstack = (...args: string[]) => openstackAt(cloud.api.url, ...args);

/** The instance's newest migration, once its flow's execution has ended (with that execution's end). */
async function lastMove(uuid: string): Promise<{ migration: Migration; status: string; error?: string }> {
  const migration = (await cloud.stores.migrations.listByInstance(uuid)).at(-1)!;
  const execution = executions(cloud, "migrate").find((e) => e.name === migration.id)!;
  const run = await waitFlow(
    sfn,
    { requestId: migration.id, executionArn: execution.executionArn! },
    300_000,
  );
  return {
    migration: await cloud.stores.migrations.require(migration.id),
    status: run.status,
    ...(run.error ? { error: run.error } : {}),
  };
}

async function claimHosts(uuid: string): Promise<string[]> {
  return (await cloud.stores.hosts.list()).filter((h) => h.claims[uuid]).map((h) => h.name);
}

describe("live migration of a running guest on shared storage", () => {
  it("moves it to host-b without a restart and without two running copies at any look", async () => {
    const { uuid } = booted.ticker;
    const a = cloud.fleet.hosts.get("host-a")!;
    const b = cloud.fleet.hosts.get("host-b")!;
    const before = await until("the ticker guest counting", async () => {
      const t = await readTicker(a, uuid);
      return t && t.ticks > 20 ? t : undefined;
    });
    const watch = watchMigration(cloud, uuid, "host-a", "host-b");
    await sleep(500);
    await openstack("server", "migrate", "--live-migration", "--host", "host-b", "ticker-1");
    const move = await lastMove(uuid);
    await sleep(500);
    const looks = await watch.stop();
    expect(move).toMatchObject({
      status: "SUCCEEDED",
      migration: { type: "live-migration", status: "completed" },
    });

    expect(ranTwice(looks)).toEqual([]);
    const sourcePid = looks
      .find((l) => l.qemu.some((q) => q.host === "host-a"))
      ?.qemu.find((q) => q.host === "host-a")?.pid;
    const targetPid = looks.flatMap((l) => l.qemu).find((q) => q.host === "host-b")?.pid;
    expect(sourcePid, "the source's qemu was seen").toBeDefined();
    expect(targetPid, "the target's qemu was seen").toBeDefined();
    // The target's qemu was there while the source's still was (it started before the source's ended).
    expect(
      looks.some((l) => l.qemu.some((q) => q.pid === sourcePid) && l.qemu.some((q) => q.pid === targetPid)),
    ).toBe(true);
    expect(looks.at(-1)!.qemu).toEqual([{ pid: targetPid, host: "host-b" }]);
    // The guest's memory came with it: the same boot, its count went on.
    const after = await readTicker(b, uuid);
    expect(after?.bootId).toBe(before.bootId);
    expect(after!.ticks).toBeGreaterThan(before.ticks);

    const now = await cloud.stores.instances.require(uuid);
    expect(now).toMatchObject({ host: "host-b", vmState: "active", powerState: "running", taskState: null });
    expect(await definedOn(cloud, uuid)).toEqual(["host-b"]);
    expect(await claimHosts(uuid)).toEqual(["host-b"]);

    const listed = (await openstack(
      "server",
      "migration",
      "list",
      "--server",
      "ticker-1",
      "-f",
      "json",
    )) as Record<string, unknown>[];
    expect(listed).toEqual([
      expect.objectContaining({
        "Source Node": "host-a",
        "Dest Compute": "host-b",
        Status: "completed",
        Type: "live-migration",
      }),
    ]);
    const shown = (await openstack(
      "server",
      "migration",
      "show",
      "ticker-1",
      move.migration.id,
      "-f",
      "json",
    )) as Record<string, unknown>;
    expect(shown).toMatchObject({ "Server UUID": uuid, Status: "completed", "Dest Compute": "host-b" });
    const events = (await openstack("server", "event", "list", "ticker-1", "-f", "json")) as Record<
      string,
      unknown
    >[];
    expect(events.map((e) => e.Action)).toContain("live-migration");
    await expectInvariants(cloud);
  });
});

describe("cold migration", () => {
  it("moves an ACTIVE instance with its ports and volume to VERIFY_RESIZE on host-c; confirm keeps it there", async () => {
    const { uuid } = booted.web;
    await openstack("server", "migrate", "--host", "host-c", "web-1");
    const move = await lastMove(uuid);
    expect(move).toMatchObject({
      status: "SUCCEEDED",
      migration: { type: "migration", status: "finished", destHost: "host-c" },
    });
    const resized = await cloud.stores.instances.require(uuid);
    expect(resized).toMatchObject({
      host: "host-c",
      vmState: "resized",
      powerState: "running",
      taskState: null,
    });
    expect(await runningOn(cloud, uuid)).toEqual(["host-c"]);
    expect(await definedOn(cloud, uuid)).toEqual(["host-c"]);
    // The source keeps its claim until the confirm (a revert would find its room there).
    expect(await claimHosts(uuid)).toEqual(["host-a", "host-c"]);
    const server = (await openstack("server", "show", "web-1", "-f", "json")) as Record<string, unknown>;
    expect(server.status).toBe("VERIFY_RESIZE");
    await expectInvariants(cloud);

    await openstack("server", "resize", "confirm", "web-1");
    const confirmed = await cloud.stores.instances.require(uuid);
    expect(confirmed).toMatchObject({ host: "host-c", vmState: "active", taskState: null });
    expect(await claimHosts(uuid)).toEqual(["host-c"]);
    expect((await cloud.stores.migrations.require(move.migration.id)).status).toBe("confirmed");
    for (const portId of confirmed.ports)
      expect((await cloud.stores.ports.require(portId)).bindingHost).toBe("host-c");
    const events = (await openstack("server", "event", "list", "web-1", "-f", "json")) as Record<
      string,
      unknown
    >[];
    expect(events.map((e) => e.Action)).toEqual(expect.arrayContaining(["migrate", "confirmResize"]));
    await expectInvariants(cloud);
  });

  it("moves a STOPPED instance (it stays stopped); revert brings it back to host-a, stopped", async () => {
    const { uuid } = booted.db;
    await openstack("server", "migrate", "--host", "host-b", "db-1");
    const move = await lastMove(uuid);
    expect(move).toMatchObject({ status: "SUCCEEDED", migration: { status: "finished" } });
    expect(await cloud.stores.instances.require(uuid)).toMatchObject({
      host: "host-b",
      vmState: "resized",
      powerState: "shutdown",
    });
    expect(await domState(cloud, "host-b", uuid)).toBe("shut off");
    expect(await definedOn(cloud, uuid)).toEqual(["host-b"]);

    await openstack("server", "resize", "revert", "db-1");
    await until(
      "the revert to end",
      async () =>
        (await cloud.stores.migrations.require(move.migration.id)).status === "reverted" || undefined,
      180_000,
    );
    const back = await until("db-1 free again", async () => {
      const i = await cloud.stores.instances.require(uuid);
      return i.taskState === null ? i : undefined;
    });
    expect(back).toMatchObject({ host: "host-a", vmState: "stopped", powerState: "shutdown" });
    expect(await definedOn(cloud, uuid)).toEqual(["host-a"]);
    expect(await domState(cloud, "host-a", uuid)).toBe("shut off");
    expect(await claimHosts(uuid)).toEqual(["host-a"]);
    const events = (await openstack("server", "event", "list", "db-1", "-f", "json")) as Record<
      string,
      unknown
    >[];
    expect(events.map((e) => e.Action)).toEqual(expect.arrayContaining(["migrate", "revertResize"]));
    await expectInvariants(cloud);
  });
});

describe("failures on the hosts leave the guest on exactly one host, as it was", () => {
  it("the target refuses to start the guest: back on its source, running, the target clean", async () => {
    const { uuid } = booted.spare;
    const c = cloud.fleet.hosts.get("host-c")!;
    c.injectCommandFault("virsh", "start", "injected: the target cannot start the guest");
    try {
      await openstack("server", "migrate", "--host", "host-c", "spare-1");
      const move = await lastMove(uuid);
      expect(move).toMatchObject({ status: "FAILED", error: "SpawnFailed", migration: { status: "error" } });
    } finally {
      c.clearFaults();
    }
    expect(await cloud.stores.instances.require(uuid)).toMatchObject({
      host: "host-b",
      vmState: "active",
      taskState: null,
    });
    expect(await runningOn(cloud, uuid)).toEqual(["host-b"]);
    expect(await definedOn(cloud, uuid)).toEqual(["host-b"]);
    expect(await claimHosts(uuid)).toEqual(["host-b"]);
    await expectInvariants(cloud);
  });

  it("the source's virsh migrate fails: the guest runs on at its source, nothing left on the target", async () => {
    const { uuid } = booted.ticker; // on host-b since the live migration
    const b = cloud.fleet.hosts.get("host-b")!;
    const before = await readTicker(b, uuid);
    b.injectCommandFault("virsh", "migrate", "injected: the migration connection dropped");
    try {
      await openstack("server", "migrate", "--live-migration", "--host", "host-c", "ticker-1");
      const move = await lastMove(uuid);
      expect(move).toMatchObject({
        status: "FAILED",
        error: "LiveMigrationFailed",
        migration: { status: "failed" },
      });
    } finally {
      b.clearFaults();
    }
    expect(await cloud.stores.instances.require(uuid)).toMatchObject({
      host: "host-b",
      vmState: "active",
      taskState: null,
    });
    expect(await definedOn(cloud, uuid)).toEqual(["host-b"]);
    expect((await readTicker(b, uuid))?.bootId).toBe(before?.bootId);
    expect(await claimHosts(uuid)).toEqual(["host-b"]);
    await expectInvariants(cloud);
  });

  it("the commit's Lambda crashes after its work: retried, the move stands once", async () => {
    const { uuid } = booted.ticker;
    let crashes = 0;
    cloud.lambda.setHooks({
      afterInvoke(name) {
        if (name !== "lazarus-migrate-commit" || crashes > 0) return;
        crashes++;
        const e = new Error("simulated crash after the commit");
        e.name = "Lambda.Unknown";
        throw e;
      },
    });
    try {
      await openstack("server", "migrate", "--live-migration", "--host", "host-a", "ticker-1");
      const move = await lastMove(uuid);
      expect(move).toMatchObject({ status: "SUCCEEDED", migration: { status: "completed" } });
    } finally {
      cloud.lambda.setHooks(undefined);
    }
    expect(crashes).toBe(1);
    expect(await cloud.stores.instances.require(uuid)).toMatchObject({ host: "host-a", vmState: "active" });
    expect(await definedOn(cloud, uuid)).toEqual(["host-a"]);
    expect(await claimHosts(uuid)).toEqual(["host-a"]);
    await expectInvariants(cloud);
  });
});
