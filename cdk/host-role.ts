/**
 * The KVM hosts' roles, `<prefix>-host` and one per `hostRole.groups` entry: what an SSM hybrid activation
 * hands its nodes (trusted by ssm.amazonaws.com for this account only) and the instance profile of EC2
 * hosts (ec2.amazonaws.com). `AmazonSSMManagedInstanceCore`
 * for the SSM agent, and exactly the statements of shared/definitions/host-role.ts: the host agent's calls,
 * a BMC-fencing delegate's read of the configured BMC password paths, and a deny of every other SSM
 * parameter (the managed policy would allow them all). No host can send a command, write a metric, touch a
 * table or start a flow.
 */
import { CfnOutput, Stack, Validations } from "aws-cdk-lib";
import {
  CfnInstanceProfile,
  Effect,
  ManagedPolicy,
  PolicyDocument,
  PolicyStatement,
  Role,
  ServicePrincipal,
} from "aws-cdk-lib/aws-iam";
import { Construct } from "constructs";
import {
  bmcCredentialStatements,
  type HostRoleScope,
  hostAgentStatements,
  hostRoleName,
  type IamStatement,
  parameterReadStatements,
} from "#shared/definitions/host-role.js";
import type { LazarusConfig } from "./config.js";
import { acknowledgeWildcards } from "./nag.js";

/** The AWS managed policy the SSM agent needs (AWS documents it for managed nodes). */
export const SSM_AGENT_POLICY = "AmazonSSMManagedInstanceCore";

/** One host role: its name's group (none: `<prefix>-host`) and the BMC password paths it may read. */
export interface HostRoleSpec {
  group?: string;
  bmcCredentialPaths: readonly string[];
}

/** Every host role the configuration asks for: `<prefix>-host`, then one per group. */
export function hostRoleSpecs(config: LazarusConfig): HostRoleSpec[] {
  return [
    { bmcCredentialPaths: config.hostRole.bmcCredentialPaths },
    ...config.hostRole.groups.map((g) => ({ group: g.name, bmcCredentialPaths: g.bmcCredentialPaths })),
  ];
}

export class HostRole extends Construct {
  readonly role: Role;
  readonly instanceProfile: CfnInstanceProfile;

  constructor(scope: Construct, id: string, props: { prefix: string; spec: HostRoleSpec }) {
    super(scope, id);
    const stack = Stack.of(this);
    const { prefix, spec } = props;
    const scopeOfStack: HostRoleScope = {
      prefix,
      partition: stack.partition,
      region: stack.region,
      account: stack.account,
    };
    const statements: IamStatement[] = [
      ...hostAgentStatements(scopeOfStack),
      ...bmcCredentialStatements(scopeOfStack, spec.bmcCredentialPaths),
      ...parameterReadStatements(scopeOfStack, spec.bmcCredentialPaths),
    ];
    const name = hostRoleName(prefix, spec.group);
    this.role = new Role(this, "role", {
      roleName: name,
      description: `Lazarus KVM hosts${spec.group ? ` of group ${spec.group}` : ""} (SSM hybrid activation / EC2 instance profile): the SSM agent, the host agent's heartbeats and reports, a delegate's BMC password read`,
      // A hybrid activation's service role, for this account's activations only (AWS's confused-deputy advice).
      assumedBy: new ServicePrincipal("ssm.amazonaws.com", {
        conditions: {
          StringEquals: { "aws:SourceAccount": stack.account },
          ArnLike: { "aws:SourceArn": `arn:${stack.partition}:ssm:${stack.region}:${stack.account}:*` },
        },
      }),
      managedPolicies: [ManagedPolicy.fromAwsManagedPolicyName(SSM_AGENT_POLICY)],
      inlinePolicies: {
        "lazarus-host": PolicyDocument.fromJson({ Version: "2012-10-17", Statement: statements }),
      },
    });
    // EC2 bare-metal hosts: the same role through their instance profile.
    this.role.assumeRolePolicy!.addStatements(
      new PolicyStatement({
        effect: Effect.ALLOW,
        actions: ["sts:AssumeRole"],
        principals: [new ServicePrincipal("ec2.amazonaws.com")],
      }),
    );
    this.instanceProfile = new CfnInstanceProfile(this, "instance-profile", {
      instanceProfileName: name,
      roles: [this.role.roleName],
    });
    // Output ids are alphanumeric: rack-a -> RackA.
    const suffix = (spec.group ?? "").replace(/(^|-)([a-z0-9])/g, (_, _dash: string, c: string) =>
      c.toUpperCase(),
    );
    new CfnOutput(stack, `HostRoleName${suffix}`, { value: this.role.roleName });
    new CfnOutput(stack, `HostInstanceProfileName${suffix}`, { value: this.instanceProfile.ref });

    Validations.of(this.role).acknowledge({
      id: `AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/${SSM_AGENT_POLICY}]`,
      reason: `The SSM agent on every host needs ${SSM_AGENT_POLICY}, the policy AWS documents for managed nodes`,
    });
    // Wildcards in what is allowed (a deny's wildcard takes power away).
    const wildcards = statements
      .filter(
        (st): st is Extract<IamStatement, { Resource: unknown }> => st.Effect === "Allow" && "Resource" in st,
      )
      .flatMap((st) =>
        [st.Resource].flat().map((resource) => ({ resource, reason: wildcardReason(st.Sid) })),
      );
    acknowledgeWildcards(
      this.role,
      wildcards.filter((w) => w.resource.includes("*")),
    );
  }
}

function wildcardReason(sid: string): string {
  switch (sid) {
    case "Heartbeats":
      return "Each host writes its own streams (named after the host) in the heartbeat log group only";
    case "OwnStatus":
      return "A host reads its own heartbeat alarm (named after the host) among the deployment's heartbeat alarms only";
    default:
      return "A delegate reads the BMC passwords under its role's configured paths only (hostRole.bmcCredentialPaths, hostRole.groups)";
  }
}
