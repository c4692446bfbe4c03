/**
 * A short seeded chaos run in CI (the long one is `npm run chaos`): five rounds on three real libvirt hosts
 * (host-1 and host-2 in a shared pool fenced through their BMCs, host-3 on local disks with only a watchdog
 * device), each round with every overlay that fits it (virsh/qemu-img failing or hanging after their work,
 * DynamoDB throttling, 5xx and lost answers, step Lambdas crashing after their work, concurrent requests, the
 * BMC fence refused or hanging for a while, clock skew within the bound) on top of the issue-26 disruptions:
 *  1. a frozen libvirtd and the user space killed but for libvirt and qemu, beside a guest crash loop;
 *  2. operator evacuations during "fencing required" (refused until the operator's force-down);
 *  3. a dead watchdog feeder on a heartbeating host;
 *  4. a mass failure (held: nothing moves);
 *  5. a host killed with duplicate alarms.
 * After every round the system settles and local/invariants.ts must find nothing; the /proc sampler must never
 * see a VM uuid in two qemu processes.
 */
import { expect, it } from "vitest";
import { runChaos } from "#local/chaos/chaos.js";

const SEED = 20260521;

it("five seeded rounds of issue-26 chaos: no violation, no lost instance, no double run", async () => {
  const lines: string[] = [];
  const summary = await runChaos({
    seed: SEED,
    rounds: 5,
    hosts: 3,
    instances: 4,
    schedule: [
      ["frozen-libvirtd", "crash-loop"],
      "fencing-required",
      "dead-feeder",
      "mass-failure",
      "host-kill",
    ],
    allOverlays: true,
    settleTimeoutMs: 240_000,
    log: (l) => lines.push(l),
  });
  const report = `${lines.join("\n")}\n${summary.violationList.join("\n")}`;
  expect(summary.violationList, report).toEqual([]);
  expect(summary).toMatchObject({
    rounds: 5,
    violations: 0,
    lostInstances: 0,
    strandedInstances: 0,
    doubleRuns: 0,
  });
  // Every kind really happened.
  for (const kind of [
    "libvirtd-frozen",
    "user-space-cut",
    "qemu-kill",
    "fencing-required",
    "dead-feeder",
    "mass-failure",
    "host-kill",
    "victim-pool",
    "victim-watchdog",
  ])
    expect(summary.faults[kind], `${kind}\n${report}`).toBeGreaterThanOrEqual(1);
  expect((summary.faults["skew-ahead"] ?? 0) + (summary.faults["skew-behind"] ?? 0), report).toBeGreaterThan(
    0,
  );
  expect(
    Object.entries(summary.faults)
      .filter(([k]) => k.startsWith("dynamo-"))
      .reduce((a, [, n]) => a + n, 0),
    report,
  ).toBeGreaterThan(0);
  expect((summary.faults["ssm-fail"] ?? 0) + (summary.faults["ssm-hang-after"] ?? 0)).toBeGreaterThanOrEqual(
    3,
  );
  // The operator's evacuations were refused while there was no proof, and were taken after the force-down.
  expect(summary.operations["operator-evacuate-409"], report).toBeGreaterThanOrEqual(1);
  expect(summary.operations["operator-force-down-200"], report).toBe(1);
  expect(summary.executions["host-evacuation"]?.SUCCEEDED ?? 0, report).toBeGreaterThanOrEqual(1);
  expect(
    Object.values(summary.executions["instance-recovery"] ?? {}).reduce((a, b) => a + b, 0),
  ).toBeGreaterThan(0);
  expect(summary.sampler.samples, report).toBeGreaterThan(100);
}, 1_200_000);
