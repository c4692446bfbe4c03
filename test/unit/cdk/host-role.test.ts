/**
 * The KVM hosts' role (issue 30, from h-agent and h-ipmi): exactly shared/definitions/host-role.ts's
 * statements plus the SSM agent's managed policy; the host agent's code calls exactly the agent statements'
 * actions; a delegate may read BMC passwords only under the configured paths; docs/SECURITY.md shows the
 * same statements.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { SSM_AGENT_POLICY } from "#cdk/host-role.js";
import { wildcardMatch } from "#local/iam/host-policy.js";
import {
  bmcCredentialStatements,
  DOC_BMC_PATHS,
  DOC_SCOPE,
  HOST_EVENT_DETAIL_TYPES,
  type HostRoleScope,
  hostAgentStatements,
  type IamStatement,
  parameterReadStatements,
} from "#shared/definitions/host-role.js";
import { INSTANCE_MONITOR_EVENT } from "#shared/definitions/instance-failure.js";
import { PROJECT_ROOT } from "#shared/definitions/state-machines.js";
import { PEER_SILENT_EVENT } from "#shared/domain/host-failure.js";
import { DOMAIN_STOPPED_EVENT } from "#shared/domain/instance-failure.js";
import { sdkActionsOf } from "./code-reads.js";
import { asArray, flat, resourcesOfType, type Synthesized, synth } from "./synth.js";

const root = fileURLToPath(PROJECT_ROOT);
const read = (file: string) => readFileSync(join(root, file), "utf8");

/** The stack's scope as the template renders it (flat(): `<AWS::Partition>`). */
const STACK_SCOPE: HostRoleScope = {
  prefix: "lazarus",
  partition: "<AWS::Partition>",
  region: "eu-west-1",
  account: "123456789012",
};

function hostRole(s: Synthesized, name = "lazarus-host") {
  const roles = resourcesOfType(s, "AWS::IAM::Role").filter(([, r]) => r.Properties!.RoleName === name);
  expect(roles).toHaveLength(1);
  return roles[0]![1].Properties!;
}

/** Every statement value with its CloudFormation functions flattened (`<AWS::Partition>`). */
const flattened = (v: unknown): unknown =>
  Array.isArray(v)
    ? v.map(flattened)
    : v && typeof v === "object" && !("Fn::Join" in v) && !("Ref" in v)
      ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, flattened(x)]))
      : typeof v === "string"
        ? v
        : flat(v);

describe("the hosts' role", () => {
  it("holds the SSM agent's managed policy, exactly the host agent's statements and no parameter read (no BMC path configured)", () => {
    const p = hostRole(synth());
    expect(asArray(p.ManagedPolicyArns as unknown[]).map(flat)).toEqual([
      `arn:<AWS::Partition>:iam::aws:policy/${SSM_AGENT_POLICY}`,
    ]);
    const policies = p.Policies as { PolicyName: string; PolicyDocument: { Statement: unknown[] } }[];
    expect(policies.map((x) => x.PolicyName)).toEqual(["lazarus-host"]);
    expect(flattened(policies[0]!.PolicyDocument.Statement)).toEqual([
      ...hostAgentStatements(STACK_SCOPE),
      ...parameterReadStatements(STACK_SCOPE, []),
    ]);
    expect(parameterReadStatements(STACK_SCOPE, [])).toEqual([
      expect.objectContaining({ Effect: "Deny", Resource: "*" }),
    ]);
    // Assumed by hybrid activations of this account, and by EC2 (the instance profile).
    const trust = JSON.stringify(flattened(p.AssumeRolePolicyDocument));
    expect(trust).toContain("ssm.amazonaws.com");
    expect(trust).toContain("aws:SourceAccount");
    expect(trust).toContain("ec2.amazonaws.com");
    const profiles = resourcesOfType(synth(), "AWS::IAM::InstanceProfile");
    expect(profiles.map(([, r]) => r.Properties!.InstanceProfileName)).toEqual(["lazarus-host"]);
  });

  it("a delegate may read BMC passwords under the configured paths only", () => {
    const paths = ["lazarus/bmc/oob-a/", "lazarus/bmc/oob-b/"];
    const p = hostRole(synth({ config: { hostRole: { bmcCredentialPaths: paths } } }));
    const statements = (p.Policies as { PolicyDocument: { Statement: unknown[] } }[])[0]!.PolicyDocument
      .Statement;
    expect(flattened(statements)).toEqual([
      ...hostAgentStatements(STACK_SCOPE),
      ...bmcCredentialStatements(STACK_SCOPE, paths),
      ...parameterReadStatements(STACK_SCOPE, paths),
    ]);
    expect(JSON.stringify(flattened(statements))).toContain(
      "arn:<AWS::Partition>:secretsmanager:eu-west-1:123456789012:secret:lazarus/bmc/oob-a/*",
    );
  });

  it("denies every SSM parameter read but the BMC passwords under the configured paths", () => {
    // AmazonSSMManagedInstanceCore allows ssm:GetParameter(s) on "*": only an explicit deny takes that away.
    const paths = ["lazarus/bmc/oob-a/", "lazarus/bmc/oob-b/"];
    const arn = (name: string) => `arn:<AWS::Partition>:ssm:eu-west-1:123456789012:parameter/${name}`;
    const denied = (statements: readonly IamStatement[], action: string, resource: string) =>
      statements.some(
        (st) =>
          st.Effect === "Deny" &&
          asArray(st.Action).includes(action) &&
          ("Resource" in st
            ? asArray(st.Resource).some((r) => wildcardMatch(r, resource))
            : !asArray(st.NotResource).some((r) => wildcardMatch(r, resource))),
      );
    const withPaths = parameterReadStatements(STACK_SCOPE, paths);
    for (const action of ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"]) {
      expect(denied(withPaths, action, arn("app/prod/db-password")), action).toBe(true);
      expect(denied(withPaths, action, arn("lazarus/bmc/oob-c/host-9")), action).toBe(true);
      expect(denied(withPaths, action, arn("lazarus/bmc/oob-a/host-1")), action).toBe(false);
      expect(denied(withPaths, action, arn("lazarus/bmc/oob-b/host-2")), action).toBe(false);
      expect(denied(parameterReadStatements(STACK_SCOPE, []), action, arn("lazarus/bmc/oob-a/host-1"))).toBe(
        true,
      );
    }
    // What the deny spares is exactly what a delegate is allowed to read.
    const allowed = bmcCredentialStatements(STACK_SCOPE, paths).find(
      (st) => st.Sid === "BmcPasswordParameters",
    )!;
    expect("NotResource" in withPaths[0]! && asArray(withPaths[0].NotResource)).toEqual(
      "Resource" in allowed && asArray(allowed.Resource),
    );
  });

  it("a host may put exactly the events the host agent sends: source lazarus.host, its four detail types", () => {
    // Every DetailType the agent's code sets names one of the three event definitions...
    const detailTypes = new Set<string>();
    for (const f of readdirSync(join(root, "host-agent"), { withFileTypes: true, recursive: true })) {
      if (!f.isFile() || !f.name.endsWith(".ts") || f.parentPath.includes("node_modules")) continue;
      for (const m of readFileSync(join(f.parentPath, f.name), "utf8").matchAll(/DetailType:\s*([^,\n]+)/g))
        detailTypes.add(m[1]!.trim());
    }
    expect([...detailTypes].sort()).toEqual([
      "DOMAIN_STOPPED_EVENT.detailType",
      "INSTANCE_MONITOR_EVENT.detailType[health]",
      "PEER_SILENT_EVENT.detailType",
    ]);
    // ...and the role allows every value those can take, nothing else.
    const reports = hostAgentStatements(STACK_SCOPE).find((st) => st.Action === "events:PutEvents")!;
    expect(reports.Condition?.StringEquals?.["events:source"]).toBe(DOMAIN_STOPPED_EVENT.source);
    expect(INSTANCE_MONITOR_EVENT.source).toBe(DOMAIN_STOPPED_EVENT.source);
    expect(PEER_SILENT_EVENT.source).toBe(DOMAIN_STOPPED_EVENT.source);
    const sent = [
      DOMAIN_STOPPED_EVENT.detailType,
      PEER_SILENT_EVENT.detailType,
      ...Object.values(INSTANCE_MONITOR_EVENT.detailType),
    ].sort();
    expect([...asArray(reports.Condition!.StringEquals!["events:detail-type"]!)].sort()).toEqual(sent);
    expect([...HOST_EVENT_DETAIL_TYPES].sort()).toEqual(sent);
  });

  it("a group of hosts gets a role of its own that reads its own networks' passwords only", () => {
    const s = synth({
      config: {
        hostRole: {
          bmcCredentialPaths: ["lazarus/bmc/oob-a/"],
          groups: [
            { name: "rack-b", bmcCredentialPaths: ["lazarus/bmc/oob-b/"] },
            { name: "rack-c", bmcCredentialPaths: ["lazarus/bmc/oob-c/", "lazarus/bmc/oob-d/"] },
          ],
        },
      },
    });
    const statementsOf = (name: string) =>
      flattened(
        (hostRole(s, name).Policies as { PolicyDocument: { Statement: unknown[] } }[])[0]!.PolicyDocument
          .Statement,
      );
    // CloudFormation writes a one-element list as the element alone.
    const single = (st: IamStatement) =>
      Object.fromEntries(
        Object.entries(st).map(([k, v]) => [k, Array.isArray(v) && v.length === 1 ? v[0] : v]),
      );
    const expected = (paths: string[]) =>
      [
        ...hostAgentStatements(STACK_SCOPE),
        ...bmcCredentialStatements(STACK_SCOPE, paths),
        ...parameterReadStatements(STACK_SCOPE, paths),
      ].map(single);
    expect(statementsOf("lazarus-host")).toEqual(expected(["lazarus/bmc/oob-a/"]));
    expect(statementsOf("lazarus-host-rack-b")).toEqual(expected(["lazarus/bmc/oob-b/"]));
    expect(statementsOf("lazarus-host-rack-c")).toEqual(
      expected(["lazarus/bmc/oob-c/", "lazarus/bmc/oob-d/"]),
    );
    // rack-b's role names no other network's path, in what it allows or what its deny spares.
    const rackB = JSON.stringify(statementsOf("lazarus-host-rack-b"));
    for (const other of ["oob-a", "oob-c", "oob-d"]) expect(rackB).not.toContain(other);
    const profiles = resourcesOfType(s, "AWS::IAM::InstanceProfile").map(
      ([, r]) => r.Properties!.InstanceProfileName,
    );
    expect(profiles.sort()).toEqual(["lazarus-host", "lazarus-host-rack-b", "lazarus-host-rack-c"]);
    const outputs = Object.keys((s.json as { Outputs?: Record<string, unknown> }).Outputs ?? {});
    for (const o of [
      "HostRoleName",
      "HostRoleNameRackB",
      "HostRoleNameRackC",
      "HostInstanceProfileNameRackC",
    ])
      expect(outputs).toContain(o);
  });

  it("a group name that is not one, a group without a path or a repeated group is refused at synth", () => {
    const group = (name: string, paths = ["lazarus/bmc/oob-b/"]) => ({ name, bmcCredentialPaths: paths });
    for (const groups of [[group("Rack_B")], [group("")], [group("rack-b", [])], [group("r"), group("r")]]) {
      expect(() => synth({ config: { hostRole: { groups } } }), JSON.stringify(groups)).toThrow();
    }
  });

  it("a path that is not one is refused at synth", () => {
    for (const bad of ["/lazarus/bmc/", "lazarus/*", "lazarus/bmc"]) {
      expect(() => synth({ config: { hostRole: { bmcCredentialPaths: [bad] } } }), bad).toThrow();
    }
  });

  it("the host agent's code calls exactly the actions the agent statements allow", () => {
    const called = new Set<string>();
    for (const f of readdirSync(join(root, "host-agent"), { withFileTypes: true, recursive: true })) {
      if (!f.isFile() || !f.name.endsWith(".ts") || f.parentPath.includes("node_modules")) continue;
      for (const a of sdkActionsOf(readFileSync(join(f.parentPath, f.name), "utf8"))) called.add(a);
    }
    const allowed = hostAgentStatements(STACK_SCOPE).flatMap((st) => asArray(st.Action));
    expect([...called].sort()).toEqual([...allowed].sort());
  });
});

describe("docs/SECURITY.md's host policies", () => {
  const blocks = [...read("docs/SECURITY.md").matchAll(/```json\n([\s\S]*?)```/g)].map(
    (m) => JSON.parse(m[1]!) as { Statement?: { Sid?: string }[] },
  );
  const withSid = (sid: string) => blocks.filter((b) => b.Statement?.[0]?.Sid === sid);

  it("the host role's statements are the code's", () => {
    expect(withSid("Heartbeats")).toEqual([
      { Version: "2012-10-17", Statement: hostAgentStatements(DOC_SCOPE) },
    ]);
  });

  it("the deny of every other parameter is the code's", () => {
    expect(withSid("NoParameters")).toEqual([
      { Version: "2012-10-17", Statement: parameterReadStatements(DOC_SCOPE, DOC_BMC_PATHS) },
    ]);
  });

  it("a delegate's BMC password read is the code's", () => {
    expect(withSid("BmcPasswordSecrets")).toEqual([
      { Version: "2012-10-17", Statement: bmcCredentialStatements(DOC_SCOPE, DOC_BMC_PATHS) },
    ]);
  });
});
