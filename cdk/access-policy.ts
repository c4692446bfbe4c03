/**
 * A function's `access` (shared/definitions/functions.ts) turned into IAM statements: each function gets
 * exactly what its spec says and nothing from a managed policy. Where a service has no resource-level
 * permission for an action, the statement says so and uses "*" (cdk-nag acknowledgements cite this file).
 */
import type { Stack } from "aws-cdk-lib";
import { ArnFormat } from "aws-cdk-lib";
import type { ITable } from "aws-cdk-lib/aws-dynamodb";
import type { IEventBus } from "aws-cdk-lib/aws-events";
import { Effect, PolicyStatement } from "aws-cdk-lib/aws-iam";
import type { FunctionAccess } from "#shared/definitions/functions.js";
import { HEARTBEAT_METRIC, heartbeatAlarmNamePrefix } from "#shared/definitions/heartbeat.js";
import { KVM_HOST_TAG } from "#shared/definitions/host-tag.js";
import { deployedName } from "#shared/definitions/state-machines.js";
import { TABLE_SPECS, type TableId } from "#shared/store/tables.js";
import {
  alarmsArn,
  awsDocumentArn,
  ec2InstancesArn,
  executionsArnFromName,
  managedInstancesArn,
  stateMachineArnFromName,
} from "./arns.js";

export const TABLE_READ_ACTIONS = [
  "dynamodb:GetItem",
  "dynamodb:BatchGetItem",
  "dynamodb:Query",
  "dynamodb:Scan",
  "dynamodb:ConditionCheckItem",
] as const;
export const TABLE_WRITE_ACTIONS = [
  ...TABLE_READ_ACTIONS,
  "dynamodb:PutItem",
  "dynamodb:UpdateItem",
  "dynamodb:DeleteItem",
  "dynamodb:BatchWriteItem",
] as const;

/** The only SSM document Lazarus runs on hosts. */
export const HOST_COMMAND_DOCUMENT = "AWS-RunShellScript";

export interface AccessContext {
  stack: Stack;
  prefix: string;
  tables: Record<TableId, ITable>;
  eventBus: IEventBus;
  /** Ids of the state machines of this stack (shared/definitions/state-machines.ts). */
  stateMachineIds: readonly string[];
}

const taggedAsKvmHost = (conditionKey: string) => ({
  StringEquals: { [`${conditionKey}/${KVM_HOST_TAG.key}`]: KVM_HOST_TAG.value },
});

/** A statement, and why it names a wildcard resource when it does (cdk-nag acknowledges it with that). */
export interface AccessStatement {
  statement: PolicyStatement;
  wildcardReason?: string;
}

export function accessStatements(access: FunctionAccess, ctx: AccessContext): AccessStatement[] {
  const { stack } = ctx;
  const statements: AccessStatement[] = [];
  const allow = (
    props: { actions: string[]; resources: string[]; conditions?: Record<string, unknown> },
    wildcardReason?: string,
  ) => {
    const statement = new PolicyStatement({ effect: Effect.ALLOW, ...props });
    if (props.resources.some((r) => r.includes("*")) && !wildcardReason) {
      throw new Error(`wildcard resource for ${props.actions.join(", ")} needs a reason`);
    }
    statements.push({ statement, ...(wildcardReason ? { wildcardReason } : {}) });
  };

  for (const [id, level] of Object.entries(access.tables ?? {}) as [TableId, "read" | "write"][]) {
    const table = ctx.tables[id];
    allow({
      actions: [...(level === "write" ? TABLE_WRITE_ACTIONS : TABLE_READ_ACTIONS)],
      // The table and each of its indexes by name: no index/* wildcard.
      resources: [
        table.tableArn,
        ...TABLE_SPECS[id].globalIndexes.map((index) => `${table.tableArn}/index/${index.indexName}`),
      ],
    });
  }

  if (access.hostCommands) {
    // SendCommand is authorized on the document AND on every target: the document statement has no tag
    // condition (a document carries no host tag), the target statement admits only tagged hosts.
    allow({ actions: ["ssm:SendCommand"], resources: [awsDocumentArn(stack, HOST_COMMAND_DOCUMENT)] });
    allow(
      {
        actions: ["ssm:SendCommand"],
        resources: [managedInstancesArn(stack), ec2InstancesArn(stack)],
        conditions: taggedAsKvmHost("ssm:resourceTag"),
      },
      `ssm:SendCommand targets hosts by instance id: any instance of this account and region, only if tagged ${KVM_HOST_TAG.key}=${KVM_HOST_TAG.value} (condition)`,
    );
    allow(
      { actions: ["ssm:GetCommandInvocation", "ssm:CancelCommand"], resources: ["*"] },
      "ssm:GetCommandInvocation and ssm:CancelCommand have no resource-level permissions (they act on a command id)",
    );
  }

  if (access.describeHosts) {
    allow(
      { actions: ["ssm:DescribeInstanceInformation"], resources: ["*"] },
      "ssm:DescribeInstanceInformation has no resource-level permissions",
    );
    allow(
      { actions: ["ssm:ListTagsForResource"], resources: [managedInstancesArn(stack)] },
      "reads the tags of managed instances to tell Lazarus hosts from others (read only)",
    );
  }

  if (access.publishEvents) {
    allow({ actions: ["events:PutEvents"], resources: [ctx.eventBus.eventBusArn] });
  }

  if (access.startExecutions?.length) {
    for (const id of access.startExecutions) {
      if (!ctx.stateMachineIds.includes(id)) {
        throw new Error(`access.startExecutions names "${id}", which is not a state machine of this stack`);
      }
    }
    allow({
      actions: ["states:StartExecution"],
      resources: access.startExecutions.map((id) =>
        stateMachineArnFromName(stack, deployedName(ctx.prefix, id)),
      ),
    });
  }

  if (access.invokeFunctions?.length) {
    allow({
      actions: ["lambda:InvokeFunction"],
      // Functions are deployed under fixed names (`<prefix>-<id>`): their ARNs without a token cycle.
      resources: access.invokeFunctions.map((id) =>
        stack.formatArn({
          service: "lambda",
          resource: "function",
          resourceName: deployedName(ctx.prefix, id),
          arnFormat: ArnFormat.COLON_RESOURCE_NAME,
        }),
      ),
    });
  }

  if (access.readExecutions && ctx.stateMachineIds.length > 0) {
    const names = ctx.stateMachineIds.map((id) => deployedName(ctx.prefix, id));
    allow({
      actions: ["states:DescribeStateMachine", "states:ListExecutions"],
      resources: names.map((n) => stateMachineArnFromName(stack, n)),
    });
    allow(
      {
        actions: ["states:DescribeExecution", "states:GetExecutionHistory"],
        resources: names.map((n) => executionsArnFromName(stack, n)),
      },
      "executions are named at start time: any execution of Lazarus's own state machines (read only)",
    );
  }

  if (access.metrics) {
    // PutMetricData and GetMetricData have no resource-level permissions; the namespace condition keeps
    // writes to Lazarus's own metrics.
    allow(
      {
        actions: ["cloudwatch:PutMetricData"],
        resources: ["*"],
        conditions: { StringEquals: { "cloudwatch:namespace": HEARTBEAT_METRIC.namespace } },
      },
      `cloudwatch:PutMetricData has no resource-level permissions; the namespace condition keeps it to ${HEARTBEAT_METRIC.namespace}`,
    );
    allow(
      { actions: ["cloudwatch:GetMetricData"], resources: ["*"] },
      "cloudwatch:GetMetricData has no resource-level permissions (read only)",
    );
    allow(
      {
        actions: ["cloudwatch:DescribeAlarms"],
        resources: [alarmsArn(stack, `${heartbeatAlarmNamePrefix(ctx.prefix)}*`)],
      },
      "one alarm per configured host: every heartbeat alarm of this deployment by its name prefix (read only)",
    );
  }

  if (access.fence) {
    allow(
      {
        actions: ["ec2:StopInstances"],
        resources: [ec2InstancesArn(stack)],
        conditions: taggedAsKvmHost("aws:ResourceTag"),
      },
      `the fence stops the failed host by instance id: only instances tagged ${KVM_HOST_TAG.key}=${KVM_HOST_TAG.value} (condition)`,
    );
    allow(
      { actions: ["ec2:DescribeInstances"], resources: ["*"] },
      "confirms the fenced host is stopped; ec2:DescribeInstances has no resource-level permissions",
    );
  }
  if (access.powerOn) {
    allow(
      {
        actions: ["ec2:StartInstances"],
        resources: [ec2InstancesArn(stack)],
        conditions: taggedAsKvmHost("aws:ResourceTag"),
      },
      `an operator powers a repaired host on: only instances tagged ${KVM_HOST_TAG.key}=${KVM_HOST_TAG.value} (condition)`,
    );
  }

  return statements;
}
