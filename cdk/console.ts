/**
 * The web console in AWS, served by the API itself (one origin: no CORS, and the console calls exactly
 * the API the CLI calls):
 *  - its four files (page, script, style, config) as `GET /console/<file>` methods whose mock integrations
 *    answer with the file (built at synth): no bucket, no function; the only unauthenticated methods of the
 *    API, static files without data (`GET /console` leads to the page);
 *  - a Cognito user pool (no self sign-up, MFA required, its managed login with PKCE) with the groups
 *    `operator` and `read-only`, and an identity pool that gives a signed-in user the temporary
 *    credentials of their group's IAM role;
 *  - the two roles' policies: `execute-api:Invoke` on the routes shared/definitions/api-access.ts gives
 *    each role (the read-only one only the reads), so API Gateway's IAM authorization refuses the rest;
 *    the same definition the operator and read-only IAM policies for other callers derive from;
 *  - the API's refusals of unsigned and unauthorized requests as nova's 403 fault (gateway responses).
 * Wired into the stack with one line (lazarus-stack.ts); docs/DEPLOY.md says how to add users.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CfnOutput, Duration, RemovalPolicy, Stack, Validations } from "aws-cdk-lib";
import {
  AuthorizationType,
  MockIntegration,
  PassthroughBehavior,
  ResponseType,
  type RestApi,
} from "aws-cdk-lib/aws-apigateway";
import {
  AccountRecovery,
  CfnUserPoolGroup,
  Mfa,
  OAuthScope,
  UserPool,
  type UserPoolClient,
} from "aws-cdk-lib/aws-cognito";
import {
  IdentityPool,
  IdentityPoolProviderUrl,
  UserPoolAuthenticationProvider,
} from "aws-cdk-lib/aws-cognito-identitypool";
import { Effect, FederatedPrincipal, PolicyStatement, Role } from "aws-cdk-lib/aws-iam";
import { Construct } from "constructs";
import {
  type ApiAccess,
  CONSOLE_GROUPS,
  consoleRoleName,
  executeApiResources,
  GATEWAY_REFUSAL_TEMPLATES,
} from "#shared/definitions/api-access.js";
import {
  type CONSOLE_FILES,
  CONSOLE_PATH,
  type ConsoleConfig,
  consoleContentSecurityPolicy,
  contentTypeOf,
} from "#shared/definitions/console.js";
import { buildConsoleInto, withPolicy } from "../console/build.js";
import { acknowledgeWildcards } from "./nag.js";

export interface LazarusConsoleProps {
  api: RestApi;
  /** The API's stage: the console is at `/<stage>/console/index.html`. */
  stage: string;
  prefix: string;
  /** How often the console's views look for changes, ms (API Gateway and Step Functions reads per view). */
  pollMs?: number;
}

/**
 * Headers of every console file. Its Content-Security-Policy is in the page's meta element (an API
 * Gateway header value is a single-quoted literal, and the policy's keywords are quoted): framing is
 * refused here instead, as CSP's frame-ancestors would.
 */
const SECURITY_HEADERS = {
  "method.response.header.X-Content-Type-Options": "'nosniff'",
  "method.response.header.X-Frame-Options": "'DENY'",
  "method.response.header.Referrer-Policy": "'no-referrer'",
  "method.response.header.Cache-Control": "'no-cache'",
};

/** API Gateway's limit on one mapping template (a console file is served as one). */
const MAPPING_TEMPLATE_LIMIT = 300 * 1024;

/** The console's files as text (built at synth: esbuild, well under a second). */
function buildConsoleFiles(): Map<string, string> {
  const dir = mkdtempSync(join(tmpdir(), "lazarus-console-"));
  try {
    buildConsoleInto(dir);
    return new Map(["index.html", "app.js", "app.css"].map((n) => [n, readFileSync(join(dir, n), "utf8")]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A mapping template that is the text itself: refused if VTL would read anything in it ($, #). */
function vtlSafe(name: string, text: string): string {
  // Deploy-time values (tokens) are ids and URLs; the rest is checked.
  if (/[$#]/.test(text.replace(/\$\{Token\[[^\]]+\]\}/g, "")))
    throw new Error(`console ${name} holds $ or #, which API Gateway's templates would interpret`);
  return text;
}

/** A mapping template that writes `text` out of base64 (whatever it holds). */
function decoded(name: string, text: string): string {
  const template = `$util.base64Decode("${Buffer.from(text, "utf8").toString("base64")}")`;
  if (template.length > MAPPING_TEMPLATE_LIMIT)
    throw new Error(
      `console ${name} is ${template.length} bytes as a template: over API Gateway's ${MAPPING_TEMPLATE_LIMIT}`,
    );
  return template;
}

export class LazarusConsole extends Construct {
  readonly userPool: UserPool;
  readonly client: UserPoolClient;
  readonly identityPool: IdentityPool;
  readonly roles: Record<ApiAccess, Role>;
  readonly url: string;

  constructor(scope: Construct, id: string, props: LazarusConsoleProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const { api, stage, prefix } = props;
    const apiUrl = `https://${api.restApiId}.execute-api.${stack.region}.${stack.urlSuffix}/${stage}`;
    this.url = `${apiUrl}${CONSOLE_PATH}/index.html`;

    // ---- who signs in -------------------------------------------------------------------------------
    this.userPool = new UserPool(this, "users", {
      userPoolName: `${prefix}-console`,
      selfSignUpEnabled: false,
      signInAliases: { username: true },
      mfa: Mfa.REQUIRED,
      mfaSecondFactor: { otp: true, sms: false },
      passwordPolicy: {
        minLength: 14,
        requireLowercase: true,
        requireUppercase: true,
        requireDigits: true,
        requireSymbols: true,
        tempPasswordValidity: Duration.days(3),
      },
      accountRecovery: AccountRecovery.NONE,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(this.userPool).acknowledge({
      id: "AwsSolutions-COG8",
      reason:
        "The Plus feature plan (threat protection) is a per-user charge left to the deployer (docs/DEPLOY.md); sign-in already requires MFA (TOTP), and every API call is SigV4 with an hour's role session",
    });
    const domain = this.userPool.addDomain("login", {
      cognitoDomain: { domainPrefix: `${prefix}-console-${stack.account}` },
    });
    this.client = this.userPool.addClient("console", {
      userPoolClientName: `${prefix}-console`,
      generateSecret: false,
      authFlows: { userSrp: true },
      oAuth: {
        flows: { authorizationCodeGrant: true },
        scopes: [OAuthScope.OPENID, OAuthScope.PROFILE],
        callbackUrls: [this.url],
        logoutUrls: [this.url],
      },
      preventUserExistenceErrors: true,
      idTokenValidity: Duration.hours(1),
      accessTokenValidity: Duration.hours(1),
      refreshTokenValidity: Duration.hours(12),
      enableTokenRevocation: true,
    });
    this.identityPool = new IdentityPool(this, "identities", {
      identityPoolName: `${prefix}-console`,
      allowUnauthenticatedIdentities: false,
      authenticationProviders: {
        userPools: [
          new UserPoolAuthenticationProvider({ userPool: this.userPool, userPoolClient: this.client }),
        ],
      },
      // The role is the one the user's group names (cognito:preferred_role); a user in no group gets none.
      roleMappings: [
        {
          providerUrl: IdentityPoolProviderUrl.userPool(this.userPool, this.client),
          mappingKey: "console",
          useToken: true,
          resolveAmbiguousRoles: false,
        },
      ],
    });

    // ---- what each role may call: shared/definitions/api-access.ts -------------------------------------
    const role = (access: ApiAccess) => {
      const r = new Role(this, `${CONSOLE_GROUPS[access]}-role`, {
        roleName: consoleRoleName(prefix, access),
        description: `Lazarus console, ${CONSOLE_GROUPS[access]}: the API routes shared/definitions/api-access.ts gives it`,
        maxSessionDuration: Duration.hours(1),
        assumedBy: new FederatedPrincipal(
          "cognito-identity.amazonaws.com",
          {
            StringEquals: { "cognito-identity.amazonaws.com:aud": this.identityPool.identityPoolId },
            "ForAnyValue:StringLike": { "cognito-identity.amazonaws.com:amr": "authenticated" },
          },
          "sts:AssumeRoleWithWebIdentity",
        ),
      });
      const resources = executeApiResources(access).map((r) => {
        const slash = r.indexOf("/");
        return api.arnForExecuteApi(r.slice(0, slash), r.slice(slash), stage);
      });
      r.addToPolicy(
        new PolicyStatement({ effect: Effect.ALLOW, actions: ["execute-api:Invoke"], resources }),
      );
      acknowledgeWildcards(
        r,
        resources.map((resource) => ({
          resource,
          reason: `An API route with a path parameter (shared/definitions/api-access.ts): execute-api:Invoke of one route for the ${CONSOLE_GROUPS[access]} role`,
        })),
      );
      new CfnUserPoolGroup(this, `${CONSOLE_GROUPS[access]}-group`, {
        userPoolId: this.userPool.userPoolId,
        groupName: CONSOLE_GROUPS[access],
        description: `Lazarus console: ${access === "operate" ? "every view and every action" : "every view, no action"}`,
        roleArn: r.roleArn,
        precedence: access === "operate" ? 0 : 1,
      });
      return r;
    };
    this.roles = { operate: role("operate"), read: role("read") };

    // The API's refusals as nova's 403 fault, for the console and every other caller alike.
    api.addGatewayResponse("access-denied", {
      type: ResponseType.ACCESS_DENIED,
      statusCode: "403",
      templates: { "application/json": GATEWAY_REFUSAL_TEMPLATES.accessDenied },
    });
    api.addGatewayResponse("missing-authentication", {
      type: ResponseType.MISSING_AUTHENTICATION_TOKEN,
      statusCode: "403",
      templates: { "application/json": GATEWAY_REFUSAL_TEMPLATES.missingAuthentication },
    });

    // ---- the files, served by the API itself -------------------------------------------------------------
    const config: ConsoleConfig = {
      apiUrl,
      region: stack.region,
      auth: {
        loginUrl: domain.baseUrl(),
        clientId: this.client.userPoolClientId,
        userPoolId: this.userPool.userPoolId,
        identityPoolId: this.identityPool.identityPoolId,
        identityUrl: `https://cognito-identity.${stack.region}.${stack.urlSuffix}/`,
        redirectUri: this.url,
      },
      pollMs: props.pollMs ?? 2000,
    };
    const built = buildConsoleFiles();
    const files = api.root.addResource(CONSOLE_PATH.slice(1));
    // `/console` leads to the page (its relative links need the folder).
    files.addMethod(
      "GET",
      new MockIntegration({
        requestTemplates: { "application/json": '{"statusCode": 302}' },
        passthroughBehavior: PassthroughBehavior.NEVER,
        integrationResponses: [
          {
            statusCode: "302",
            responseParameters: {
              "method.response.header.Location": `'/${stage}${CONSOLE_PATH}/index.html'`,
            },
          },
        ],
      }),
      {
        authorizationType: AuthorizationType.NONE,
        methodResponses: [
          { statusCode: "302", responseParameters: { "method.response.header.Location": true } },
        ],
      },
    );
    const serve = (name: (typeof CONSOLE_FILES)[number], body: string) => {
      const headers = {
        ...SECURITY_HEADERS,
        "method.response.header.Content-Type": `'${contentTypeOf(name)}'`,
      };
      files.addResource(name).addMethod(
        "GET",
        new MockIntegration({
          requestTemplates: { "application/json": '{"statusCode": 200}' },
          passthroughBehavior: PassthroughBehavior.NEVER,
          integrationResponses: [
            {
              statusCode: "200",
              responseParameters: headers,
              responseTemplates: { "application/json": body },
            },
          ],
        }),
        {
          authorizationType: AuthorizationType.NONE,
          methodResponses: [
            {
              statusCode: "200",
              responseParameters: Object.fromEntries(Object.keys(headers).map((h) => [h, true])),
            },
          ],
        },
      );
    };
    // The page and the config hold no VTL (checked); the bundle and the style go through base64.
    serve(
      "index.html",
      vtlSafe("index.html", withPolicy(built.get("index.html")!, consoleContentSecurityPolicy(config.auth))),
    );
    serve("config.json", vtlSafe("config.json", JSON.stringify(config)));
    for (const name of ["app.js", "app.css"] as const) serve(name, decoded(name, built.get(name)!));
    Validations.of(files).acknowledge({
      id: "AwsSolutions-APIG4",
      reason:
        "The console's static files (page, script, style, its public config): no data; every API route it calls requires SigV4 from a Cognito-issued role",
    });

    new CfnOutput(stack, "ConsoleUrl", { value: this.url });
    new CfnOutput(stack, "ConsoleUserPoolId", { value: this.userPool.userPoolId });
    new CfnOutput(stack, "ConsoleOperatorRoleArn", { value: this.roles.operate.roleArn });
    new CfnOutput(stack, "ConsoleReadOnlyRoleArn", { value: this.roles.read.roleArn });
  }
}
