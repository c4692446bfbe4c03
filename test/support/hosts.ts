/**
 * What the host tests (test/hosts) read from a local cloud, written once: a domain's state on a host,
 * where a domain is defined or running, the executions of a machine and the states they entered, the
 * usage/claims check, the invariants, and a poll with a deadline.
 */
import { expect } from "vitest";
import type { HostFailureOptions, LocalCloud } from "#local/cloud.js";
import { bootByAdoption, type HandDefinedDomain } from "#local/fleet-domains.js";
import type { LocalHostSpec } from "#local/hosts/local-host.js";
import { checkInvariants } from "#local/invariants.js";
import type { Instance } from "#shared/domain/schemas.js";

/**
 * Boots a test's instances as a fleet has them (local/fleet-domains.ts: defined with virsh on their
 * hosts, then adopted) and returns them under the test's own keys.
 */
export async function bootAdopted<K extends string>(
  cloud: LocalCloud,
  domains: Record<K, HandDefinedDomain>,
): Promise<Record<K, Instance>> {
  const keys = Object.keys(domains) as K[];
  const instances = await bootByAdoption(
    cloud,
    keys.map((k) => domains[k]),
  );
  return Object.fromEntries(keys.map((k, i) => [k, instances[i]!])) as Record<K, Instance>;
}

/** Host specs sharing one storage pool (one instances folder they all see), in the order given. */
export function poolHosts(pool: string, ...names: string[]): LocalHostSpec[] {
  return names.map((name) => ({ name, sharedPoolId: pool }));
}

/** Host-failure detection fast enough for a test: 2 s alarm periods, 2 of them, 8 s grace. */
export const FAST_DETECTION = {
  alarmPeriodSeconds: 2,
  alarmEvaluationPeriods: 2,
  graceSeconds: 8,
} as const satisfies HostFailureOptions;

/** Power loss (the hosts' processes stopped by pid), then what an operator does once it is known: forced down. */
export async function killAndForceDown(cloud: LocalCloud, ...hosts: string[]): Promise<void> {
  for (const h of hosts) await cloud.killHost(h);
  for (const h of hosts) await cloud.setForcedDown(h, true);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `fn` until it gives a value other than undefined or false, and returns it; throws naming `what`
 * at the deadline.
 */
export async function until<T>(
  what: string,
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 120_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

/** `virsh domstate` of the domain on the host ("running", "shut off", ...), "absent" if not defined there. */
export async function domState(cloud: LocalCloud, host: string, uuid: string): Promise<string> {
  const r = await cloud.fleet.hosts.get(host)!.virsh(["domstate", uuid], { allowFail: true });
  return r.exitCode === 0 ? r.stdout.trim() : "absent";
}

/** The running hosts (of `hosts`, default all) where the domain is defined. */
export async function definedOn(
  cloud: LocalCloud,
  uuid: string,
  hosts?: readonly string[],
): Promise<string[]> {
  const where: string[] = [];
  for (const [name, h] of cloud.fleet.hosts) {
    if (!h.running || (hosts && !hosts.includes(name))) continue;
    if ((await domState(cloud, name, uuid)) !== "absent") where.push(name);
  }
  return where;
}

/** The running hosts where the domain runs. */
export async function runningOn(cloud: LocalCloud, uuid: string): Promise<string[]> {
  const where: string[] = [];
  for (const [name, h] of cloud.fleet.hosts) {
    if (h.running && (await domState(cloud, name, uuid)) === "running") where.push(name);
  }
  return where;
}

/** Every execution of a state machine (by its id in shared/definitions), described, with its input parsed. */
export function executions(cloud: LocalCloud, machine: string) {
  const arn = cloud.stateMachineArns[machine]!;
  return (
    cloud.stepFunctions.listExecutions({ stateMachineArn: arn, maxResults: 1000 }).executions ?? []
  ).map((e) => {
    const d = cloud.stepFunctions.describeExecution(e.executionArn!);
    return { ...d, inputObject: JSON.parse(d.input ?? "{}") as Record<string, unknown> };
  });
}

/** The names of the states an execution entered, in order. */
export function statesEntered(cloud: LocalCloud, executionArn: string): string[] {
  return (cloud.stepFunctions.getExecutionHistory({ executionArn, maxResults: 1000 }).events ?? [])
    .filter((e) => e.type?.endsWith("StateEntered"))
    .map((e) => e.stateEnteredEventDetails?.name ?? "");
}

/** Every host's usage is the sum of its claims. */
export async function expectUsageConsistent(cloud: LocalCloud): Promise<void> {
  for (const h of await cloud.stores.hosts.list()) {
    const sum = { vcpus: 0, memoryMiB: 0, diskGiB: 0 };
    for (const c of Object.values(h.claims)) {
      sum.vcpus += c.resources.vcpus;
      sum.memoryMiB += c.resources.memoryMiB;
      sum.diskGiB += c.resources.diskGiB;
    }
    expect(h.usage, `usage of ${h.name}`).toEqual(sum);
  }
}

/** The invariants of local/invariants.ts hold (with `quiet`: no task held either). */
export async function expectInvariants(cloud: LocalCloud, quiet = true): Promise<void> {
  expect(await checkInvariants(cloud.stores, cloud.fleet.hosts, { quiet })).toEqual([]);
}
