/**
 * The REST API in front of the `api` function: every method behind IAM authorization (SigV4), access
 * logs in JSON, execution logs, X-Ray, stage throttling. Two managed policies for the people and tools
 * calling it, each allowing execute-api:Invoke on this API and nothing else, from the one definition of the
 * API's two roles (shared/definitions/api-access.ts, which the console's roles and the local gateway read):
 *  - `<prefix>-operator-read-only`: each route that only reads (servers, hosts, hypervisors, services,
 *    migrations, executions, a host's power log, evacuation plans): nothing changes;
 *  - `<prefix>-operator`: every route, each by method and path.
 */
import { RemovalPolicy, Validations } from "aws-cdk-lib";
import {
  AccessLogFormat,
  AuthorizationType,
  EndpointType,
  LambdaIntegration,
  LogGroupLogDestination,
  MethodLoggingLevel,
  ResponseType,
  RestApi,
} from "aws-cdk-lib/aws-apigateway";
import { Effect, ManagedPolicy, PolicyStatement } from "aws-cdk-lib/aws-iam";
import type { IFunction } from "aws-cdk-lib/aws-lambda";
import { LogGroup, type RetentionDays } from "aws-cdk-lib/aws-logs";
import { Construct } from "constructs";
import { type ApiAccess, executeApiResources } from "#shared/definitions/api-access.js";
import { REQUEST_TOO_LARGE } from "#shared/definitions/api-gateway.js";
import type { LazarusConfig } from "./config.js";
import { acknowledgeWildcards } from "./nag.js";

export const API_STAGE = "v1";
/**
 * The execute-api:Invoke ARNs of what `role` may call on this API's stage: `executeApiResources(role)` of the
 * one definition of the two roles (shared/definitions/api-access.ts). The operators' managed policies and the
 * console's roles (cdk/console.ts) are both made of these.
 */
export function executeApiArns(api: RestApi, stage: string, role: ApiAccess): string[] {
  return executeApiResources(role).map((r) => {
    const slash = r.indexOf("/");
    return api.arnForExecuteApi(r.slice(0, slash), r.slice(slash), stage);
  });
}

/** The managed policy CDK gives API Gateway's account-level logging role. */
const API_GATEWAY_LOGS_POLICY = "AmazonAPIGatewayPushToCloudWatchLogs";

export interface LazarusApiProps {
  handler: IFunction;
  config: LazarusConfig;
}

export class LazarusApi extends Construct {
  readonly api: RestApi;
  readonly operatorPolicy: ManagedPolicy;
  readonly readOnlyOperatorPolicy: ManagedPolicy;

  constructor(scope: Construct, id: string, props: LazarusApiProps) {
    super(scope, id);
    const { prefix, api: settings } = props.config;
    const accessLogs = new LogGroup(this, "access-logs", {
      logGroupName: `/aws/apigateway/${prefix}-api-access`,
      retention: props.config.logRetentionDays as RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.api = new RestApi(this, "api", {
      restApiName: `${prefix}-api`,
      description: "Lazarus: rebuild and evacuate KVM instances (SigV4-signed requests only)",
      endpointConfiguration: { types: [EndpointType.REGIONAL] },
      cloudWatchRole: settings.accountCloudWatchRole,
      cloudWatchRoleRemovalPolicy: RemovalPolicy.RETAIN,
      deployOptions: {
        stageName: API_STAGE,
        accessLogDestination: new LogGroupLogDestination(accessLogs),
        accessLogFormat: AccessLogFormat.jsonWithStandardFields(),
        loggingLevel: MethodLoggingLevel.INFO,
        dataTraceEnabled: false,
        metricsEnabled: true,
        tracingEnabled: true,
        throttlingRateLimit: settings.rateLimit,
        throttlingBurstLimit: settings.burstLimit,
      },
      defaultMethodOptions: { authorizationType: AuthorizationType.IAM },
      defaultIntegration: new LambdaIntegration(props.handler, { proxy: true }),
    });
    this.api.root.addMethod("ANY");
    this.api.root.addProxy({ anyMethod: true });

    // A body over the payload limit never reaches the function: the gateway answers nova's 413 itself, with
    // the version headers, as the local API server does (shared/definitions/api-gateway.ts).
    const { "content-type": _json, ...versionHeaders } = REQUEST_TOO_LARGE.headers;
    this.api.addGatewayResponse("request-too-large", {
      type: ResponseType.REQUEST_TOO_LARGE,
      statusCode: String(REQUEST_TOO_LARGE.status),
      responseHeaders: Object.fromEntries(
        Object.entries(versionHeaders).map(([name, value]) => [name, `'${value}'`]),
      ),
      templates: { "application/json": JSON.stringify(REQUEST_TOO_LARGE.body) },
    });

    // The two roles of shared/definitions/api-access.ts: each route once, by method and path.
    const reads = executeApiArns(this.api, API_STAGE, "read");
    const all = executeApiArns(this.api, API_STAGE, "operate");
    this.readOnlyOperatorPolicy = new ManagedPolicy(this, "read-only-operator-policy", {
      managedPolicyName: `${prefix}-operator-read-only`,
      description:
        "Read the Lazarus API (each route that only reads: servers, hosts, executions, power logs); changes nothing",
      statements: [
        new PolicyStatement({ effect: Effect.ALLOW, actions: ["execute-api:Invoke"], resources: reads }),
      ],
    });
    this.operatorPolicy = new ManagedPolicy(this, "operator-policy", {
      managedPolicyName: `${prefix}-operator`,
      description:
        "Call the Lazarus API: each route that reads, and each that acts (rebuild, evacuate, power, register, ...)",
      statements: [
        new PolicyStatement({ effect: Effect.ALLOW, actions: ["execute-api:Invoke"], resources: all }),
      ],
    });

    Validations.of(this.api).acknowledge({
      id: "AwsSolutions-APIG2",
      reason:
        "The API function validates every request body with zod and answers 400 with the field at fault",
    });
    Validations.of(this.api).acknowledge({
      id: "AwsSolutions-APIG3",
      reason:
        "Every method requires SigV4 (IAM) and the stage is throttled; a WAF web ACL can be associated " +
        "by the operator where the account uses one",
    });
    Validations.of(this.api).acknowledge({
      id: "AwsSolutions-COG4",
      reason: "Callers are operators and tools with IAM credentials: IAM authorization, not a Cognito pool",
    });
    const reason = (role: ApiAccess) =>
      `One API route of this stage by method (shared/definitions/api-access.ts, ${role}): \`*\` is its {id}/{host} segment and the optional /v2 or /v2.1 prefix`;
    acknowledgeWildcards(
      this.readOnlyOperatorPolicy,
      reads.map((resource) => ({ resource, reason: reason("read") })),
    );
    acknowledgeWildcards(
      this.operatorPolicy,
      all.map((resource) => ({ resource, reason: reason("operate") })),
    );
    if (settings.accountCloudWatchRole) {
      Validations.of(this.api).acknowledge({
        id: `AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/${API_GATEWAY_LOGS_POLICY}]`,
        reason:
          "API Gateway's account-level CloudWatch role (one per account and region) uses " +
          `${API_GATEWAY_LOGS_POLICY}, the policy AWS documents for it`,
      });
    }
  }
}
