/**
 * The console in the stack (cdk/console.ts): its files served by the API without authorization and only
 * them (mock integrations holding the built files, the page with its Content-Security-Policy); a user pool
 * that only an administrator fills, with MFA and the code flow back to the console; an identity pool that
 * gives each group's role (none for a user in no group); the two roles allowed exactly the routes
 * shared/definitions/api-access.ts gives them; the API's refusals as nova's 403 fault.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { executeApiResources, GATEWAY_REFUSAL_TEMPLATES } from "#shared/definitions/api-access.js";
import { buildConsole } from "../../../console/build.js";
import { flat, type Resource, resourcesOfType, type Synthesized, synth } from "./synth.js";

let s: Synthesized;
beforeAll(() => {
  s = synth();
});

const props = (r: Resource) => r.Properties as Record<string, unknown>;
const one = (type: string) => {
  const all = resourcesOfType(s, type);
  expect(all, type).toHaveLength(1);
  return props(all[0]![1]);
};

describe("the console's files, served by the API", () => {
  it("are GET methods without authorization, mock integrations, at /console and its four files only", () => {
    const resources = new Map(
      resourcesOfType(s, "AWS::ApiGateway::Resource").map(([id, r]) => [id, String(props(r).PathPart)]),
    );
    const open = resourcesOfType(s, "AWS::ApiGateway::Method").filter(
      ([, m]) => props(m).AuthorizationType !== "AWS_IAM",
    );
    const paths = open.map(([, m]) => {
      const p = props(m);
      expect(p.AuthorizationType).toBe("NONE");
      expect(p.HttpMethod).toBe("GET");
      expect((p.Integration as { Type: string }).Type).toBe("MOCK");
      return resources.get((p.ResourceId as { Ref: string }).Ref);
    });
    expect(paths.sort()).toEqual(["app.css", "app.js", "config.json", "console", "index.html"]);
  });

  it("serve the built files: the page with its policy (the sign-in origins), the bundle out of base64", async () => {
    const templateOf = (part: string) => {
      const resource = resourcesOfType(s, "AWS::ApiGateway::Resource").find(
        ([, r]) => props(r).PathPart === part,
      )![0];
      const method = resourcesOfType(s, "AWS::ApiGateway::Method").find(
        ([, m]) => (props(m).ResourceId as { Ref: string }).Ref === resource,
      )![1];
      const response = (
        props(method).Integration as {
          IntegrationResponses: {
            ResponseTemplates: Record<string, unknown>;
            ResponseParameters: Record<string, string>;
          }[];
        }
      ).IntegrationResponses[0]!;
      return {
        body: flat(response.ResponseTemplates["application/json"]),
        headers: response.ResponseParameters,
      };
    };
    const built = await buildConsole();
    const js = templateOf("app.js");
    const encoded = /^\$util\.base64Decode\("([A-Za-z0-9+/=]+)"\)$/.exec(js.body)![1]!;
    expect(Buffer.from(encoded, "base64")).toEqual(built.get("app.js"));
    expect(js.headers["method.response.header.Content-Type"]).toBe("'text/javascript; charset=utf-8'");
    expect(js.headers["method.response.header.X-Frame-Options"]).toBe("'DENY'");
    const page = templateOf("index.html");
    expect(page.body).toContain('<meta http-equiv="Content-Security-Policy" content="default-src');
    expect(page.body).toMatch(
      /connect-src 'self' https:\/\/.*amazoncognito\.com.* https:\/\/cognito-identity\.eu-west-1\./,
    );
    expect(page.body).not.toContain("{{content-security-policy}}");
    const config = templateOf("config.json").body;
    expect(config).toContain('"region":"eu-west-1"');
    expect(config).toContain("/v1/console/index.html");
  });
});

describe("who signs in, and as what", () => {
  it("a user pool only administrators fill, with MFA and the code flow back to the console", () => {
    const pool = one("AWS::Cognito::UserPool");
    expect(pool.MfaConfiguration).toBe("ON");
    expect(pool.AdminCreateUserConfig).toEqual({ AllowAdminCreateUserOnly: true });
    const client = one("AWS::Cognito::UserPoolClient");
    expect(client.GenerateSecret).toBe(false);
    expect(client.AllowedOAuthFlows).toEqual(["code"]);
    expect(flat((client.CallbackURLs as unknown[])[0])).toMatch(/\/v1\/console\/index\.html$/);
    const groups = resourcesOfType(s, "AWS::Cognito::UserPoolGroup").map(([, g]) => props(g).GroupName);
    expect(groups.sort()).toEqual(["operator", "read-only"]);
  });

  it("an identity pool for signed-in users only, the role their group names, none without a group", () => {
    const pool = one("AWS::Cognito::IdentityPool");
    expect(pool.AllowUnauthenticatedIdentities).toBe(false);
    const attachment = one("AWS::Cognito::IdentityPoolRoleAttachment");
    const mappings = Object.values(attachment.RoleMappings as Record<string, Record<string, unknown>>);
    expect(mappings).toEqual([expect.objectContaining({ Type: "Token", AmbiguousRoleResolution: "Deny" })]);
  });

  it("each role may call exactly its routes of api-access.ts, assumed only through the identity pool", () => {
    const roles = resourcesOfType(s, "AWS::IAM::Role").filter(([, r]) =>
      String(props(r).RoleName ?? "").startsWith("lazarus-console-"),
    );
    expect(roles.map(([, r]) => props(r).RoleName).sort()).toEqual([
      "lazarus-console-operator",
      "lazarus-console-read-only",
    ]);
    const policies = resourcesOfType(s, "AWS::IAM::Policy");
    for (const [id, role] of roles) {
      const trust = JSON.stringify(props(role).AssumeRolePolicyDocument);
      expect(trust).toContain("cognito-identity.amazonaws.com:aud");
      expect(trust).toContain('"cognito-identity.amazonaws.com:amr":"authenticated"');
      const policy = policies.find(([, p]) => JSON.stringify(props(p).Roles).includes(id))![1];
      const statements = (
        props(policy).PolicyDocument as { Statement: { Action: string; Resource: unknown[] }[] }
      ).Statement;
      expect(statements.map((st) => st.Action)).toEqual(["execute-api:Invoke"]);
      const access = props(role).RoleName === "lazarus-console-operator" ? "operate" : "read";
      const suffixes = statements[0]!.Resource.map((r) => flat(r).replace(/^.*\/v1\//, ""));
      expect(suffixes).toEqual(executeApiResources(access));
    }
  });

  it("the API answers an unsigned or unauthorized request with nova's 403 fault", () => {
    const responses = resourcesOfType(s, "AWS::ApiGateway::GatewayResponse").map(([, r]) => props(r));
    const template = (type: string) =>
      (responses.find((r) => r.ResponseType === type)!.ResponseTemplates as Record<string, string>)[
        "application/json"
      ];
    expect(template("ACCESS_DENIED")).toBe(GATEWAY_REFUSAL_TEMPLATES.accessDenied);
    expect(template("MISSING_AUTHENTICATION_TOKEN")).toBe(GATEWAY_REFUSAL_TEMPLATES.missingAuthentication);
  });
});
