/**
 * The REST API in front of the `api` function: every method behind IAM authorization (SigV4), access
 * logs in JSON, execution logs, X-Ray, stage throttling. Two managed policies for the people and tools
 * calling it, each allowing execute-api:Invoke on this API and nothing else:
 *  - `<prefix>-operator-read-only`: every GET (servers, hosts, hypervisors, services, migrations,
 *    executions, a host's power log, evacuation plans): nothing changes;
 *  - `<prefix>-operator`: the same, and each route that changes something, by method and path (the API's
 *    own route table, functions/api/routes: a route added there is in the policy at the next deploy).
 */
import { RemovalPolicy, Validations } from "aws-cdk-lib";
import {
  AccessLogFormat,
  AuthorizationType,
  EndpointType,
  LambdaIntegration,
  LogGroupLogDestination,
  MethodLoggingLevel,
  RestApi,
} from "aws-cdk-lib/aws-apigateway";
import { Effect, ManagedPolicy, PolicyStatement } from "aws-cdk-lib/aws-iam";
import type { IFunction } from "aws-cdk-lib/aws-lambda";
import { LogGroup, type RetentionDays } from "aws-cdk-lib/aws-logs";
import { Construct } from "constructs";
import type { Route } from "#functions/api/router.js";
import { ROUTES } from "#functions/api/routes/index.js";
import type { LazarusConfig } from "./config.js";
import { acknowledgeWildcards } from "./nag.js";

export const API_STAGE = "v1";
/**
 * A route's execute-api resource path (after the stage and method): its `{param}` segments any value, and
 * any version prefix before it (the API answers `/servers`, `/v2/servers` and `/v2.1/servers` alike).
 */
export function routeResourcePath(route: Pick<Route, "pattern">): string {
  return `/*${route.pattern.replace(/^\//, "").replace(/\{\w+\}/g, "*")}`;
}

/** The routes that change something (every method but GET), by method and resource path, each once. */
export function changingRoutes(routes: readonly Pick<Route, "method" | "pattern">[] = ROUTES) {
  const seen = new Map<string, { method: Route["method"]; path: string }>();
  for (const r of routes) {
    if (r.method === "GET") continue;
    const path = routeResourcePath(r);
    seen.set(`${r.method} ${path}`, { method: r.method, path });
  }
  return [...seen.values()];
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

    // Every GET: reads only (nova's GET routes and Lazarus's own change nothing).
    const everyRead = this.api.arnForExecuteApi("GET", "/*", API_STAGE);
    this.readOnlyOperatorPolicy = new ManagedPolicy(this, "read-only-operator-policy", {
      managedPolicyName: `${prefix}-operator-read-only`,
      description:
        "Read the Lazarus API (every GET: servers, hosts, executions, power logs); changes nothing",
      statements: [
        new PolicyStatement({
          effect: Effect.ALLOW,
          actions: ["execute-api:Invoke"],
          resources: [everyRead],
        }),
      ],
    });
    const changes = changingRoutes().map((r) => this.api.arnForExecuteApi(r.method, r.path, API_STAGE));
    this.operatorPolicy = new ManagedPolicy(this, "operator-policy", {
      managedPolicyName: `${prefix}-operator`,
      description:
        "Call the Lazarus API: every GET, and each route that acts (rebuild, evacuate, power, register, ...)",
      statements: [
        new PolicyStatement({
          effect: Effect.ALLOW,
          actions: ["execute-api:Invoke"],
          resources: [everyRead, ...changes],
        }),
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
    const reads = {
      resource: everyRead,
      reason: "GET on any path of this one API's stage: the API's GET routes only read",
    };
    acknowledgeWildcards(this.readOnlyOperatorPolicy, [reads]);
    acknowledgeWildcards(this.operatorPolicy, [
      reads,
      ...changes.map((resource) => ({
        resource,
        reason:
          "One route of this API's stage by method: `*` is its {id}/{host} segment and the optional /v2 or /v2.1 prefix",
      })),
    ]);
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
