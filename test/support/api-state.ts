/** Everything a request could change: every table's items and every execution (API tests compare these). */
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
