/**
 * ARNs built from names, not from resource tokens: a function may need a state machine's ARN while that
 * machine's definition needs the function's ARN, and names break that cycle.
 */
import { ArnFormat, type Stack } from "aws-cdk-lib";

export function stateMachineArnFromName(stack: Stack, name: string): string {
  return stack.formatArn({
    service: "states",
    resource: "stateMachine",
    resourceName: name,
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
}

/** Every execution of the named machine (execution names are chosen at start time). */
export function executionsArnFromName(stack: Stack, name: string): string {
  return stack.formatArn({
    service: "states",
    resource: "execution",
    resourceName: `${name}:*`,
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
}

/** SSM managed instances (hybrid activations, `mi-...`) and EC2 instances of this account and region. */
export function managedInstancesArn(stack: Stack): string {
  return stack.formatArn({ service: "ssm", resource: "managed-instance", resourceName: "*" });
}

export function ec2InstancesArn(stack: Stack): string {
  return stack.formatArn({ service: "ec2", resource: "instance", resourceName: "*" });
}

/** An SSM document of this account and region (the stack's own host documents). */
export function documentArn(stack: Stack, document: string): string {
  return stack.formatArn({ service: "ssm", resource: "document", resourceName: document });
}

export function alarmsArn(stack: Stack, namePattern: string): string {
  return stack.formatArn({
    service: "cloudwatch",
    resource: "alarm",
    resourceName: namePattern,
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
}

/** The managed rule Step Functions creates to follow a child execution (`startExecution.sync`). */
export function syncExecutionRuleArn(stack: Stack): string {
  return stack.formatArn({
    service: "events",
    resource: "rule",
    resourceName: "StepFunctionsGetEventsForStepFunctionsExecutionRule",
  });
}
