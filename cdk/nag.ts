/**
 * cdk-nag 3 runs as a policy-validation plugin (not an Aspect): errors fail `cdk synth` and are written
 * to cdk.out/validation-report.json. Acknowledgements sit next to the constructs they concern, each with
 * its reason (Validations.of(construct).acknowledge); wildcard resources are acknowledged one finding at a
 * time, so a new wildcard is an error until someone states why it is needed.
 */
import { type App, Stack, Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks, ServerlessChecks } from "cdk-nag";
// The exact rendering cdk-nag uses for resources in IAM5 finding ids (`<AWS::Partition>`, `<Id.Arn>`).
import { flattenCfnReference } from "cdk-nag/lib/utils/flatten-cfn-reference.js";
import type { IConstruct } from "constructs";

export function nagPacks(app: App) {
  return [new AwsSolutionsChecks(app), new ServerlessChecks(app)];
}

export function addNagChecks(app: App): void {
  Validations.of(app).addPlugins(...nagPacks(app));
}

/** The id of cdk-nag's IAM5 finding for one wildcard resource. */
export function wildcardFinding(scope: IConstruct, resource: string): string {
  return `AwsSolutions-IAM5[Resource::${flattenCfnReference(Stack.of(scope).resolve(resource))}]`;
}

/** Acknowledge each wildcard resource on `scope` (a role, a policy, or a construct above it), with reasons. */
export function acknowledgeWildcards(
  scope: IConstruct,
  wildcards: readonly { resource: string; reason: string }[],
): void {
  const reasons = new Map<string, Set<string>>();
  for (const w of wildcards) {
    const id = wildcardFinding(scope, w.resource);
    reasons.set(id, (reasons.get(id) ?? new Set()).add(w.reason));
  }
  for (const [id, why] of reasons) Validations.of(scope).acknowledge({ id, reason: [...why].join("; ") });
}

export const XRAY_WILDCARD = {
  resource: "*",
  reason: "X-Ray tracing: xray:PutTraceSegments/PutTelemetryRecords have no resource-level permissions",
};
