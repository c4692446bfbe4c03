/**
 * A short seeded chaos run in CI (the long one is `npm run chaos`): four rounds on three real libvirt hosts,
 * each with every overlay (virsh/qemu-img failing or hanging after their work, DynamoDB throttling, 5xx and
 * lost answers through the fault proxy, step Lambdas crashing after their work, concurrent API and direct
 * requests on the same instances, the power fence refused or hanging for a while) on top of one disruption
 * each: a host killed with duplicate alarms, its SSM agent stopped while its guests run, concurrent
 * requests, a host cut off (agent and heartbeat stop, its lease not renewed) while its guests keep running. After every round the system settles and
 * local/invariants.ts must find nothing; the sampler must never see a guest running on two hosts.
 */
import { expect, it } from "vitest";
import { runChaos } from "#local/chaos/chaos.js";

const SEED = 20260521;

it("four seeded rounds of chaos: no violation, no lost instance, no double run", async () => {
  const lines: string[] = [];
  const summary = await runChaos({
    seed: SEED,
    rounds: 4,
    hosts: 3,
    instances: 3,
    schedule: ["host-kill", "agent-stop", "requests", "lease-lost"],
    allOverlays: true,
    settleTimeoutMs: 120_000,
    log: (l) => lines.push(l),
  });
  const report = `${lines.join("\n")}\n${summary.violationList.join("\n")}`;
  expect(summary.violationList, report).toEqual([]);
  expect(summary).toMatchObject({ rounds: 4, violations: 0, lostInstances: 0, doubleRuns: 0 });
  // The faults really happened.
  expect(summary.faults["host-kill"], report).toBeGreaterThanOrEqual(1);
  expect(summary.faults["agent-stop"], report).toBe(1);
  expect(summary.faults["lease-lost"], report).toBe(1);
  // A fence met the injected refusal or hang at least once (the host kill and the lost lease both fence).
  expect(
    (summary.faults["fence-fail"] ?? 0) + (summary.faults["fence-hang"] ?? 0),
    report,
  ).toBeGreaterThanOrEqual(1);
  const dynamo = Object.entries(summary.faults).filter(([k]) => k.startsWith("dynamo-"));
  expect(
    dynamo.reduce((a, [, n]) => a + n, 0),
    report,
  ).toBeGreaterThan(0);
  expect((summary.faults["ssm-fail"] ?? 0) + (summary.faults["ssm-hang-after"] ?? 0)).toBeGreaterThanOrEqual(
    3,
  );
  expect(summary.executions["host-evacuation"]?.SUCCEEDED ?? 0, report).toBeGreaterThanOrEqual(1);
  expect(Object.values(summary.executions.rebuild ?? {}).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
}, 480_000);
