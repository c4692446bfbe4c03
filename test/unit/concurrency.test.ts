/** `mapWithConcurrency` (shared/lambda/concurrency.ts): order, the bound, and a failure that leaves nothing running. */
import { describe, expect, it } from "vitest";
import { mapWithConcurrency } from "#shared/lambda/concurrency.js";

const tick = () => new Promise((r) => setTimeout(r, 1));

describe("mapWithConcurrency", () => {
  it("keeps the items' order and never has more than `width` calls in flight", async () => {
    let inFlight = 0;
    let most = 0;
    const out = await mapWithConcurrency([5, 1, 4, 2, 3, 0, 6], 3, async (n, i) => {
      inFlight++;
      most = Math.max(most, inFlight);
      for (let k = 0; k < n; k++) await tick();
      inFlight--;
      return `${i}:${n}`;
    });
    expect(out).toEqual(["0:5", "1:1", "2:4", "3:2", "4:3", "5:0", "6:6"]);
    expect(most).toBe(3);
    expect(await mapWithConcurrency([], 3, async () => 1)).toEqual([]);
  });

  it("raises the first failure only after the calls in flight ended, and starts no new one", async () => {
    const ended: number[] = [];
    const started: number[] = [];
    const run = mapWithConcurrency([0, 1, 2, 3, 4, 5], 2, async (n) => {
      started.push(n);
      if (n === 1) throw new Error("host 1 unreachable");
      for (let k = 0; k < 5; k++) await tick();
      ended.push(n);
      return n;
    });
    await expect(run).rejects.toThrow("host 1 unreachable");
    expect(started).toEqual([0, 1]);
    expect(ended).toEqual([0]);
  });

  it("refuses a width that is not a whole number of at least 1", async () => {
    await expect(mapWithConcurrency([1], 0, async () => 1)).rejects.toThrow(/whole number >= 1/);
    await expect(mapWithConcurrency([1], 1.5, async () => 1)).rejects.toThrow(/whole number >= 1/);
  });
});
