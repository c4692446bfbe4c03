/**
 * The suite's seeded chaos run, in two files that run at once (test/hosts/chaos*.test.ts): each round's
 * draws depend on the seed and the round's number only, so rounds 1-3 and rounds 4-5, each on a fresh cloud,
 * are the same rounds as one five-round run (`npm run chaos -- --seed 20260521 --from-round 4 --rounds 2`
 * replays the second file's). What both check: nothing violated, every overlay laid.
 */
import { expect } from "vitest";
import { type Disruption, runChaos } from "#local/chaos/chaos.js";

export const CHAOS_SEED = 20260521;

export async function seededChaosRounds(
  fromRound: number,
  schedule: readonly (Disruption | readonly Disruption[])[],
) {
  const lines: string[] = [];
  const summary = await runChaos({
    seed: CHAOS_SEED,
    fromRound,
    rounds: schedule.length,
    hosts: 3,
    instances: 4,
    schedule,
    allOverlays: true,
    settleTimeoutMs: 240_000,
    log: (l) => lines.push(l),
  });
  const report = `${lines.join("\n")}\n${summary.violationList.join("\n")}`;
  expect(summary.violationList, report).toEqual([]);
  expect(summary).toMatchObject({
    rounds: schedule.length,
    fromRound,
    violations: 0,
    lostInstances: 0,
    strandedInstances: 0,
    doubleRuns: 0,
  });
  // Every overlay of every round was laid: clock skew, DynamoDB faults, host commands failing or hanging.
  expect((summary.faults["skew-ahead"] ?? 0) + (summary.faults["skew-behind"] ?? 0), report).toBeGreaterThan(
    0,
  );
  expect(
    Object.entries(summary.faults)
      .filter(([k]) => k.startsWith("dynamo-"))
      .reduce((a, [, n]) => a + n, 0),
    report,
  ).toBeGreaterThan(0);
  expect(
    (summary.faults["ssm-fail"] ?? 0) + (summary.faults["ssm-hang-after"] ?? 0),
    report,
  ).toBeGreaterThanOrEqual(1);
  expect(summary.sampler.samples, report).toBeGreaterThan(20);
  return { summary, report };
}
