/**
 * The clients operators already have, unchanged, against the API of a local cloud on real libvirt hosts:
 * Debian's openstackclient (`--os-auth-type none --os-endpoint URL/v2.1`) reads the catalog and the fleet
 * (flavors, images, zones, server groups, a hypervisor, a host) and takes a server through its whole life
 * (create, reboot, rebuild by image name, console log, events, set --state error, delete: nothing left);
 * python3-novaclient (keystoneauth1's no-auth session) does the same lifecycle at 2.1, 2.29, 2.53, 2.95;
 * both force a dead host down, evacuate, rebuild and read the migrations and the action log; then the
 * `lazarus` CLI, run as a subprocess, evacuates an instance, rebuilds one by name, reads the result, and
 * shows the drift made by hand on a host. The instances are domains defined with
 * virsh on the hosts and adopted, as a fleet has them. Every client process is asynchronous (the cloud
 * serves them from this process) and killed at its timeout.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalCloud, startLocalCloud } from "#local/cloud.js";
import { defineByHand } from "#local/fleet-domains.js";
import { checkInvariants } from "#local/invariants.js";
import type { Instance } from "#shared/domain/schemas.js";
import { bootAdopted, domState as domStateIn, poolHosts } from "../support/hosts.js";
import { openstackAt, openstackOptions } from "../support/openstack-cli.js";

let cloud: LocalCloud;
const booted: Record<string, Instance> = {};
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const DRIVER = fileURLToPath(new URL("./clients/nova_driver.py", import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 240_000,
): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      {
        cwd: ROOT,
        timeout: timeoutMs,
        killSignal: "SIGKILL",
        env: { ...process.env, ...env },
        maxBuffer: 16 << 20,
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

/** python3-novaclient through the driver script; the JSON it prints. */
async function nova(version: string, ...args: string[]): Promise<unknown> {
  const r = await run("/usr/bin/python3", [DRIVER, cloud.api.url, version, ...args]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

/** openstackclient's global options for this cloud (set once it runs). */
let OPENSTACK: string[] = [];

/** openstackclient, `-f json` output parsed. */
const openstack = (...args: string[]) => openstackAt(cloud.api.url, ...args);

function lazarus(...args: string[]): Promise<Run> {
  return run(`${ROOT}cli/bin/lazarus`, args, { LAZARUS_API_URL: cloud.api.url });
}

const domState = (host: string, uuid: string) => domStateIn(cloud, host, uuid);

/** Until the instance has no task (its flow ended), read the way the client reads it. */
async function settled(uuid: string, timeoutMs = 180_000): Promise<Instance> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const i = await cloud.stores.instances.require(uuid);
    if (i.taskState === null) return i;
    if (Date.now() > deadline) throw new Error(`instance ${uuid} still in task ${i.taskState}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

beforeAll(async () => {
  cloud = await startLocalCloud({
    hosts: poolHosts("p1", "host-a", "host-b"),
    retryIntervalScale: 0.01,
    hostCommandDeadlineMs: 30_000,
  });
  OPENSTACK = openstackOptions(cloud.api.url);
  Object.assign(
    booted,
    await bootAdopted(cloud, {
      web1: { name: "web-1", host: "host-a" },
      cli1: { name: "cli-1", host: "host-a" },
      ev1: { name: "ev-1", host: "host-a" },
      web2: {
        name: "web-2",
        host: "host-b",
        policy: { serverGroup: { id: "g-web", policy: "anti-affinity" } },
      },
    }),
  );
}, 600_000);

afterAll(async () => {
  await cloud?.stop();
});

/**
 * Nothing of a deleted server is left: no domain on any host, no folder, no claim; the invariants hold.
 * (Waits for the delete to end first: openstackclient's `delete --wait` returns at once for a server in
 * ERROR, against nova too, as it reads ERROR as the end of the wait.)
 */
async function expectGone(uuid: string, until: "deleted" | "undone" = "deleted", invariants = true) {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const i = await cloud.stores.instances.get(uuid);
    if (!i || i.vmState === "deleted" || (until === "undone" && i.taskState === null)) break;
    if (Date.now() > deadline) throw new Error(`instance ${uuid} still ${i.vmState}/${i.taskState}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  for (const name of ["host-a", "host-b"]) {
    const h = cloud.fleet.hosts.get(name)!;
    if (!h.running) continue;
    expect(await domState(name, uuid), `domain on ${name}`).toBe("absent");
    expect(existsSync(join(h.storage.instancesPath, uuid)), `folder on ${name}`).toBe(false);
  }
  for (const h of await cloud.stores.hosts.list())
    expect(h.claims[uuid], `claim on ${h.name}`).toBeUndefined();
  // The checker reads the hosts, then the records: only meaningful while no other flow runs.
  if (invariants) expect(await checkInvariants(cloud.stores, cloud.fleet.hosts)).toEqual([]);
}

describe("openstackclient: the resources it reads and a server's whole life", () => {
  it("reads flavors, images, zones, server groups, a hypervisor and a host as nova answers them", async () => {
    const flavors = (await openstack("flavor", "list", "-f", "json")) as { Name: string; RAM: number }[];
    expect(flavors).toContainEqual(expect.objectContaining({ Name: "m1.nano", RAM: 64 }));
    const images = (await openstack("image", "list", "-f", "json")) as { Name: string; Status: string }[];
    expect(images.map((i) => i.Name)).toEqual(expect.arrayContaining(["cirros-0.6", "ubuntu-24.04"]));
    const zones = (await openstack("availability", "zone", "list", "-f", "json")) as Record<string, string>[];
    expect(zones).toContainEqual(
      expect.objectContaining({ "Zone Name": "nova", "Zone Status": "available" }),
    );
    const groups = (await openstack("server", "group", "list", "-f", "json")) as Record<string, unknown>[];
    expect(groups).toContainEqual(expect.objectContaining({ ID: "g-web", Name: "g-web" }));
    const hypervisor = (await openstack("hypervisor", "show", "host-a", "-f", "json")) as Record<
      string,
      unknown
    >;
    expect(hypervisor).toMatchObject({ hypervisor_hostname: "host-a", state: "up" });
    const host = (await openstack("host", "show", "host-a", "-f", "json")) as Record<string, unknown>[];
    expect(host.map((r) => r.Project)).toEqual(expect.arrayContaining(["(total)", "(used_now)"]));
  });

  it("creates a server by flavor and image name, reboots, rebuilds by image name, reads its console log and events, sets it to error, deletes it: nothing left", async () => {
    const created = (await openstack(
      ...["server", "create", "--flavor", "m1.nano", "--image", "cirros-0.6", "--nic", "auto", "--wait"],
      ...["os-1", "-f", "json"],
    )) as Record<string, string>;
    expect(created).toMatchObject({ name: "os-1", status: "ACTIVE" });
    const uuid = created.id!;
    const placed = await cloud.stores.instances.require(uuid);
    expect(placed).toMatchObject({ vmState: "active", flavorId: "m1.nano", imageRef: "cirros-0.6" });
    expect(await domState(placed.host, uuid)).toBe("running");

    await openstack("server", "reboot", "--hard", "--wait", "os-1");
    expect(await domState(placed.host, uuid)).toBe("running");
    await openstack("server", "rebuild", "--image", "ubuntu-24.04", "--wait", "os-1");
    expect(await settled(uuid)).toMatchObject({ vmState: "active", imageRef: "ubuntu-24.04" });
    // Every domain logs its serial console to a file; SeaBIOS writes there before anything boots.
    const log = await run("/usr/bin/openstack", [...OPENSTACK, "console", "log", "show", "os-1"]);
    expect(log.code, log.stderr).toBe(0);
    expect(log.stdout).toContain("SeaBIOS");

    await openstack("server", "set", "--state", "error", "os-1");
    expect((await openstack("server", "show", "os-1", "-f", "json")) as object).toMatchObject({
      status: "ERROR",
    });
    const events = (await openstack("server", "event", "list", "os-1", "-f", "json")) as { Action: string }[];
    expect(events.map((e) => e.Action)).toEqual(
      expect.arrayContaining(["create", "reboot", "rebuild", "resetState"]),
    );

    await openstack("server", "delete", "--wait", "os-1");
    await expectGone(uuid);
    const list = (await openstack("server", "list", "-f", "json")) as { Name: string }[];
    expect(list.map((s) => s.Name)).not.toContain("os-1");
  });

  it("a boot whose spawn fails and a delete whose undefine fails leave nothing behind (faults injected on the hosts)", async () => {
    const hosts = ["host-a", "host-b"].map((n) => cloud.fleet.hosts.get(n)!);
    for (const h of hosts)
      h.injectCommandFault("virsh", "start", "error: injected: the domain did not start");
    try {
      const r = await run("/usr/bin/openstack", [
        ...OPENSTACK,
        ...["server", "create", "--flavor", "m1.nano", "--image", "cirros-0.6", "--nic", "auto"],
        ...[
          "--block-device",
          "source_type=blank,destination_type=volume,volume_size=1,delete_on_termination=true",
        ],
        ...["--wait", "broken-1", "-f", "json"],
      ]);
      // --wait sees ERROR ("Error creating server"; openstackclient 6.0 still exits 0 then).
      expect(r.stdout + r.stderr).toContain("Error creating server");
    } finally {
      for (const h of hosts) h.clearFaults();
    }
    const [failed] = (await cloud.stores.instances.list()).filter((i) => i.name === "broken-1");
    await expectGone(failed!.uuid, "undone");
    expect(await cloud.stores.instances.require(failed!.uuid)).toMatchObject({
      vmState: "error",
      ports: [],
      volumes: [],
      fault: { error: "SpawnFailed" },
    });
    // The failed server is deleted like any other; a delete that fails keeps it whole, the next succeeds.
    await openstack("server", "delete", "--wait", "broken-1");
    await expectGone(failed!.uuid);

    const kept = (await openstack(
      ...["server", "create", "--flavor", "m1.nano", "--image", "cirros-0.6", "--nic", "auto", "--wait"],
      ...["keep-1", "-f", "json"],
    )) as Record<string, string>;
    const on = cloud.fleet.hosts.get((await cloud.stores.instances.require(kept.id!)).host)!;
    on.injectCommandFault("virsh", "undefine", "error: injected: undefine refused");
    try {
      await run("/usr/bin/openstack", [...OPENSTACK, "server", "delete", "--wait", "keep-1"]);
      const after = await settled(kept.id!);
      expect(after).toMatchObject({ vmState: "error", fault: { step: "destroyInstance" } });
      expect(after.ports).toHaveLength(1);
      expect(await checkInvariants(cloud.stores, cloud.fleet.hosts)).toEqual([]);
    } finally {
      on.clearFaults();
    }
    await openstack("server", "delete", "--wait", "keep-1");
    await expectGone(kept.id!);
  });
});

describe("novaclient: the same lifecycle at each microversion", () => {
  it("boots, shows, reboots, locks, reads the console, rebuilds, resets and deletes at 2.1, 2.29, 2.53 and 2.95", async () => {
    const lifecycle = async (version: string) => {
      const name = `nova-${version.replace(".", "-")}`;
      const booted = (await nova(version, "boot", name, "m1.nano", "cirros-0.6")) as Record<string, string>;
      expect(booted).toMatchObject({ name, status: "ACTIVE" });
      expect(await nova(version, "reboot", name, "SOFT")).toMatchObject({ status: "ACTIVE" });
      expect(await nova(version, "lock", name)).toMatchObject(version === "2.1" ? {} : { locked: true });
      expect(await nova(version, "unlock", name)).toMatchObject(version === "2.1" ? {} : { locked: false });
      expect(((await nova(version, "console", name)) as { output: string }).output).toContain("SeaBIOS");
      expect(await nova(version, "rebuild", name, "ubuntu-24.04")).toMatchObject({ status: "REBUILD" });
      expect(await settled(booted.id!)).toMatchObject({ imageRef: "ubuntu-24.04", vmState: "active" });
      expect(await nova(version, "reset-state", name, "error")).toMatchObject({ status: "ERROR" });
      await nova(version, "delete", name);
      await expectGone(booted.id!, "deleted", false);
    };
    // The four at once (each its own server): the same flows, a quarter of the wait.
    await Promise.all(["2.1", "2.29", "2.53", "2.95"].map(lifecycle));
    expect(await checkInvariants(cloud.stores, cloud.fleet.hosts)).toEqual([]);
  });
});

describe("openstackclient and novaclient, unchanged", () => {
  it("list and show servers (openstackclient and novaclient)", async () => {
    const list = (await openstack("server", "list", "-f", "json")) as {
      ID: string;
      Name: string;
      Status: string;
    }[];
    expect(list.map((s) => s.Name).sort()).toEqual(["cli-1", "ev-1", "web-1", "web-2"]);
    const shown = (await openstack("server", "show", "web-1", "-f", "json")) as Record<string, unknown>;
    expect(shown).toMatchObject({
      id: booted.web1!.uuid,
      status: "ACTIVE",
      "OS-EXT-SRV-ATTR:host": "host-a",
    });
    const viaNova = (await nova("2.92", "list")) as { name: string; host: string }[];
    expect(viaNova.find((s) => s.name === "web-2")).toMatchObject({ host: "host-b" });
  });

  it("a host loses power; novaclient forces its service down, openstackclient sees it down", async () => {
    await cloud.killHost("host-a");
    expect(await nova("2.53", "force-down", "host-a")).toEqual({ host: "host-a", forced_down: true });
    expect((await cloud.stores.hosts.require("host-a")).forcedDown).toBe(true);
    const services = (await openstack("compute", "service", "list", "-f", "json")) as Record<
      string,
      string
    >[];
    expect(services.find((s) => s.Host === "host-a")).toMatchObject({ State: "down" });
    // openstackclient's own force-down (through openstacksdk) reaches the same route.
    await openstack("compute", "service", "set", "--down", "host-a", "nova-compute");
  });

  it("novaclient evacuates (2.92): the instance runs again on the other host", async () => {
    const res = (await nova("2.92", "evacuate", "web-1")) as { status: number; migration: string };
    expect(res.status).toBe(200);
    const after = await settled(booted.web1!.uuid);
    expect(after).toMatchObject({ host: "host-b", vmState: "active" });
    expect(await domState("host-b", after.uuid)).toBe("running");
    expect((await nova("2.92", "show", "web-1")) as object).toMatchObject({
      status: "ACTIVE",
      host: "host-b",
    });
    const migrations = (await nova("2.92", "migrations", "web-1")) as { id: string; status: string }[];
    expect(migrations).toEqual([
      { id: res.migration, status: "done", type: "evacuation", source: "host-a", dest: "host-b" },
    ]);
  });

  it("openstackclient reads the migration list and the server's action log", async () => {
    const migrations = (await openstack(
      "server",
      "migration",
      "list",
      "--server",
      "web-1",
      "-f",
      "json",
    )) as Record<string, unknown>[];
    expect(migrations).toEqual([
      expect.objectContaining({ Status: "done", Type: "evacuation", "Source Compute": "host-a" }),
    ]);
    const id = String(migrations[0]!.UUID ?? migrations[0]!.Id);
    const shown = (await openstack("server", "migration", "show", "web-1", id, "-f", "json")) as Record<
      string,
      unknown
    >;
    expect(shown).toMatchObject({ Status: "done", "Source Compute": "host-a", "Dest Compute": "host-b" });
    const events = (await openstack("server", "event", "list", "web-1", "-f", "json")) as Record<
      string,
      unknown
    >[];
    expect(events).toEqual([expect.objectContaining({ Action: "evacuate" })]);
  });

  it("openstackclient evacuates (onto the scheduler's choice)", async () => {
    // openstackclient 6.0 sends the evacuation, then reads `.id` of what novaclient returns for it (a
    // tuple): it exits 1 after the request, against nova as here. The evacuation itself is done.
    const r = await run("/usr/bin/openstack", [...OPENSTACK, "server", "evacuate", "ev-1"]);
    expect(r.stderr).toContain("'TupleWithMeta' object has no attribute");
    const after = await settled(booted.ev1!.uuid);
    expect(after).toMatchObject({ host: "host-b", vmState: "active" });
    expect(await domState("host-b", after.uuid)).toBe("running");
  });
});

describe("the lazarus CLI as a subprocess", () => {
  it("evacuates an instance with live steps, exits 0, and the result reads STOPPED on the other host (2.95)", async () => {
    const uuid = booted.cli1!.uuid;
    const r = await lazarus("evacuate", uuid);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toContain("▶ Accept");
    expect(r.stdout).toMatch(/✓ Spawn \(\d+\.\ds\)/);
    expect(r.stdout).toMatch(/execution \S+ SUCCEEDED/);

    const show = await lazarus("show", uuid, "--json");
    expect(show.code).toBe(0);
    const server = (JSON.parse(show.stdout) as { server: Record<string, unknown> }).server;
    expect(server).toMatchObject({
      status: "SHUTOFF",
      "OS-EXT-SRV-ATTR:host": "host-b",
      "OS-EXT-STS:task_state": null,
    });
    expect(await domState("host-b", uuid)).toBe("shut off");

    const table = await lazarus("migrations", "--instance", uuid);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^ID\s+INSTANCE\s+TYPE\s+FROM\s+TO\s+STATUS/);
    expect(table.stdout).toMatch(new RegExp(`${uuid}\\s+evacuation\\s+host-a\\s+host-b\\s+done`));

    const hosts = await lazarus("hosts");
    expect(hosts.stdout).toMatch(/host-a\s+down\s+enabled\s+true/);
  });

  it("rebuilds an instance named by its name; an ambiguous or unknown name is an error naming the candidates", async () => {
    const r = await lazarus("rebuild", "web-2");
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toMatch(/execution \S+ SUCCEEDED/);
    const unknown = await lazarus("rebuild", "no-such-server");
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no server with the name or id "no-such-server"');
  });

  it("a refused evacuation exits 1 with nova's message and changes nothing", async () => {
    const before = await cloud.stores.instances.require(booted.web2!.uuid);
    const r = await lazarus("evacuate", booted.web2!.uuid);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("400: Compute service of host-b is still in use.");
    expect(await cloud.stores.instances.require(booted.web2!.uuid)).toEqual(before);
  });

  it("drift: a domain stopped by hand and one defined by hand are shown per host; report only unless --apply", async () => {
    const web2 = booted.web2!.uuid;
    const hostB = cloud.fleet.hosts.get("host-b")!;
    await hostB.virsh(["destroy", web2]);
    const stray = await defineByHand(cloud, { name: "stray-1", host: "host-b" });
    const before = await cloud.stores.instances.require(web2);

    const one = await lazarus("drift", "host-b");
    expect(one.code, one.stderr + one.stdout).toBe(3);
    expect(one.stdout).toMatch(/^host-b {2}DRIFT: 2 differences$/m);
    expect(one.stdout).toContain(
      `power    web-2 ${web2}: table says running, libvirt says shutdown (--apply records it)`,
    );
    expect(one.stdout).toContain(`unknown  domain ${stray.uuid} (running): defined on the host`);
    expect(one.stdout).toContain("1 of 1 host(s) checked, 1 with drift (report only: nothing written)");
    expect(await cloud.stores.instances.require(web2)).toEqual(before);

    const all = await lazarus("drift", "--json");
    expect(all.code, all.stderr).toBe(3);
    const report = JSON.parse(all.stdout) as {
      drift: boolean;
      applied: boolean;
      hosts: {
        host: string;
        status: string;
        reason?: string;
        powerDrift: unknown[];
        unknownDomains: unknown[];
      }[];
    };
    expect(report).toMatchObject({ drift: true, applied: false });
    expect(report.hosts.map((h) => [h.host, h.status])).toEqual([
      ["host-a", "skipped"],
      ["host-b", "synced"],
    ]);
    expect(report.hosts[1]).toMatchObject({
      powerDrift: [{ instanceUuid: web2, recorded: "running", actual: "shutdown", recordedNow: false }],
      unknownDomains: [{ uuid: stray.uuid, powerState: "running", recordedHost: null }],
    });
    const plain = await lazarus("drift");
    expect(plain.stdout).toMatch(/^host-a {2}NOT CHECKED: skipped \(forced down\)$/m);

    const applied = await lazarus("drift", "host-b", "--apply");
    expect(applied.code).toBe(3);
    expect(applied.stdout).toContain(
      `power    web-2 ${web2}: table says running, libvirt says shutdown (recorded)`,
    );
    expect((await cloud.stores.instances.require(web2)).powerState).toBe("shutdown");
    // The unknown domain is the operator's to adopt or remove: drift never touches it.
    expect(await domState("host-b", stray.uuid)).toBe("running");

    await hostB.virsh(["destroy", stray.uuid]);
    await hostB.virsh(["undefine", stray.uuid]);
    const clean = await lazarus("drift", "host-b");
    expect(clean.code, clean.stdout).toBe(0);
    expect(clean.stdout).toMatch(/^host-b {2}in sync$/m);
  });
});
