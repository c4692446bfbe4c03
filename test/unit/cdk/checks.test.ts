/**
 * What the stack is checked against besides its own template: cdk-nag (no unacknowledged finding, and a
 * new wildcard is caught), asl-validator on every ASL file, the local runner and the stack filling the
 * same placeholders (and both refusing one nobody fills), the refusals of malformed definitions, and the
 * configuration file.
 */
import { readdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { Effect, PolicyStatement } from "aws-cdk-lib/aws-iam";
import { beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_CONFIG_FILE, loadConfig } from "#cdk/config.js";
import { nagPacks } from "#cdk/nag.js";
import { LocalStepFunctions } from "#local/stepfunctions/runner.js";
import { ALL_FUNCTIONS, type FunctionSpec } from "#shared/definitions/functions.js";
import {
  definitionSubstitutions,
  deployedName,
  PROJECT_ROOT,
  placeholdersOf,
  readDefinition,
  STATE_MACHINES,
  type StateMachineSpec,
} from "#shared/definitions/state-machines.js";
import { useTempDir } from "#test/support/temp-dir.js";
import {
  EXTRA_FUNCTIONS,
  PARENT_MACHINE,
  resourcesOfType,
  type Synthesized,
  synth,
  synthExtended,
} from "./synth.js";

type AslValidator = (
  definition: unknown,
  options?: { checkPaths?: boolean; checkArn?: boolean },
) => { isValid: boolean; errorsText: (separator?: string) => string };
const aslValidator = createRequire(import.meta.url)("asl-validator") as AslValidator;

function nagErrors(s: Synthesized) {
  return nagPacks(s.app)
    .flatMap((pack) => pack.validateScope(s.app).violations)
    .map((v) => ({
      rule: v.ruleName,
      severity: v.severity,
      at: v.violatingResources.map((r) => r.constructPath),
    }));
}

describe("cdk-nag (AwsSolutions, Serverless)", () => {
  let extended: Synthesized;
  beforeAll(() => {
    extended = synthExtended();
  });

  it("no unacknowledged finding, with every role of function and a parent machine", () => {
    expect(nagErrors(extended)).toEqual([]);
  });

  it("no unacknowledged finding with only the shared definitions and no hosts", () => {
    expect(nagErrors(synth({ config: { hosts: [] } }))).toEqual([]);
  });

  it("a wildcard nobody justified is an error", () => {
    const tampered = synth({
      tamper: (stack) => {
        stack.functions.roles.get(ALL_FUNCTIONS[0]!.id)!.addToPrincipalPolicy(
          new PolicyStatement({
            effect: Effect.ALLOW,
            actions: ["dynamodb:GetItem"],
            resources: ["arn:aws:dynamodb:*:*:table/*"],
          }),
        );
      },
    });
    const errors = nagErrors(tampered);
    expect(errors).toEqual([
      expect.objectContaining({
        rule: "AwsSolutions-IAM5[Resource::arn:aws:dynamodb:*:*:table/*]",
        severity: "error",
      }),
    ]);
  });

  it("every acknowledgement carries a reason", () => {
    const acks = extended.app.node
      .findAll()
      .flatMap((c) => c.node.metadata.filter((m) => m.type === "aws:cdk:acknowledged-rules"))
      .flatMap((m) => Object.entries(m.data as Record<string, string>));
    expect(acks.length).toBeGreaterThan(0);
    for (const [id, reason] of acks) expect(reason.trim().length, id).toBeGreaterThan(20);
  });
});

describe("state machine definitions", () => {
  const machines = [...STATE_MACHINES, PARENT_MACHINE];

  it("every file in state-machines/ is listed in STATE_MACHINES", () => {
    const files = readdirSync(new URL("state-machines/", PROJECT_ROOT)).filter((f) =>
      f.endsWith(".asl.json"),
    );
    expect(files.length).toBeGreaterThan(0);
    expect(files.map((f) => `state-machines/${f}`).sort()).toEqual(STATE_MACHINES.map((m) => m.file).sort());
  });

  it.each(machines.map((m) => [m.id, m] as const))("%s: passes asl-validator once filled", (_id, m) => {
    const filled = JSON.parse(
      readDefinition(m).replace(
        /\$\{([^}]+)\}/g,
        (whole, p: string) => definitionSubstitutions("lazarus")[p] ?? whole,
      ),
    ) as unknown;
    const result = aslValidator(filled, { checkArn: true, checkPaths: true });
    expect(result.errorsText("\n")).toBe("");
    expect(result.isValid).toBe(true);
  });

  it.each(machines.map((m) => [m.id, m] as const))(
    "%s: the local runner and the stack fill the same placeholders",
    (_id, m) => {
      const local = new LocalStepFunctions();
      const localSubstitutions = definitionSubstitutions("lazarus", {
        stateMachine: (n) => local.stateMachineArn(n),
      });
      // The local runner refuses a definition with a placeholder it cannot fill (and validates the ASL).
      local.createStateMachine({
        name: deployedName("lazarus", m.id),
        definition: readDefinition(m),
        substitutions: localSubstitutions,
      });
      const localFilled = placeholdersOf(readDefinition(m)).filter(
        (p) => localSubstitutions[p] !== undefined,
      );

      const s = stackOf();
      const cfn = resourcesOfType(s, "AWS::StepFunctions::StateMachine").find(
        ([, r]) => r.Properties!.StateMachineName === deployedName("lazarus", m.id),
      )!;
      const stackFilled = Object.keys(cfn[1].Properties!.DefinitionSubstitutions as object);
      expect(stackFilled.sort()).toEqual(localFilled.sort());
      expect(stackFilled.sort()).toEqual(placeholdersOf(readDefinition(m)).sort());
    },
  );

  let cached: Synthesized | undefined;
  const stackOf = () => {
    cached ??= synthExtended();
    return cached;
  };

  const UNKNOWN: StateMachineSpec = {
    id: "test-unknown",
    file: "test/unit/cdk/fixtures/unknown-placeholder.asl.json",
    placeholder: "TestUnknownStateMachineArn",
    arnEnv: "LAZARUS_TEST_UNKNOWN_STATE_MACHINE_ARN",
  };

  it("a placeholder nobody fills is refused by both the local runner and the stack", () => {
    const local = new LocalStepFunctions();
    expect(() =>
      local.createStateMachine({
        name: "lazarus-test-unknown",
        definition: readDefinition(UNKNOWN),
        substitutions: definitionSubstitutions("lazarus"),
      }),
    ).toThrow(/NoSuchFunctionArn/);
    expect(() => synth({ machines: [...STATE_MACHINES, UNKNOWN] })).toThrow(/NoSuchFunctionArn/);
  });

  it("a service integration the stack has no permissions for fails synth", () => {
    const machine: StateMachineSpec = {
      ...UNKNOWN,
      id: "test-ddb",
      file: "test/unit/cdk/fixtures/unknown-integration.asl.json",
    };
    expect(() => synth({ machines: [...STATE_MACHINES, machine] })).toThrow(/dynamodb:putItem/);
  });
});

describe("malformed function specs fail synth with the spec's name", () => {
  const base = EXTRA_FUNCTIONS.find((f) => f.role === "scheduled")!;
  const cases: [string, FunctionSpec[], RegExp][] = [
    ["scheduled without a schedule", [{ ...base, schedule: undefined }], /test-sweeper has no schedule/],
    [
      "startExecutions of an unknown machine",
      [{ ...base, access: { startExecutions: ["no-such-machine"] } }],
      /no-such-machine/,
    ],
    [
      "two api functions",
      EXTRA_FUNCTIONS.filter((f) => f.role === "api").flatMap((f) => [f, { ...f, id: "test-api-2" }]),
      /one api function expected/,
    ],
  ];
  it.each(cases)("%s", (_name, extra, message) => {
    expect(() => synth({ functions: [...ALL_FUNCTIONS, ...extra] })).toThrow(message);
  });
});

describe("configuration", () => {
  const dir = useTempDir("lazarus-cdk-config-");
  const write = (name: string, value: unknown) => {
    const file = join(dir, name);
    writeFileSync(file, JSON.stringify(value));
    return file;
  };

  it("the committed file is valid and fills the defaults", () => {
    const config = loadConfig(DEFAULT_CONFIG_FILE);
    expect(config.prefix).toBe("lazarus");
    expect(config.heartbeat.missedPeriods).toBe(3);
    expect(loadConfig(write("empty.json", {}))).toEqual(config);
  });

  it.each([
    ["an unknown field", { hostz: ["a"] }, /hostz/],
    ["a list of hosts (registration creates their alarms now)", { hosts: ["kvm-a"] }, /registering a host/],
    ["a retention CloudWatch does not offer", { logRetentionDays: 31 }, /logRetentionDays/],
  ])("refuses %s", (_name, value, message) => {
    expect(() => loadConfig(write("bad.json", value))).toThrow(message);
  });
});
