/**
 * Rounds 4-5 of the suite's seeded chaos run (rounds 1-3 are chaos.test.ts, running beside it; the same
 * fleet and overlays, test/support/chaos.ts):
 *  4. a mass failure (held: nothing moves);
 *  5. a host killed, its alarm perhaps sent again (as drawn): one evacuation.
 */
import { expect, it } from "vitest";
import { seededChaosRounds } from "../support/chaos.js";

it("seeded rounds 4-5 of issue-26 chaos (mass failure, a host killed): no violation, no lost instance, no double run", async () => {
  const { summary, report } = await seededChaosRounds(4, ["mass-failure", "host-kill"]);
  for (const kind of ["mass-failure", "host-kill"])
    expect(summary.faults[kind], `${kind}\n${report}`).toBeGreaterThanOrEqual(1);
  expect(summary.executions["host-evacuation"]?.SUCCEEDED ?? 0, report).toBeGreaterThanOrEqual(1);
}, 1_200_000);
