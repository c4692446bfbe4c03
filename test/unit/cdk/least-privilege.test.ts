/**
 * Least privilege by use (issue 30): no function's role may allow an action no code path of it calls.
 * "Calls" is read from the code: each adapter of shared/definitions/adapters.ts declares the actions of its
 * modules, and the modules are read here (every `new XCommand(` of an AWS SDK client) and must send exactly
 * those; each table's actions (TABLE_SPECS) must be exactly what its stores call. A function's role may then
 * hold only the actions of the adapters its access lists, and the test fails on one more (a deliberately
 * added grant included).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { Effect, PolicyStatement } from "aws-cdk-lib/aws-iam";
import { describe, expect, it } from "vitest";
import { tableActions } from "#cdk/access-policy.js";
import { ASYNC_FAILURE_ACTION, isAsync } from "#cdk/functions.js";
import { ADAPTERS, type AdapterId } from "#shared/definitions/adapters.js";
import { ALL_FUNCTIONS, type FunctionSpec, type TableAccess } from "#shared/definitions/functions.js";
import { PROJECT_ROOT } from "#shared/definitions/state-machines.js";
import { TABLE_IDS, TABLE_SPECS, type TableId } from "#shared/store/tables.js";
import { sdkActionsOf } from "./code-reads.js";
import {
  asArray,
  functionResource,
  resourcesOfType,
  roleStatements,
  type Synthesized,
  synth,
} from "./synth.js";

const root = fileURLToPath(PROJECT_ROOT);
const read = (file: string) => readFileSync(join(root, file), "utf8");

function sourceFiles(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith(".ts"))
    .map((e) => relative(root, join(e.parentPath, e.name)));
}

describe("each adapter's declared actions are the ones its modules call", () => {
  const adapterIds = Object.keys(ADAPTERS) as AdapterId[];
  const modules = [...new Set(adapterIds.flatMap((id) => ADAPTERS[id].modules))];

  it.each(modules.map((m) => [m]))("%s", (module) => {
    const declared = new Set(
      adapterIds
        .filter((id) => ADAPTERS[id].modules.includes(module as never))
        .flatMap((id) => ADAPTERS[id].actions),
    );
    expect([...sdkActionsOf(read(module))].sort()).toEqual([...declared].sort());
  });

  it("no module of the Lambdas calls AWS outside the adapters and the stores", () => {
    const declared = new Set<string>(modules);
    const callers = [...sourceFiles("shared"), ...sourceFiles("functions")].filter(
      (f) => !f.startsWith("shared/store/") && sdkActionsOf(read(f)).size > 0,
    );
    expect(callers.filter((f) => !declared.has(f))).toEqual([]);
  });
});

/** What a store module calls, read from its code: its own commands and the base-class helpers it uses. */
const STORE_CALLS: [RegExp, string][] = [
  [
    /new GetCommand\(|\bgetItem\(|\bthis\.read\(|\bgetParsed\(|\brequireParsed\(|\bthis\.(get|require)\(/,
    "GetItem",
  ],
  [/new QueryCommand\(|\bqueryAll\(|\bqueryIndex\(/, "Query"],
  [/new ScanCommand\(|\bscanAll\(/, "Scan"],
  [/new PutCommand\(|\bputIfAbsent\(|\bthis\.(insert|put)\(/, "PutItem"],
  [/new UpdateCommand\(|\bthis\.change\(|\bchangeRecord\(/, "UpdateItem"],
  [/new DeleteCommand\(|\bthis\.deleteIf\(/, "DeleteItem"],
  // A RecordStore's public get/require/put are its callers' (shared/store/table-store.ts).
  [/extends RecordStore/, "GetItem"],
  [/extends RecordStore/, "PutItem"],
];

describe("each table's declared actions are the ones its stores call", () => {
  const used = new Map<TableId, Set<string>>();
  for (const file of sourceFiles("shared/store").filter((f) => f.endsWith("-store.ts"))) {
    const source = read(file);
    const table = /super\(deps, "([a-z]+)"/.exec(source)?.[1] as TableId | undefined;
    if (!table) continue;
    const calls = used.get(table) ?? new Set<string>();
    for (const [pattern, action] of STORE_CALLS) if (pattern.test(source)) calls.add(action);
    // Any other DynamoDB command (a batch, a transaction) would be an action nobody declared.
    for (const action of sdkActionsOf(source)) calls.add(action.replace(/^dynamodb:/, ""));
    used.set(table, calls);
  }

  it.each(TABLE_IDS.map((id) => [id]))("%s", (id) => {
    const { read: r, write: w, remove = [] } = TABLE_SPECS[id].actions;
    expect([...(used.get(id) ?? [])].sort()).toEqual([...r, ...w, ...remove].sort());
    for (const a of r) expect(["GetItem", "BatchGetItem", "Query", "Scan"]).toContain(a);
    for (const a of w) expect(["PutItem", "UpdateItem", "DeleteItem"]).toContain(a);
  });
});

/** Every action a function's access lets its code call, by the adapters it lists (and Lambda's own uses). */
function usableActions({ access, role }: Pick<FunctionSpec, "access" | "role">): Set<string> {
  const out = new Set<string>([
    // Its own log group, and X-Ray: the Lambda runtime's.
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    // An asynchronous function's final failure, sent by Lambda to its on-failure destination.
    ...(isAsync({ role }) ? [ASYNC_FAILURE_ACTION] : []),
  ]);
  const add = (id: AdapterId) => {
    for (const a of ADAPTERS[id].actions) out.add(a);
  };
  for (const [id, level] of Object.entries(access.tables ?? {}) as [TableId, TableAccess][]) {
    for (const a of tableActions(id, level)) out.add(a);
  }
  if (access.hostDocuments?.length) add("hostCommands");
  if (access.describeHosts) add("describeHosts");
  if (access.tagHosts) add("tagHosts");
  if (access.hostAlarms) add("hostAlarms");
  if (access.hostAlarmState) add("hostAlarmState");
  if (access.publishEvents) add("publishEvents");
  if (access.startExecutions?.length) add("startExecutions");
  if (access.readExecutions)
    add(access.readExecutions === "history" ? "executionHistory" : "executionStatus");
  if (access.heartbeats) add("heartbeats");
  if (access.fence) add("fence");
  if (access.powerOn) add("powerOn");
  if (access.invokeFunctions?.length) add("invokeFunctions");
  return out;
}

/** "<function id>: <action>" for every action a function's role allows that no adapter of it calls. */
function unusedGrants(s: Synthesized, specs: readonly FunctionSpec[]): string[] {
  const found: string[] = [];
  for (const spec of specs) {
    const usable = usableActions(spec);
    for (const st of roleStatements(s, functionResource(s, spec)[1])) {
      if (st.Effect !== "Allow") continue;
      for (const action of asArray(st.Action)) if (!usable.has(action)) found.push(`${spec.id}: ${action}`);
    }
  }
  return found;
}

describe("no role allows an action its function's code never calls", () => {
  it("every function of the stack", () => {
    const s = synth();
    expect(unusedGrants(s, ALL_FUNCTIONS)).toEqual([]);
    // The actions the issue found granted and never called.
    // The functions' roles and every other policy of the control plane (the hosts' own role aside).
    const everyAction = [
      ...ALL_FUNCTIONS.flatMap((spec) => roleStatements(s, functionResource(s, spec)[1])),
      ...resourcesOfType(s, "AWS::IAM::Policy").flatMap(
        ([, p]) => (p.Properties!.PolicyDocument as { Statement: { Action: string | string[] }[] }).Statement,
      ),
    ].flatMap((st) => asArray(st.Action));
    for (const never of [
      "cloudwatch:PutMetricData",
      "cloudwatch:DescribeAlarms",
      "ssm:ListTagsForResource",
      "dynamodb:BatchWriteItem",
      "dynamodb:ConditionCheckItem",
      "states:ListExecutions",
      "states:DescribeStateMachine",
    ]) {
      expect(everyAction).not.toContain(never);
    }
  });

  it("a grant no code path uses makes it fail", () => {
    const victim = ALL_FUNCTIONS.find((f) => f.id === "hostfail-assess-heartbeat")!;
    const s = synth({
      tamper: (stack) =>
        stack.functions.roles.get(victim.id)!.addToPrincipalPolicy(
          new PolicyStatement({
            effect: Effect.ALLOW,
            actions: ["cloudwatch:PutMetricData"],
            resources: ["*"],
          }),
        ),
    });
    expect(unusedGrants(s, ALL_FUNCTIONS)).toEqual([`${victim.id}: cloudwatch:PutMetricData`]);
  });
});
