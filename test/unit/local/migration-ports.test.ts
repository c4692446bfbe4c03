/**
 * The local hosts' incoming-migration ports (local/hosts/fleet.ts): every host of a run gets a range of its
 * own (they all listen on 127.0.0.1), below Linux's ephemeral ports, the same for the same run and host.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { migrationPortsOf } from "#local/hosts/fleet.js";

describe("migrationPortsOf", () => {
  it("gives the hosts of one run disjoint ranges below the ephemeral ports", () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9a-f]{6}$/), (runId) => {
        const ranges = Array.from({ length: 32 }, (_, i) => migrationPortsOf(runId, i));
        for (const [i, r] of ranges.entries()) {
          expect(r.max - r.min).toBe(15);
          expect(r.min).toBeGreaterThanOrEqual(20_000);
          expect(r.max).toBeLessThan(32_768);
          for (const other of ranges.slice(i + 1)) expect(r.max < other.min || other.max < r.min).toBe(true);
        }
        expect(migrationPortsOf(runId, 3)).toEqual(ranges[3]);
      }),
    );
    expect(() => migrationPortsOf("abcdef", 32)).toThrow(/at most 32 hosts/);
  });
});
