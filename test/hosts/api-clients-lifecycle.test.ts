/**
 * The clients operators already have, unchanged, against the API of a local cloud on real libvirt hosts
 * (test/support/api-clients.ts runs them): Debian's openstackclient reads the catalog and the fleet
 * (flavors, images, zones, server groups, a hypervisor, a host) and takes a server through its whole life
 * (create, reboot, rebuild by image name, console log, events, set --state error, delete: nothing left),
 * also when the hosts refuse (a spawn and an undefine that fail); python3-novaclient does the same
 * lifecycle at 2.1, 2.29, 2.53, 2.95. What the clients do to the instances a fleet already has (force-down,
 * evacuate, the lazarus CLI, drift) is test/hosts/api-clients.test.ts, on a cloud of its own: the two run
 * side by side.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LocalCloud } from "#local/cloud.js";
import { checkInvariants } from "#local/invariants.js";
import { apiClients, startClientsCloud, WEB_2_IN_GROUP } from "../support/api-clients.js";
import { domState as domStateIn } from "../support/hosts.js";

let cloud: LocalCloud;
const { nova, openstack, openstackRun, settled, expectGone } = apiClients(() => cloud);
const domState = (host: string, uuid: string) => domStateIn(cloud, host, uuid);

beforeAll(async () => {
  ({ cloud } = await startClientsCloud({ web2: WEB_2_IN_GROUP }));
}, 600_000);

afterAll(async () => {
  await cloud?.stop();
});

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
    const log = await openstackRun("console", "log", "show", "os-1");
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
      const r = await openstackRun(
        ...["server", "create", "--flavor", "m1.nano", "--image", "cirros-0.6", "--nic", "auto"],
        ...[
          "--block-device",
          "source_type=blank,destination_type=volume,volume_size=1,delete_on_termination=true",
        ],
        ...["--wait", "broken-1", "-f", "json"],
      );
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
      await openstackRun("server", "delete", "--wait", "keep-1");
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
