/**
 * Bad input never changes anything and never ends in an unhandled exception (fast-check):
 *  - the host-failure trigger (the EventBridge target of the heartbeat alarms), given malformed "CloudWatch
 *    Alarm State Change" events, events for hosts that are not registered, random JSON: it ignores them or
 *    refuses them with InvalidInput; no table changes, no execution starts;
 *  - the rebuild machine and the host-evacuation machine, given random execution inputs (random JSON, near-
 *    valid requests with wrong values, injection strings, unknown instances and hosts): the execution fails
 *    with a named domain error (never TypeError, States.Runtime, a DynamoDB ValidationException...) and
 *    every table is as it was.
 * The positive controls show the harness sees a change when there is one.
 * Runs on the host-less local cloud of the API tests (dynalite, the real handlers and ASL, local SFN).
 */
import { randomUUID } from "node:crypto";
import { DescribeExecutionCommand, StartExecutionCommand } from "@aws-sdk/client-sfn";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { onAlarmStateChange } from "#functions/host-failure/handlers.js";
import { lambdaArn } from "#shared/definitions/functions.js";
import { HEARTBEAT_ALARM_PREFIX, HEARTBEAT_METRIC } from "#shared/definitions/heartbeat.js";
import {
  definitionSubstitutions,
  readDefinition,
  stateMachineSpec,
} from "#shared/definitions/state-machines.js";
import * as domainErrors from "#shared/domain/errors.js";
import { resetDeps } from "#shared/lambda/runtime.js";
import { scanAll } from "#shared/store/dynamo-util.js";
import * as storeErrors from "#shared/store/store-errors.js";
import { TABLE_IDS } from "#shared/store/tables.js";
import { type ApiTestCloud, startApiTestCloud } from "../support/api-cloud.js";
import { makeHost, makeInstance } from "../support/fixtures.js";

let cloud: ApiTestCloud;
const machineArns: Record<string, string> = {};
let idle: string;
const previousEnv: Record<string, string | undefined> = {};

/** Every error a flow may end with by name: the domain's and the data layer's classes. */
const NAMED_ERRORS = new Set(
  [...Object.keys(domainErrors), ...Object.keys(storeErrors)].filter((k) => /^[A-Z]/.test(k)),
);
/** Names that would mean a crash rather than a refusal. */
const CRASHES =
  /TypeError|ReferenceError|RangeError|SyntaxError|^Error$|States\.Runtime|ValidationException|Sandbox/;

beforeAll(async () => {
  cloud = await startApiTestCloud();
  const substitutions = definitionSubstitutions("lazarus", {
    lambda: (n) => lambdaArn(n),
    stateMachine: (n) => cloud.stepFunctions.stateMachineArn(n),
  });
  for (const id of ["host-evacuation", "host-recovery"]) {
    const spec = stateMachineSpec(id);
    machineArns[id] = cloud.stepFunctions.createStateMachine({
      name: `lazarus-${spec.id}`,
      definition: readDefinition(spec),
      substitutions,
    });
    previousEnv[spec.arnEnv] = process.env[spec.arnEnv];
    process.env[spec.arnEnv] = machineArns[id];
  }
  machineArns.rebuild = cloud.rebuildArn;
  resetDeps();
  await cloud.db.stores.hosts.put(makeHost({ name: "host-a" }));
  await cloud.db.stores.hosts.put(makeHost({ name: "host-b", storage: makeHost().storage }));
  idle = (await cloud.db.stores.instances.create(makeInstance({ host: "host-a", node: "host-a" }))).uuid;
}, 60_000);

afterAll(async () => {
  for (const [k, v] of Object.entries(previousEnv)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  await cloud?.stop();
});

async function tables(): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const id of TABLE_IDS) {
    const items = await scanAll(cloud.db.doc, { TableName: cloud.db.tables[id], ConsistentRead: true });
    out[id] = items.map((i) => JSON.stringify(i)).sort();
  }
  return out;
}

function executionCount(): number {
  return Object.values(machineArns).reduce(
    (n, arn) =>
      n +
      (cloud.stepFunctions.listExecutions({ stateMachineArn: arn, maxResults: 1000 }).executions ?? [])
        .length,
    0,
  );
}

const nasty = fc.constantFrom(
  "host-a; touch /tmp/pwned",
  "$(reboot)",
  "`id`",
  "../../etc/passwd",
  "host-a\nhost-b",
  "<domain/>",
  "\u0000",
  "x".repeat(3000),
  "é".repeat(1500),
  "",
  " ",
  "host-a ",
  "HOST-A",
);
const hostName = fc.oneof(nasty, fc.string(), fc.constantFrom("host-zz", "lazarus-heartbeat-host-a"));
const alarmStateValue = fc.oneof(
  fc.constantFrom("ALARM", "OK", "INSUFFICIENT_DATA"),
  fc.string(),
  fc.jsonValue(),
);
const timestamp = fc.oneof(
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  fc.string(),
  fc.jsonValue(),
);

/** A well-formed alarm event naming `host` (a registered one or not) with random state values. */
function alarmEvent(host: string, state: unknown, previous: unknown, ts: unknown, viaDimension: boolean) {
  return {
    id: randomUUID(),
    source: "aws.cloudwatch",
    "detail-type": "CloudWatch Alarm State Change",
    resources: [`arn:aws:cloudwatch:us-east-1:123456789012:alarm:${HEARTBEAT_ALARM_PREFIX}${host}`],
    time: new Date().toISOString(),
    detail: {
      alarmName: viaDimension ? "some-alarm" : `${HEARTBEAT_ALARM_PREFIX}${host}`,
      state: { value: state, reason: "chaos", timestamp: ts },
      previousState: { value: previous, timestamp: ts },
      configuration: viaDimension
        ? {
            metrics: [
              {
                metricStat: {
                  metric: {
                    namespace: HEARTBEAT_METRIC.namespace,
                    name: HEARTBEAT_METRIC.metricName,
                    dimensions: { [HEARTBEAT_METRIC.dimension]: host },
                  },
                },
              },
            ],
          }
        : undefined,
    },
  };
}

/** Delete or replace one random path of an event (a malformed delivery). */
function mutate(event: unknown, path: string[], value: unknown, drop: boolean): unknown {
  if (path.length === 0 || typeof event !== "object" || event === null) return drop ? undefined : value;
  const [head, ...rest] = path;
  const copy: Record<string, unknown> = Array.isArray(event) ? { ...event } : { ...(event as object) };
  if (rest.length === 0 && drop) delete copy[head!];
  else copy[head!] = mutate(copy[head!], rest, value, drop);
  return copy;
}

const PATHS = [
  ["source"],
  ["detail-type"],
  ["detail"],
  ["detail", "alarmName"],
  ["detail", "state"],
  ["detail", "state", "value"],
  ["detail", "state", "timestamp"],
  ["detail", "previousState"],
  ["detail", "configuration"],
  ["detail", "configuration", "metrics"],
  ["resources"],
];

const unknownHostEvents = fc
  .tuple(hostName, alarmStateValue, alarmStateValue, timestamp, fc.boolean())
  .map(([h, s, p, t, dim]) => alarmEvent(h, s, p, t, dim));
const malformedEvents = fc
  .tuple(
    fc.constantFrom("host-a", "host-b"),
    fc.constantFrom("ALARM", "OK"),
    fc.constantFrom(...PATHS),
    fc.oneof(fc.jsonValue(), nasty),
    fc.boolean(),
  )
  .map(([h, s, path, value, drop]) =>
    mutate(alarmEvent(h, s, s === "OK" ? "ALARM" : "OK", new Date().toISOString(), false), path, value, drop),
  )
  .filter((e) => {
    // A mutation that still yields a valid ALARM/OK transition of a registered host is no longer bad input.
    const d = (e as { detail?: { state?: { value?: unknown }; previousState?: { value?: unknown } } }).detail;
    const valid =
      (e as { source?: unknown }).source === "aws.cloudwatch" &&
      (e as { "detail-type"?: unknown })["detail-type"] === "CloudWatch Alarm State Change" &&
      (d?.state?.value === "ALARM" || (d?.state?.value === "OK" && d.previousState?.value === "ALARM"));
    return !valid;
  });

describe("the host-failure trigger", () => {
  it("control: a valid ALARM of a registered host does change state (the harness sees it)", async () => {
    const before = await tables();
    const ts = new Date().toISOString();
    const out = await onAlarmStateChange(alarmEvent("host-b", "ALARM", "OK", ts, false));
    expect(out).toMatchObject({ action: "evacuate", host: "host-b", started: true });
    expect(await tables()).not.toEqual(before);
    // Leave nothing running behind the control.
    for (const e of cloud.stepFunctions.listExecutions({ stateMachineArn: machineArns["host-evacuation"]! })
      .executions ?? [])
      await cloud.stepFunctions.stopExecution({ executionArn: e.executionArn!, cause: "control" });
    await cloud.db.stores.hosts.put(makeHost({ name: "host-b" }));
  });

  it("malformed events, unknown hosts, random JSON: ignored or InvalidInput, nothing changes", async () => {
    const before = await tables();
    const executions = executionCount();
    await fc.assert(
      fc.asyncProperty(fc.oneof(unknownHostEvents, malformedEvents, fc.jsonValue()), async (event) => {
        try {
          const out = await onAlarmStateChange(event);
          expect(out.action).toBe("ignore");
          expect(out.started).toBe(false);
        } catch (e) {
          expect((e as Error).name, (e as Error).message).toBe("InvalidInput");
        }
      }),
      { numRuns: 150 },
    );
    expect(await tables()).toEqual(before);
    expect(executionCount()).toBe(executions);
  }, 60_000);
});

async function runExecution(machine: string, input: unknown) {
  const name = randomUUID();
  const { executionArn } = await cloud.sfn.send(
    new StartExecutionCommand({ stateMachineArn: machineArns[machine]!, name, input: JSON.stringify(input) }),
  );
  for (;;) {
    const d = await cloud.sfn.send(new DescribeExecutionCommand({ executionArn }));
    if (d.status !== "RUNNING") return d;
    await new Promise((r) => setTimeout(r, 20));
  }
}

const anyValue = fc.oneof(fc.jsonValue(), nasty);
/** Any JSON object (a non-object input is a different case: see isObjectInput). */
const jsonObject = fc.dictionary(fc.string(), fc.jsonValue());
const rebuildInputs = fc.oneof(
  jsonObject,
  fc.record(
    {
      requestId: fc.oneof(fc.uuid(), anyValue),
      instanceUuid: fc.oneof(fc.uuid(), anyValue),
      recreate: fc.oneof(fc.boolean(), anyValue),
      targetHost: fc.oneof(hostName, anyValue),
      imageRef: fc.oneof(nasty, fc.string(), anyValue),
      preserveEphemeral: anyValue,
      force: anyValue,
      targetState: anyValue,
    },
    { requiredKeys: [] },
  ),
  // Near-valid: well-typed, naming instances and hosts that do not exist, or internal fields.
  fc.record({
    requestId: fc.uuid(),
    instanceUuid: fc.uuid(),
    recreate: fc.boolean(),
    targetHost: hostName,
  }),
  fc.record({
    requestId: fc.uuid(),
    instanceUuid: fc.constant("idle"),
    recreate: fc.constant(false),
    imageRef: fc.oneof(nasty, fc.string()),
  }),
  fc.record({
    requestId: fc.uuid(),
    instanceUuid: fc.constant("idle"),
    recreate: fc.boolean(),
    destHost: hostName,
    sharedStorage: fc.boolean(),
  }),
);
const evacuationInputs = fc.oneof(
  jsonObject,
  fc.record(
    { host: hostName, incidentId: fc.oneof(fc.string(), anyValue), reason: anyValue },
    { requiredKeys: [] },
  ),
);

describe("the state machines' inputs", () => {
  // An input that is not a JSON object (null, 3, "x", [..]) is refused by Step Functions itself: either
  // before the first state (States.Runtime, "Path expression '$'...") or when the refusal of Accept
  // (InvalidInput) cannot be placed at the Catch's ResultPath (States.ResultPathMatchFailure).
  it.each([
    ["null", null],
    ["a number", 3],
    ["a string", "$(touch /tmp/x)"],
    ["an array", [{ instanceUuid: "x" }]],
  ])("an input that is %s: failed before any step, nothing changed", async (_, input) => {
    const before = await tables();
    for (const machine of ["rebuild", "host-evacuation"]) {
      const invocations = cloud.lambda.invocations.length;
      const d = await runExecution(machine, input);
      expect(d.status).toBe("FAILED");
      expect(["States.Runtime", "States.ResultPathMatchFailure", "InvalidInput"]).toContain(d.error);
      if (d.error === "States.Runtime") expect(cloud.lambda.invocations.length).toBe(invocations);
    }
    expect(await tables()).toEqual(before);
  });

  it("random rebuild/evacuate inputs: a named error, every table unchanged", async () => {
    const before = await tables();
    await fc.assert(
      fc.asyncProperty(rebuildInputs, async (raw) => {
        const input =
          raw && typeof raw === "object" && (raw as { instanceUuid?: unknown }).instanceUuid === "idle"
            ? { ...(raw as object), instanceUuid: idle }
            : raw;
        const d = await runExecution("rebuild", input);
        if (d.status === "SUCCEEDED") {
          // Only a valid rebuild of the idle instance could; then this is not bad input (it ran).
          throw new Error(`bad input succeeded: ${JSON.stringify(input).slice(0, 300)}`);
        }
        expect(d.status).toBe("FAILED");
        expect(d.error, d.cause).not.toMatch(CRASHES);
        expect(NAMED_ERRORS.has(d.error ?? ""), `${d.error}: ${d.cause}`).toBe(true);
        // Refusals before the take change nothing; a valid-looking rebuild of the idle instance
        // fails on its unreachable host and must leave it as it was too (no task, no claim).
        const inst = await cloud.db.stores.instances.require(idle);
        expect(inst.taskState).toBeNull();
      }),
      { numRuns: 60 },
    );
    const after = await tables();
    // The idle instance may have been taken and released by a rebuild that failed on its host: a fault
    // and a failed migration record that; nothing else may differ.
    for (const id of TABLE_IDS) {
      if (id === "instances" || id === "migrations" || id === "faults" || id === "outbox") continue;
      expect(after[id], id).toEqual(before[id]);
    }
  }, 120_000);

  it("random host-evacuation inputs: a named error or an ignored request, no host record changed", async () => {
    const hostsBefore = (await tables()).hosts;
    await fc.assert(
      fc.asyncProperty(evacuationInputs, async (input) => {
        const d = await runExecution("host-evacuation", input);
        expect(d.status, `${JSON.stringify(input).slice(0, 200)} -> ${d.error}: ${d.cause}`).toBe("FAILED");
        expect(d.error, d.cause).not.toMatch(CRASHES);
        expect(NAMED_ERRORS.has(d.error ?? ""), `${d.error}: ${d.cause}`).toBe(true);
      }),
      { numRuns: 60 },
    );
    expect((await tables()).hosts).toEqual(hostsBefore);
  }, 120_000);
});
