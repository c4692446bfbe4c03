/**
 * Synthesizes the stack for the tests: bundling skipped (the bundles have their own test), the real
 * definitions plus test specs for every role no flow has added yet (api, trigger, scheduled, fence, a
 * parent machine that starts rebuild with startExecution.sync:2), so each code path of the stack runs.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { App, Stack } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { flattenCfnReference } from "cdk-nag/lib/utils/flatten-cfn-reference.js";
import type { z } from "zod";
import { LazarusConfig } from "#cdk/config.js";
import { LazarusStack } from "#cdk/lazarus-stack.js";
import { ALL_FUNCTIONS, type FunctionSpec } from "#shared/definitions/functions.js";
import { heartbeatAlarmPattern } from "#shared/definitions/heartbeat.js";
import { STATE_MACHINES, type StateMachineSpec } from "#shared/definitions/state-machines.js";

export const EXTRA_FUNCTIONS: FunctionSpec[] = [
  {
    id: "test-api",
    placeholder: "TestApiFunctionArn",
    entry: "functions/conductor/handlers.ts",
    handler: "accept",
    role: "api",
    access: {
      tables: { instances: "read", migrations: "read" },
      startExecutions: ["rebuild"],
      readExecutions: "history",
    },
  },
  {
    id: "test-trigger",
    placeholder: "TestTriggerFunctionArn",
    entry: "functions/conductor/handlers.ts",
    handler: "accept",
    role: "trigger",
    triggers: [
      {
        id: "test-trigger-alarm",
        description: "a test rule on the default bus",
        bus: "default",
        eventPattern: (prefix) => heartbeatAlarmPattern(prefix, "ALARM"),
      },
    ],
    access: {
      tables: { hosts: "write" },
      startExecutions: ["test-parent"],
      heartbeats: "read",
      describeHosts: true,
    },
  },
  {
    id: "test-recovery",
    placeholder: "TestRecoveryFunctionArn",
    entry: "functions/conductor/handlers.ts",
    handler: "finish",
    role: "trigger",
    triggers: [
      {
        id: "test-recovery-event",
        description: "a test rule on the Lazarus bus",
        bus: "lazarus",
        eventPattern: () => ({ source: ["lazarus.test"], "detail-type": ["Test Event"] }),
      },
    ],
    access: { tables: { hosts: "write" } },
  },
  {
    id: "test-sweeper",
    placeholder: "TestSweeperFunctionArn",
    entry: "functions/conductor/handlers.ts",
    handler: "finish",
    role: "scheduled",
    schedule: "rate(1 minute)",
    access: { tables: { instances: "write" }, readExecutions: "status" },
  },
  {
    id: "test-fence",
    placeholder: "TestFenceFunctionArn",
    entry: "functions/compute-steps/handlers.ts",
    handler: "powerOff",
    role: "step",
    access: { tables: { hosts: "write" }, fence: true },
  },
];

export const PARENT_MACHINE: StateMachineSpec = {
  id: "test-parent",
  file: "test/unit/cdk/fixtures/parent.asl.json",
  placeholder: "TestParentStateMachineArn",
  arnEnv: "LAZARUS_TEST_PARENT_STATE_MACHINE_ARN",
};

export interface Synthesized {
  app: App;
  stack: LazarusStack;
  template: Template;
  json: { Resources: Record<string, Resource> };
}

export interface Resource {
  Type: string;
  Properties?: Record<string, unknown>;
  DependsOn?: string | string[];
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
}

export function synth(
  opts: {
    functions?: readonly FunctionSpec[];
    machines?: readonly StateMachineSpec[];
    /** The configuration file's content (defaults filled in by its schema). */
    config?: z.input<typeof LazarusConfig>;
    /** Runs on the stack before synthesis (to break something on purpose). */
    tamper?: (stack: LazarusStack) => void;
  } = {},
): Synthesized {
  // No bundling: NodejsFunction assets are staged without running esbuild.
  // The built-in CloudFormation schema validation (slow: a WASM engine) runs in `npm run synth`.
  // The cloud assembly goes to a folder of its own, removed once the template is read (an App without an
  // outdir leaves a cdk.out* folder in the system's temporary folder at every synthesis).
  const outdir = mkdtempSync(join(tmpdir(), "lazarus-cdk-synth-"));
  try {
    const app = new App({
      outdir,
      context: { "aws:cdk:bundling-stacks": [] },
      builtinCloudFormationValidation: false,
      treeMetadata: false,
    });
    const stack = new LazarusStack(app, "Lazarus", {
      config: LazarusConfig.parse({ ...opts.config }),
      functionSpecs: opts.functions ?? ALL_FUNCTIONS,
      stateMachineSpecs: opts.machines ?? STATE_MACHINES,
      env: { account: "123456789012", region: "eu-west-1" },
    });
    opts.tamper?.(stack);
    const template = Template.fromStack(stack);
    return { app, stack, template, json: template.toJSON() as Synthesized["json"] };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

/** Every real function plus the test specs; the test api stands in for the real one (a stack has one). */
export const EXTENDED_FUNCTIONS: FunctionSpec[] = [
  ...ALL_FUNCTIONS.filter((f) => f.role !== "api"),
  ...EXTRA_FUNCTIONS,
];

export function synthExtended(): Synthesized {
  return synth({
    functions: EXTENDED_FUNCTIONS,
    machines: [...STATE_MACHINES, PARENT_MACHINE],
  });
}

/** A CloudFormation value as cdk-nag writes it: `arn:<AWS::Partition>:...`, `<Id.Arn>`, `<Id>`. */
export function flat(value: unknown): string {
  return typeof value === "string" ? value : flattenCfnReference(value);
}

export function resourcesOfType(s: Synthesized, type: string): [string, Resource][] {
  return Object.entries(s.json.Resources).filter(([, r]) => r.Type === type);
}

export interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, string>>;
}

export const asArray = <T>(v: T | T[]): T[] => (Array.isArray(v) ? v : [v]);

/** The one Lambda function of a spec in the template (deployed as `lazarus-<id>`). */
export function functionResource(s: Synthesized, spec: FunctionSpec): [string, Resource] {
  const found = resourcesOfType(s, "AWS::Lambda::Function").filter(
    ([, r]) => r.Properties?.FunctionName === `lazarus-${spec.id}`,
  );
  if (found.length !== 1) throw new Error(`${spec.id}: ${found.length} functions in the template`);
  return found[0]!;
}

/** Every statement of a role's inline policies: its own (`Policies`) and any AWS::IAM::Policy attached to it. */
export function statementsOfRole(s: Synthesized, roleId: string): Statement[] {
  const own = (
    (s.json.Resources[roleId]?.Properties?.Policies ?? []) as { PolicyDocument: unknown }[]
  ).flatMap((p) => (p.PolicyDocument as { Statement: Statement[] }).Statement);
  const attached = resourcesOfType(s, "AWS::IAM::Policy")
    .filter(([, p]) => asArray(p.Properties!.Roles as unknown[]).some((r) => flat(r) === `<${roleId}>`))
    .flatMap(([, p]) => (p.Properties!.PolicyDocument as { Statement: Statement[] }).Statement);
  return [...own, ...attached];
}

/** Every statement of the inline policies of the role of a Lambda function. */
export function roleStatements(s: Synthesized, fn: Resource): Statement[] {
  const roleId = (fn.Properties!.Role as { "Fn::GetAtt": [string, string] })["Fn::GetAtt"][0];
  return statementsOfRole(s, roleId);
}

export function logicalIdOf(s: Synthesized, construct: { node: { defaultChild?: unknown } }): string {
  return Stack.of(s.stack).getLogicalId(construct.node.defaultChild as never);
}
