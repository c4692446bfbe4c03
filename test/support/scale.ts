/**
 * What the scale tests (test/unit/scale) need: a fleet of live hosts written in bulk (not counted), and the
 * DynamoDB items a piece of work reads, counted at the DynamoDB endpoint as DynamoDB bills them (what a
 * Query or Scan examined: bench/cost.ts).
 */

import type { Host } from "#shared/domain/schemas.js";
import { TABLE_IDS } from "#shared/store/tables.js";
import { sumDynamoUsage } from "../../bench/cost.js";
import { makeHost } from "./fixtures.js";
import type { StepWorld } from "./step-harness.js";

/**
 * `hosts` live hosts on pool-1, named `<prefix><n>` (written in bulk: not counted), each with a different room
 * used.
 */
export async function fleetOf(
  w: StepWorld,
  hosts: number,
  opts: { prefix?: string; overrides?: Partial<Host> } = {},
): Promise<void> {
  const now = new Date().toISOString();
  const targets: Host[] = Array.from({ length: hosts }, (_, i) =>
    makeHost({
      name: `${opts.prefix ?? "t"}${String(i).padStart(5, "0")}`,
      lastHeartbeatAt: now,
      status: "up",
      storage: {
        instancesPath: "/srv/pool/instances",
        sharedPoolId: "pool-1",
        imageCachePath: "/srv/images",
        volumesPath: "/srv/volumes",
      },
      // Different free RAM per host: the index's order is the weigher's.
      usage: { vcpus: 0, memoryMiB: (i % 97) * 64, diskGiB: 0 },
      claims: {},
      ...opts.overrides,
    }),
  );
  await w.db.stores.hosts.putMany(targets);
}

/** Items read (as DynamoDB counts them: what a Query or Scan examined) while `run` runs. */
export async function itemsReadBy<T>(
  w: StepWorld,
  run: () => Promise<T>,
): Promise<{ result: T; items: number }> {
  const calls: { op: string; body: string; response?: string }[] = [];
  const off = w.dynamo.onOperation((c) => calls.push(c));
  try {
    const result = await run();
    return { result, items: sumDynamoUsage(calls).itemsRead };
  } finally {
    off();
  }
}

/**
 * Every DynamoDB API call `run` makes on this world's tables, as `Operation table` (the table by its id:
 * `GetItem hosts`), in the order answered.
 */
export async function callsBy<T>(
  w: StepWorld,
  run: () => Promise<T>,
): Promise<{ result: T; calls: string[] }> {
  const calls: string[] = [];
  const off = w.dynamo.onOperation((c) => {
    const body = JSON.parse(c.body) as { TableName?: string; RequestItems?: Record<string, unknown> };
    const name = body.TableName ?? Object.keys(body.RequestItems ?? {})[0];
    const table = TABLE_IDS.find((id) => w.db.tables[id] === name);
    if (table) calls.push(`${c.op} ${table}`);
  });
  try {
    return { result: await run(), calls };
  } finally {
    off();
  }
}
