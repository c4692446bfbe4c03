/**
 * The local hosts' incoming-migration ports (local/hosts/fleet.ts): every host of a run gets a range of its
 * own (they all listen on 127.0.0.1), below Linux's ephemeral ports, the same for the same run and host;
 * and their addresses on the run's peer network (each host's own loopback address, one port for all).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { migrationPortsOf, peerAddressOf } from "#local/hosts/fleet.js";

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

describe("peerAddressOf", () => {
  it("gives every host of a run its own loopback address, never 127.0.0.1, the same for the same run and host", () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9a-f]{6}$/), (runId) => {
        const addresses = Array.from({ length: 32 }, (_, i) => peerAddressOf(runId, i));
        expect(new Set(addresses).size).toBe(32);
        for (const a of addresses) {
          expect(a).toMatch(/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/);
          expect(a.split(".").every((o) => Number(o) <= 255)).toBe(true);
          expect(a.startsWith("127.0.")).toBe(false);
        }
        expect(peerAddressOf(runId, 5)).toBe(addresses[5]);
      }),
    );
    expect(peerAddressOf("0a0b0c", 0)).toBe("127.10.11.1");
    expect(() => peerAddressOf("abcdef", 254)).toThrow(/at most 254 hosts/);
  });
});
