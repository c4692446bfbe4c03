/**
 * The host-failure simulator: every folder under scenarios/ holds `events` (the scenario) and `expected.log`
 * (the log it must produce). Each is played with a fake clock against the real host-failure steps, in the
 * order their ASL files define, on real stores (one dynalite, fresh tables per scenario); see simulator.ts.
 * Independently of the logs, no scenario may run an instance on two powered hosts at any tick, nor end a
 * host-evacuation SUCCEEDED with an instance stranded on the dead host. `UPDATE_SIM_LOGS=1` rewrites the
 * expected logs (review the diff before committing).
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DynamoServer, startDynamoServer } from "#local/dynamo/dynamo-server.js";
import { startTestDynamo } from "../../support/dynamo.js";
import { parseScenario, simulate } from "./simulator.js";

const DIR = new URL("./scenarios/", import.meta.url);
const names = readdirSync(DIR)
  .filter((n) => existsSync(new URL(`${n}/events`, DIR)))
  .sort();

let dynamo: DynamoServer;
beforeAll(async () => {
  dynamo = await startDynamoServer();
});
afterAll(() => dynamo?.close());

/** Plays one scenario on fresh tables; the stores' clock is the scenario's. */
async function play(events: string) {
  const scenario = parseScenario(events);
  const db = await startTestDynamo({ prefix: "sim", endpoint: dynamo.endpoint });
  try {
    let clock = () => new Date(0);
    const stores = db.storesWith({ now: () => clock() });
    return await simulate(scenario, { stores, clock: (c) => (clock = c) });
  } finally {
    await db.close();
  }
}

describe("host-failure simulator", () => {
  it("has at least 30 scenarios", () => {
    expect(names.length).toBeGreaterThanOrEqual(30);
  });

  for (const name of names) {
    it(name, async () => {
      const events = readFileSync(new URL(`${name}/events`, DIR), "utf8");
      const { log, violations } = await play(events);
      const text = `${log.join("\n")}\n`;
      const expectedFile = new URL(`${name}/expected.log`, DIR);
      if (process.env.UPDATE_SIM_LOGS === "1") writeFileSync(expectedFile, text);
      expect(violations, "a second copy, or a stranded instance after SUCCEEDED").toEqual([]);
      expect(text).toBe(readFileSync(expectedFile, "utf8"));
    });
  }
});
