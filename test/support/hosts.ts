/**
 * What the host tests (test/hosts) set up and read from a local cloud, written once: the hosts, the
 * host-failure options and the agent-only failure fleet they start a cloud with, a domain's state on a
 * host, where a domain is defined or running, the executions of a machine (and the one started for a
 * host) and the states they entered, the compute API as a client calls it, the usage/claims check, the
 * invariants, and a poll with a deadline.
 */

import type { SFNClient } from "@aws-sdk/client-sfn";
import { expect } from "vitest";
import { SWEEP_MIN_AGE_SECONDS } from "#functions/sweeper/sweep.js";
import type { BmcFault } from "#local/bmc/ipmi-bmcs.js";
import {
  type HostFailureOptions,
  type LocalCloud,
  type LocalFencingChoice,
  startLocalCloud,
} from "#local/cloud.js";
import type { Ec2Fault } from "#local/ec2/ec2-endpoint.js";
import { bootByAdoption, type HandDefinedDomain } from "#local/fleet-domains.js";
import type { LocalHost, LocalHostSpec } from "#local/hosts/local-host.js";
import { checkInvariants } from "#local/invariants.js";
import type { Instance } from "#shared/domain/schemas.js";
import { sfnClient } from "./flows.js";

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

/**
 * Host-failure detection as fast as AWS allows: 10 s alarm periods (CloudWatch's shortest), one silent period
 * (ALARM 10-20 s after the last heartbeat), 8 s grace.
 */
export const FAST_DETECTION = {
  alarmPeriodSeconds: 10,
  alarmEvaluationPeriods: 1,
  graceSeconds: 8,
} as const satisfies HostFailureOptions;

/** FAST_DETECTION with a 10 s liveness probe: the probe of a host whose agent is gone waits that long. */
export const FAST_PROBE = {
  ...FAST_DETECTION,
  probeDeadlineMs: 10_000,
} as const satisfies HostFailureOptions;

/**
 * FAST_PROBE with proof of death looked for fast: a power fence unanswered for 8 s has timed out, a look
 * every 2 s, up to 40 looks before the evacuation gives up.
 */
export const FAST_FENCING = {
  ...FAST_PROBE,
  fenceTimeoutSeconds: 8,
  fenceRetrySeconds: 2,
  maxProofRounds: 40,
} as const satisfies HostFailureOptions;

/**
 * The `ec2` power fence refuses: the local EC2 endpoint fails every stop until `cloud.ec2.setFault(null)`
 * (for hosts fenced through EC2: `fencing: EC2_FENCING`).
 */
export const POWER_FENCE_REFUSES = {
  mode: "fail",
  message: "injected: the power controller refused",
} as const satisfies Ec2Fault;

/** A BMC that refuses every chassis control (`cloud.bmcs.setFault(host, BMC_REFUSES)`; null undoes it). */
export const BMC_REFUSES = { mode: "fail" } as const satisfies BmcFault;

/** Hosts fenced as EC2 bare-metal hosts are (the local EC2 endpoint), instead of the default IPMI BMCs. */
export const EC2_FENCING = {
  power: "local",
  watchdog: false,
  diskLocks: true,
} as const satisfies LocalFencingChoice;

/** The chassis power-offs host `host`'s BMC received (from the delegates' fence agents). */
export function bmcPowerOffs(cloud: LocalCloud, host: string) {
  return cloud.bmcs.controls.filter((c) => c.host === host && c.power === "off");
}

/**
 * How long a host-failure test waits for a flow to get somewhere (detection, grace, probe, rounds of
 * proof), with room for late heartbeats on shared cores.
 */
export const HOST_FAILURE_WAIT_MS = 180_000;

/**
 * The fleet of the agent-only failure tests (the agent and heartbeat of host-1 stop, its guest runs on):
 * host-1, host-2 and host-3 with local disks, FAST_FENCING (`hostFailure` adds to it), and web-1 defined
 * on host-1 and adopted. The cloud is stopped again if booting fails.
 */
export async function startAgentFailureFleet(
  hostFailure: HostFailureOptions = {},
): Promise<{ cloud: LocalCloud; sfn: SFNClient; web: Instance }> {
  const cloud = await startLocalCloud({
    hosts: ["host-1", "host-2", "host-3"].map((name) => ({ name })),
    retryIntervalScale: 0.05,
    hostCommandDeadlineMs: 30_000,
    hostFailure: { ...FAST_FENCING, ...hostFailure },
  });
  try {
    const { web } = await bootAdopted(cloud, { web: { name: "web-1", host: "host-1", nics: 1 } });
    return { cloud, sfn: sfnClient(), web };
  } catch (err) {
    await cloud.stop();
    throw err;
  }
}

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

/**
 * Runs the sweeper, as its schedule does (every minute in AWS), until `done` holds after a run; returns
 * that run's report. The sweeper looks only at tasks held longer than SWEEP_MIN_AGE_SECONDS, so a task a
 * test just left is ended by a run some 30 s later, never at once.
 */
export async function sweepUntil<R = Record<string, unknown>>(
  cloud: LocalCloud,
  what: string,
  done: (report: R) => boolean | Promise<boolean>,
): Promise<R> {
  return until(
    what,
    async () => {
      const report = (await cloud.runScheduled("sweeper")) as R;
      return (await done(report)) ? report : undefined;
    },
    (SWEEP_MIN_AGE_SECONDS + 90) * 1000,
  );
}

/** `virsh domstate` of the domain on the host ("running", "shut off", ...), "absent" if not defined there. */
export async function domState(cloud: LocalCloud, host: string, uuid: string): Promise<string> {
  const r = await cloud.fleet.hosts.get(host)!.virsh(["domstate", uuid], { allowFail: true });
  return r.exitCode === 0 ? r.stdout.trim() : "absent";
}

/** The domain's state on each running host where it is defined. */
export async function domStates(cloud: LocalCloud, uuid: string): Promise<Record<string, string>> {
  const states: Record<string, string> = {};
  for (const name of runningHosts(cloud).map((h) => h.name)) {
    const state = await domState(cloud, name, uuid);
    if (state !== "absent") states[name] = state;
  }
  return states;
}

/** The hosts whose processes run (not killed, not powered off by a fence). */
export function runningHosts(cloud: LocalCloud): LocalHost[] {
  return [...cloud.fleet.hosts.values()].filter((h) => h.running);
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

/**
 * The execution of `machine` started for `host` (the first whose input names it), once there is one, as
 * waitFlow takes it (its name is the request id); throws at the deadline.
 */
export async function executionFor(
  cloud: LocalCloud,
  machine: string,
  host: string,
  timeoutMs = HOST_FAILURE_WAIT_MS,
): Promise<{ requestId: string; executionArn: string }> {
  const e = await until(
    `the ${machine} of ${host}`,
    () => executions(cloud, machine).find((e) => e.inputObject.host === host),
    timeoutMs,
  );
  return { requestId: e.name!, executionArn: e.executionArn! };
}

/** The names of the states an execution entered, in order. */
export function statesEntered(cloud: LocalCloud, executionArn: string): string[] {
  return (cloud.stepFunctions.getExecutionHistory({ executionArn, maxResults: 1000 }).events ?? [])
    .filter((e) => e.type?.endsWith("StateEntered"))
    .map((e) => e.stateEnteredEventDetails?.name ?? "");
}

/** GET on the compute API as an operator's client calls it (microversion 2.62); expects 200, returns the body. */
export async function apiGet(cloud: LocalCloud, path: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${cloud.api.url}/v2.1${path}`, {
    headers: { "openstack-api-version": "compute 2.62" },
  });
  expect(res.status, path).toBe(200);
  return (await res.json()) as Record<string, unknown>;
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
