/**
 * The clients operators already have, as the host tests run them against a local cloud's API: Debian's
 * openstackclient (test/support/openstack-cli.ts), python3-novaclient through
 * test/hosts/clients/nova_driver.py, and the `lazarus` CLI, each a subprocess (asynchronous: the cloud
 * serves them from the test's process) killed at its timeout; and what a test reads after them (a flow
 * ended, a deleted server gone without a trace). Used by test/hosts/api-clients*.test.ts.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";
import { type LocalCloud, startLocalCloud } from "#local/cloud.js";
import type { HandDefinedDomain } from "#local/fleet-domains.js";
import { checkInvariants } from "#local/invariants.js";
import type { Instance } from "#shared/domain/schemas.js";
import { bootAdopted, domState, poolHosts } from "./hosts.js";
import { openstackAt, openstackOptions } from "./openstack-cli.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const DRIVER = fileURLToPath(new URL("../hosts/clients/nova_driver.py", import.meta.url));

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** web-2 on host-b, a member of the anti-affinity server group g-web (the group the clients read). */
export const WEB_2_IN_GROUP = {
  name: "web-2",
  host: "host-b",
  policy: { serverGroup: { id: "g-web", policy: "anti-affinity" } },
} as const satisfies HandDefinedDomain;

/**
 * The clients' cloud: host-a and host-b sharing pool p1, `domains` defined by hand on them and adopted
 * (returned under their keys). The cloud is stopped again if booting fails.
 */
export async function startClientsCloud<K extends string>(
  domains: Record<K, HandDefinedDomain>,
): Promise<{ cloud: LocalCloud; booted: Record<K, Instance> }> {
  const cloud = await startLocalCloud({
    hosts: poolHosts("p1", "host-a", "host-b"),
    retryIntervalScale: 0.01,
    hostCommandDeadlineMs: 30_000,
  });
  try {
    return { cloud, booted: await bootAdopted(cloud, domains) };
  } catch (err) {
    await cloud.stop();
    throw err;
  }
}

/** A command run from the repository's root, its exit code and output (never rejects). */
export function run(
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

/** The clients of one cloud (read when called: the cloud is started in a beforeAll). */
export function apiClients(cloudOf: () => LocalCloud) {
  /** python3-novaclient through the driver script; the JSON it prints. */
  async function nova(version: string, ...args: string[]): Promise<unknown> {
    const r = await run("/usr/bin/python3", [DRIVER, cloudOf().api.url, version, ...args]);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout);
  }

  /** openstackclient as it ran (exit code and output). */
  const openstackRun = (...args: string[]) =>
    run("/usr/bin/openstack", [...openstackOptions(cloudOf().api.url), ...args]);

  /** openstackclient, `-f json` output parsed (test/support/openstack-cli.ts). */
  const openstack = (...args: string[]) => openstackAt(cloudOf().api.url, ...args);

  const lazarus = (...args: string[]) =>
    run(`${ROOT}cli/bin/lazarus`, args, { LAZARUS_API_URL: cloudOf().api.url });

  /** Until the instance has no task (its flow ended), read the way the client reads it. */
  async function settled(uuid: string, timeoutMs = 180_000): Promise<Instance> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = await cloudOf().stores.instances.require(uuid);
      if (i.taskState === null) return i;
      if (Date.now() > deadline) throw new Error(`instance ${uuid} still in task ${i.taskState}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  /**
   * Nothing of a deleted server is left: no domain on any host, no folder, no claim; the invariants hold.
   * (Waits for the delete to end first: openstackclient's `delete --wait` returns at once for a server in
   * ERROR, against nova too, as it reads ERROR as the end of the wait.)
   */
  async function expectGone(uuid: string, until: "deleted" | "undone" = "deleted", invariants = true) {
    const cloud = cloudOf();
    const deadline = Date.now() + 120_000;
    for (;;) {
      const i = await cloud.stores.instances.get(uuid);
      if (!i || i.vmState === "deleted" || (until === "undone" && i.taskState === null)) break;
      if (Date.now() > deadline) throw new Error(`instance ${uuid} still ${i.vmState}/${i.taskState}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    for (const [name, h] of cloud.fleet.hosts) {
      if (!h.running) continue;
      expect(await domState(cloud, name, uuid), `domain on ${name}`).toBe("absent");
      expect(existsSync(join(h.storage.instancesPath, uuid)), `folder on ${name}`).toBe(false);
    }
    for (const h of await cloud.stores.hosts.list())
      expect(h.claims[uuid], `claim on ${h.name}`).toBeUndefined();
    // The checker reads the hosts, then the records: only meaningful while no other flow runs.
    if (invariants) expect(await checkInvariants(cloud.stores, cloud.fleet.hosts)).toEqual([]);
  }

  return { nova, openstack, openstackRun, lazarus, settled, expectGone };
}
