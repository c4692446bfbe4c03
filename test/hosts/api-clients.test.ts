/**
 * The clients operators already have, unchanged, against the API of a local cloud on real libvirt hosts,
 * on the instances a fleet has (domains defined with virsh on the hosts and adopted): openstackclient and
 * python3-novaclient list and show them, force a dead host down, evacuate (2.92 and openstackclient's own),
 * read the migrations and the action log; then the `lazarus` CLI, run as a subprocess, evacuates an
 * instance, rebuilds one by name, reads the result, and shows the drift made by hand on a host. Each
 * client is a subprocess (test/support/api-clients.ts). A server's whole life through the same clients is
 * test/hosts/api-clients-lifecycle.test.ts, on a cloud of its own: the two run side by side.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LocalCloud } from "#local/cloud.js";
import { defineByHand } from "#local/fleet-domains.js";
import type { Instance } from "#shared/domain/schemas.js";
import { apiClients, startClientsCloud, WEB_2_IN_GROUP } from "../support/api-clients.js";
import { domState as domStateIn } from "../support/hosts.js";

let cloud: LocalCloud;
let booted: Record<"web1" | "cli1" | "ev1" | "web2", Instance>;
const { nova, openstack, openstackRun, lazarus, settled } = apiClients(() => cloud);
const domState = (host: string, uuid: string) => domStateIn(cloud, host, uuid);

beforeAll(async () => {
  ({ cloud, booted } = await startClientsCloud({
    web1: { name: "web-1", host: "host-a" },
    cli1: { name: "cli-1", host: "host-a" },
    ev1: { name: "ev-1", host: "host-a" },
    web2: WEB_2_IN_GROUP,
  }));
}, 600_000);

afterAll(async () => {
  await cloud?.stop();
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
      id: booted.web1.uuid,
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
    const after = await settled(booted.web1.uuid);
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
    const r = await openstackRun("server", "evacuate", "ev-1");
    expect(r.stderr).toContain("'TupleWithMeta' object has no attribute");
    const after = await settled(booted.ev1.uuid);
    expect(after).toMatchObject({ host: "host-b", vmState: "active" });
    expect(await domState("host-b", after.uuid)).toBe("running");
  });
});

describe("the lazarus CLI as a subprocess", () => {
  it("evacuates an instance with live steps, exits 0, and the result reads STOPPED on the other host (2.95)", async () => {
    const uuid = booted.cli1.uuid;
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
    const before = await cloud.stores.instances.require(booted.web2.uuid);
    const r = await lazarus("evacuate", booted.web2.uuid);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("400: Compute service of host-b is still in use.");
    expect(await cloud.stores.instances.require(booted.web2.uuid)).toEqual(before);
  });

  it("drift: a domain stopped by hand and one defined by hand are shown per host; report only unless --apply", async () => {
    const web2 = booted.web2.uuid;
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
