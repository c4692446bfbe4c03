/**
 * The host-failure policy simulator: every folder under scenarios/ holds `events` (the scenario) and
 * `expected.log` (the decision log it must produce). Each is played with a fake clock against the policy
 * code the real flows call (see simulator.ts); no scenario may start an instance while a copy of it still
 * runs elsewhere. `UPDATE_SIM_LOGS=1` rewrites the expected logs (review the diff before committing).
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseScenario, simulate } from "./simulator.js";

const DIR = new URL("./scenarios/", import.meta.url);
const names = readdirSync(DIR)
  .filter((n) => existsSync(new URL(`${n}/events`, DIR)))
  .sort();

describe("host-failure policy simulator", () => {
  it("has at least 24 scenarios", () => {
    expect(names.length).toBeGreaterThanOrEqual(24);
  });

  for (const name of names) {
    it(name, () => {
      const events = readFileSync(new URL(`${name}/events`, DIR), "utf8");
      const { log, violations } = simulate(parseScenario(events));
      const text = `${log.join("\n")}\n`;
      const expectedFile = new URL(`${name}/expected.log`, DIR);
      if (process.env.UPDATE_SIM_LOGS === "1") writeFileSync(expectedFile, text);
      expect(violations, "an instance started while a copy of it ran elsewhere").toEqual([]);
      expect(text).toBe(readFileSync(expectedFile, "utf8"));
    });
  }
});
