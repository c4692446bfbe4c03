/**
 * The REST API in front of the `api` function: every method behind IAM authorization (SigV4), access
 * logs in JSON, execution logs, X-Ray, stage throttling. Operators get a managed policy that allows
 * calling it and nothing else.
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
import type { LazarusConfig } from "./config.js";
import { acknowledgeWildcards } from "./nag.js";

export const API_STAGE = "v1";
/** The managed policy CDK gives API Gateway's account-level logging role. */
const API_GATEWAY_LOGS_POLICY = "AmazonAPIGatewayPushToCloudWatchLogs";

export interface LazarusApiProps {
  handler: IFunction;
  config: LazarusConfig;
}

export class LazarusApi extends Construct {
  readonly api: RestApi;
  readonly operatorPolicy: ManagedPolicy;

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

    const operatorResource = this.api.arnForExecuteApi("*", "/*", API_STAGE);
    this.operatorPolicy = new ManagedPolicy(this, "operator-policy", {
      managedPolicyName: `${prefix}-operator`,
      description: "Call the Lazarus API (every route of its stage); attach to operators' roles",
      statements: [
        new PolicyStatement({
          effect: Effect.ALLOW,
          actions: ["execute-api:Invoke"],
          resources: [operatorResource],
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
    acknowledgeWildcards(this.operatorPolicy, [
      {
        resource: operatorResource,
        reason: "Any method and path of this one API's stage: operators may call every Lazarus route",
      },
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
