/**
 * One Step Functions state machine per StateMachineSpec, loaded from its ASL file as it is, with its
 * `${Placeholder}`s filled by definitionSubstitutions (the same function the local cloud calls). Lambda
 * ARNs are tokens of the functions; state machine ARNs are built from names (a parent machine starts a
 * child by ARN, and a token of the child would tie the two in a cycle as soon as either refers back).
 * The role of each machine may invoke exactly the functions and start exactly the machines its
 * definition names.
 */
import { RemovalPolicy, Stack } from "aws-cdk-lib";
import { Effect, PolicyStatement } from "aws-cdk-lib/aws-iam";
import { LogGroup, type RetentionDays } from "aws-cdk-lib/aws-logs";
import { DefinitionBody, LogLevel, StateMachine, StateMachineType } from "aws-cdk-lib/aws-stepfunctions";
import { Construct } from "constructs";
import type { FunctionSpec } from "#shared/definitions/functions.js";
import {
  definitionSubstitutions,
  deployedName,
  placeholdersOf,
  readDefinition,
  type StateMachineSpec,
} from "#shared/definitions/state-machines.js";
import { executionsArnFromName, stateMachineArnFromName, syncExecutionRuleArn } from "./arns.js";
import type { LazarusConfig } from "./config.js";
import type { LazarusFunctions } from "./functions.js";
import { acknowledgeWildcards, XRAY_WILDCARD } from "./nag.js";

/** Service integrations the definitions may use; any other `arn:aws:states:::` resource fails synth. */
const LAMBDA_INVOKE = /^arn:aws:states:::lambda:invoke(\.waitForTaskToken)?$/;
const START_EXECUTION = /^arn:aws:states:::states:startExecution(\.sync(:2)?|\.waitForTaskToken)?$/;

/** Every Task `Resource` of a definition, nested states (Map, Parallel) included. */
export function taskResources(definition: unknown): string[] {
  const found: string[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) for (const item of node) walk(item);
    else if (node && typeof node === "object") {
      const record = node as Record<string, unknown>;
      if (record.Type === "Task" && typeof record.Resource === "string") found.push(record.Resource);
      for (const value of Object.values(record)) walk(value);
    }
  };
  walk(definition);
  return found;
}

export interface LazarusStateMachinesProps {
  specs: readonly StateMachineSpec[];
  functionSpecs: readonly FunctionSpec[];
  functions: LazarusFunctions;
  config: LazarusConfig;
}

export class LazarusStateMachines extends Construct {
  readonly byId = new Map<string, StateMachine>();
  /** The substitutions each machine was created with (placeholder -> value), for tests and outputs. */
  readonly substitutionsById = new Map<string, Record<string, string>>();

  constructor(scope: Construct, id: string, props: LazarusStateMachinesProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const { prefix } = props.config;
    const unknownFunction = (name: string) => `\u0000no function ${name}`;
    const all = definitionSubstitutions(prefix, {
      lambda: (name) => props.functions.byName.get(name)?.functionArn ?? unknownFunction(name),
      stateMachine: (name) => stateMachineArnFromName(stack, name),
    });
    const functionByPlaceholder = new Map(props.functionSpecs.map((f) => [f.placeholder, f]));
    const machineByPlaceholder = new Map(props.specs.map((m) => [m.placeholder, m]));

    for (const spec of props.specs) {
      const name = deployedName(prefix, spec.id);
      const raw = readDefinition(spec);
      const used = placeholdersOf(raw);
      const substitutions: Record<string, string> = {};
      for (const placeholder of used) {
        const value = all[placeholder];
        if (value === undefined) {
          throw new Error(`${spec.file}: no function or state machine fills \${${placeholder}}`);
        }
        if (value.startsWith("\u0000")) {
          throw new Error(`${spec.file}: \${${placeholder}} names a function this stack does not deploy`);
        }
        substitutions[placeholder] = value;
      }

      const logGroup = new LogGroup(this, `${spec.id}-logs`, {
        logGroupName: `/aws/vendedlogs/states/${name}`,
        retention: props.config.logRetentionDays as RetentionDays,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      const machine = new StateMachine(this, spec.id, {
        stateMachineName: name,
        stateMachineType: StateMachineType.STANDARD,
        definitionBody: DefinitionBody.fromString(raw),
        definitionSubstitutions: substitutions,
        logs: { destination: logGroup, level: LogLevel.ALL, includeExecutionData: true },
        tracingEnabled: true,
      });

      const invoked = used.filter((p) => functionByPlaceholder.has(p)).map((p) => substitutions[p]!);
      if (invoked.length > 0) {
        machine.addToRolePolicy(
          new PolicyStatement({
            effect: Effect.ALLOW,
            actions: ["lambda:InvokeFunction"],
            resources: invoked,
          }),
        );
      }
      const children = used
        .filter((p) => machineByPlaceholder.has(p))
        .map((p) => machineByPlaceholder.get(p)!);
      const resources = taskResources(JSON.parse(raw));
      const unsupported = resources.filter(
        (r) => r.startsWith("arn:aws:states:::") && !LAMBDA_INVOKE.test(r) && !START_EXECUTION.test(r),
      );
      if (unsupported.length > 0) {
        throw new Error(
          `${spec.file}: no permissions known for ${unsupported.join(", ")} (add them in cdk/state-machines.ts)`,
        );
      }
      if (children.length > 0) {
        const childNames = children.map((c) => deployedName(prefix, c.id));
        machine.addToRolePolicy(
          new PolicyStatement({
            effect: Effect.ALLOW,
            actions: ["states:StartExecution"],
            resources: childNames.map((n) => stateMachineArnFromName(stack, n)),
          }),
        );
        if (resources.some((r) => /startExecution\.sync/.test(r))) {
          // What `.sync` needs: follow and stop the child execution, and the managed rule that reports it.
          machine.addToRolePolicy(
            new PolicyStatement({
              effect: Effect.ALLOW,
              actions: ["states:DescribeExecution", "states:StopExecution"],
              resources: childNames.map((n) => executionsArnFromName(stack, n)),
            }),
          );
          machine.addToRolePolicy(
            new PolicyStatement({
              effect: Effect.ALLOW,
              actions: ["events:PutTargets", "events:PutRule", "events:DescribeRule"],
              resources: [syncExecutionRuleArn(stack)],
            }),
          );
        }
      }
      acknowledgeWildcards(machine, [
        XRAY_WILDCARD,
        {
          resource: "*",
          reason:
            "CloudWatch Logs delivery (logs:CreateLogDelivery, ...) has no resource-level permissions (CDK's logging grant)",
        },
        ...children.map((c) => ({
          resource: executionsArnFromName(stack, deployedName(prefix, c.id)),
          reason: "a child execution is named at start time: any execution of that one Lazarus machine",
        })),
      ]);
      this.byId.set(spec.id, machine);
      this.substitutionsById.set(spec.id, substitutions);
    }
  }
}
