/**
 * What each adapter of the Lambdas calls in AWS, as IAM actions, and the modules that make those calls. A
 * function's role (cdk/access-policy.ts) gets exactly the actions of the adapters its `access` lists
 * (shared/definitions/functions.ts), and nothing else; test/unit/cdk/least-privilege.test.ts reads each
 * module and fails when it calls an action its adapter does not declare, or declares one it never calls.
 * The tables' actions are declared beside the tables (TABLE_SPECS `actions`), checked the same way against
 * the stores. Plain data: the CDK app reads it without importing an AWS client.
 */

export interface AdapterSpec {
  /** The modules (from the project root) whose SDK calls these are. */
  modules: readonly string[];
  actions: readonly string[];
}

export const ADAPTERS = {
  /** Host commands through SSM Run Command (shared/hosts/ssm-executor.ts). */
  hostCommands: {
    modules: ["shared/hosts/ssm-executor.ts"],
    actions: ["ssm:SendCommand", "ssm:GetCommandInvocation", "ssm:CancelCommand"],
  },
  /** Agent state and the KVM host tag of managed instances (registration). */
  describeHosts: {
    modules: ["shared/hosts/ssm-host-directory.ts"],
    actions: ["ssm:DescribeInstanceInformation"],
  },
  /** The host's name tag on its managed node (registration puts it, deregistration removes it). */
  tagHosts: {
    modules: ["shared/hosts/ssm-host-directory.ts"],
    actions: ["ssm:AddTagsToResource", "ssm:RemoveTagsFromResource"],
  },
  /** Each host's heartbeat alarm, its only alarm: registration creates it, deregistration deletes it. */
  hostAlarms: {
    modules: ["shared/metrics/host-alarms.ts"],
    actions: ["cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms"],
  },
  /** A host's heartbeat alarm set to ALARM once the flow proved the host dead (its return then starts recovery). */
  hostAlarmState: { modules: ["shared/metrics/host-alarms.ts"], actions: ["cloudwatch:SetAlarmState"] },
  /** nova's notifications and the operator alerts, on the Lazarus bus. */
  publishEvents: { modules: ["shared/notifications/put-event.ts"], actions: ["events:PutEvents"] },
  /** Starting a flow (one Step Functions adapter: start, status, history). */
  startExecutions: { modules: ["shared/lambda/sfn-executions.ts"], actions: ["states:StartExecution"] },
  /** Whether a flow's execution still runs (the sweeper). */
  executionStatus: { modules: ["shared/lambda/sfn-executions.ts"], actions: ["states:DescribeExecution"] },
  /** Executions and their histories (the API's views). */
  executionHistory: {
    modules: ["shared/lambda/sfn-executions.ts"],
    actions: ["states:DescribeExecution", "states:GetExecutionHistory"],
  },
  /** The hosts' heartbeat metric, read only. */
  heartbeats: { modules: ["shared/metrics/heartbeat-reader.ts"], actions: ["cloudwatch:GetMetricData"] },
  /** The `ec2` power fence of EC2 hosts: power off, and see it off. */
  fence: {
    modules: ["shared/hosts/power-fence.ts"],
    actions: ["ec2:StopInstances", "ec2:DescribeInstances"],
  },
  /** An operator's power-on of an EC2 host (the same adapter). */
  powerOn: { modules: ["shared/hosts/power-fence.ts"], actions: ["ec2:StartInstances"] },
  /** The API calling the inventory and host-power functions. */
  invokeFunctions: {
    modules: ["functions/api/inventory-client.ts", "functions/api/host-power-client.ts"],
    actions: ["lambda:InvokeFunction"],
  },
} as const satisfies Record<string, AdapterSpec>;

export type AdapterId = keyof typeof ADAPTERS;
