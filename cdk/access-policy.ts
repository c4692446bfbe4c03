/**
 * A function's `access` (shared/definitions/functions.ts) turned into IAM statements: each adapter it lists
 * grants exactly the actions that adapter calls (shared/definitions/adapters.ts; a table, the actions its
 * stores call, TABLE_SPECS), on the resources its access names, and nothing comes from a managed policy.
 * Where a service has no resource-level permission for an action, the statement says so and uses "*"
 * (cdk-nag acknowledgements cite this file).
 */
import type { Stack } from "aws-cdk-lib";
import { ArnFormat } from "aws-cdk-lib";
import type { ITable } from "aws-cdk-lib/aws-dynamodb";
import type { IEventBus } from "aws-cdk-lib/aws-events";
import { Effect, PolicyStatement } from "aws-cdk-lib/aws-iam";
import { ADAPTERS, type AdapterId } from "#shared/definitions/adapters.js";
import type { FunctionAccess, TableAccess } from "#shared/definitions/functions.js";
import { heartbeatAlarmNamePrefix } from "#shared/definitions/heartbeat.js";
import { HOST_NAME_TAG_KEY, KVM_HOST_TAG } from "#shared/definitions/host-tag.js";
import { deployedName } from "#shared/definitions/state-machines.js";
import { TABLE_SPECS, type TableId } from "#shared/store/tables.js";
import { hostDocumentName } from "#ssm-documents/document.js";
import {
  alarmsArn,
  documentArn,
  ec2InstancesArn,
  executionsArnFromName,
  managedInstancesArn,
  stateMachineArnFromName,
} from "./arns.js";

/** The DynamoDB actions a table grants at a level: its stores' reads, and for "write" their writes too. */
export function tableActions(id: TableId, level: TableAccess): string[] {
  const { read, write, remove = [] } = TABLE_SPECS[id].actions;
  return [...read, ...(level !== "read" ? write : []), ...(level === "remove" ? remove : [])].map(
    (a) => `dynamodb:${a}`,
  );
}

const actionsOf = (adapter: AdapterId): string[] => [...ADAPTERS[adapter].actions];

export interface AccessContext {
  stack: Stack;
  prefix: string;
  tables: Record<TableId, ITable>;
  eventBus: IEventBus;
  /** Ids of the state machines of this stack (shared/definitions/state-machines.ts). */
  stateMachineIds: readonly string[];
  /** Ids of the host documents of this stack (ssm-documents/index.ts). */
  hostDocumentIds: readonly string[];
}

/** The name patterns of a deployment's per-host alarms (shared/metrics/host-alarms.ts creates them). */
export function hostAlarmNamePatterns(prefix: string): string[] {
  return [`${heartbeatAlarmNamePrefix(prefix)}*`];
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

  for (const [id, level] of Object.entries(access.tables ?? {}) as [TableId, TableAccess][]) {
    const table = ctx.tables[id];
    const actions = tableActions(id, level);
    if (actions.length === 0) continue;
    allow({
      actions,
      // The table and each of its indexes by name: no index/* wildcard.
      resources: [
        table.tableArn,
        ...TABLE_SPECS[id].globalIndexes.map((index) => `${table.tableArn}/index/${index.indexName}`),
      ],
    });
  }

  if (access.hostDocuments?.length) {
    const [send, ...follow] = actionsOf("hostCommands");
    for (const id of access.hostDocuments) {
      if (!ctx.hostDocumentIds.includes(id)) {
        throw new Error(`access.hostDocuments names "${id}", which is not a host document of this stack`);
      }
    }
    // SendCommand is authorized on the document AND on every target: the document statement names the
    // stack's own documents this function sends (never a shell document), the target statement admits only
    // tagged hosts.
    allow({
      actions: [send!],
      resources: access.hostDocuments.map((id) => documentArn(stack, hostDocumentName(ctx.prefix, id))),
    });
    allow(
      {
        actions: [send!],
        resources: [managedInstancesArn(stack), ec2InstancesArn(stack)],
        conditions: taggedAsKvmHost("ssm:resourceTag"),
      },
      `ssm:SendCommand targets hosts by instance id: any instance of this account and region, only if tagged ${KVM_HOST_TAG.key}=${KVM_HOST_TAG.value} (condition)`,
    );
    allow(
      { actions: follow, resources: ["*"] },
      "ssm:GetCommandInvocation and ssm:CancelCommand have no resource-level permissions (they act on a command id)",
    );
  }

  if (access.describeHosts) {
    allow(
      { actions: actionsOf("describeHosts"), resources: ["*"] },
      "ssm:DescribeInstanceInformation has no resource-level permissions (read only)",
    );
  }

  if (access.tagHosts) {
    allow(
      {
        actions: actionsOf("tagHosts"),
        resources: [managedInstancesArn(stack)],
        conditions: {
          ...taggedAsKvmHost("ssm:resourceTag"),
          "ForAllValues:StringEquals": { "aws:TagKeys": [HOST_NAME_TAG_KEY] },
        },
      },
      `tags a registered host's managed node by id: only nodes tagged ${KVM_HOST_TAG.key}=${KVM_HOST_TAG.value}, only the tag key ${HOST_NAME_TAG_KEY} (conditions)`,
    );
  }

  if (access.hostAlarms) {
    const names = hostAlarmNamePatterns(ctx.prefix);
    allow(
      { actions: actionsOf("hostAlarms"), resources: names.map((n) => alarmsArn(stack, n)) },
      `the hosts' own alarms only (${names.join(", ")}): one per registered host, named after it`,
    );
  }

  if (access.hostAlarmState) {
    const names = hostAlarmNamePatterns(ctx.prefix);
    allow(
      { actions: actionsOf("hostAlarmState"), resources: names.map((n) => alarmsArn(stack, n)) },
      `sets the hosts' own alarms to ALARM only (${names.join(", ")}) when the flow proved a host dead before its alarm fired`,
    );
  }

  if (access.publishEvents) {
    allow({ actions: actionsOf("publishEvents"), resources: [ctx.eventBus.eventBusArn] });
  }

  if (access.startExecutions?.length) {
    for (const id of access.startExecutions) {
      if (!ctx.stateMachineIds.includes(id)) {
        throw new Error(`access.startExecutions names "${id}", which is not a state machine of this stack`);
      }
    }
    allow({
      actions: actionsOf("startExecutions"),
      resources: access.startExecutions.map((id) =>
        stateMachineArnFromName(stack, deployedName(ctx.prefix, id)),
      ),
    });
  }

  if (access.invokeFunctions?.length) {
    allow({
      actions: actionsOf("invokeFunctions"),
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
    allow(
      {
        actions: actionsOf(access.readExecutions === "history" ? "executionHistory" : "executionStatus"),
        resources: names.map((n) => executionsArnFromName(stack, n)),
      },
      "executions are named at start time: any execution of Lazarus's own state machines (read only)",
    );
  }

  if (access.heartbeats) {
    allow(
      { actions: actionsOf("heartbeats"), resources: ["*"] },
      "cloudwatch:GetMetricData has no resource-level permissions (read only: no function writes a metric through the API)",
    );
  }

  if (access.fence) {
    // The stop is limited to tagged hosts; the read that confirms it has no resource-level permission.
    const stop: string[] = actionsOf("fence").filter((a) => a === "ec2:StopInstances");
    allow(
      {
        actions: stop,
        resources: [ec2InstancesArn(stack)],
        conditions: taggedAsKvmHost("aws:ResourceTag"),
      },
      `the fence stops the failed host by instance id: only instances tagged ${KVM_HOST_TAG.key}=${KVM_HOST_TAG.value} (condition)`,
    );
    allow(
      { actions: actionsOf("fence").filter((a) => !stop.includes(a)), resources: ["*"] },
      "confirms the fenced host is stopped; ec2:DescribeInstances has no resource-level permissions",
    );
  }
  if (access.powerOn) {
    allow(
      {
        actions: actionsOf("powerOn"),
        resources: [ec2InstancesArn(stack)],
        conditions: taggedAsKvmHost("aws:ResourceTag"),
      },
      `an operator powers a repaired host on: only instances tagged ${KVM_HOST_TAG.key}=${KVM_HOST_TAG.value} (condition)`,
    );
  }

  return statements;
}
