/** Everything a request could change: every table's items and every execution (API tests compare these). */
import { expect } from "vitest";
import { scanAll } from "#shared/store/dynamo-util.js";
import { TABLE_IDS } from "#shared/store/tables.js";
import type { ApiTestCloud } from "./api-cloud.js";

export async function stateSnapshot(
  cloud: ApiTestCloud,
): Promise<{ tables: Record<string, unknown[]>; executions: (string | undefined)[] }> {
  const tables: Record<string, unknown[]> = {};
  for (const id of TABLE_IDS) {
    const items = await scanAll(cloud.db.doc, { TableName: cloud.db.tables[id], ConsistentRead: true });
    tables[id] = items.map((i) => JSON.stringify(i)).sort();
  }
  const executions = cloud.machineArns
    .flatMap((stateMachineArn) => cloud.stepFunctions.listExecutions({ stateMachineArn }).executions ?? [])
    .map((e) => e.executionArn)
    .sort();
  return { tables, executions };
}

/** The request is refused with `status` and nova's fault name (its message matching), and nothing at all changed. */
export async function refusedWithoutChange(
  cloud: ApiTestCloud,
  request: () => ReturnType<ApiTestCloud["call"]>,
  status: number,
  fault: string,
  message?: RegExp,
) {
  const before = await stateSnapshot(cloud);
  const res = await request();
  expect(res.status, res.text).toBe(status);
  const body = res.json as Record<string, { code: number; message: string }>;
  expect(Object.keys(body)).toEqual([fault]);
  expect(body[fault]!.code).toBe(status);
  if (message) expect(body[fault]!.message).toMatch(message);
  expect(await stateSnapshot(cloud)).toEqual(before);
  return res;
}
