/**
 * One Lambda per FunctionSpec (shared/definitions/functions.ts), each with its own role built from its
 * `access`, its own log group with retention, X-Ray tracing, arm64 on nodejs24.x, bundled by the local
 * esbuild (no Docker). Functions started asynchronously (triggers, timers) send what finally fails to an
 * on-failure destination (an SQS queue); the others are called synchronously and return their errors to the caller.
 */
import { fileURLToPath } from "node:url";
import { Duration, RemovalPolicy, Validations } from "aws-cdk-lib";
import { Effect, PolicyDocument, PolicyStatement, Role, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import type { DestinationConfig, DestinationOptions, IDestination } from "aws-cdk-lib/aws-lambda";
import { Architecture, type IFunction, Runtime, Tracing } from "aws-cdk-lib/aws-lambda";
import {
  type BundlingOptions,
  NodejsFunction,
  OutputFormat,
  SourceMapMode,
} from "aws-cdk-lib/aws-lambda-nodejs";
import { LogGroup, type RetentionDays } from "aws-cdk-lib/aws-logs";
import type { IQueue } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { type FunctionSpec, functionNameEnv } from "#shared/definitions/functions.js";
import { deployedName, PROJECT_ROOT } from "#shared/definitions/state-machines.js";
import { functionTimeoutSeconds } from "#shared/definitions/timeouts.js";
import { type AccessContext, accessStatements } from "./access-policy.js";
import type { LazarusConfig } from "./config.js";
import { acknowledgeWildcards, XRAY_WILDCARD } from "./nag.js";

export const LAMBDA_RUNTIME = Runtime.NODEJS_24_X;
export const LAMBDA_ARCHITECTURE = Architecture.ARM_64;
export const LAMBDA_MEMORY_MB = 512;

/**
 * esbuild settings for every bundle: ESM for Node 24, every dependency inside the bundle (the SDK version
 * the tests ran with, not the runtime's), and `require` for the CommonJS packages that call it. Minified,
 * with a source map beside it (`NODE_OPTIONS=--enable-source-maps`): stack traces name our files and lines.
 */
export const BUNDLING: BundlingOptions = {
  format: OutputFormat.ESM,
  target: "node24",
  mainFields: ["module", "main"],
  externalModules: [],
  minify: true,
  sourceMap: true,
  sourceMapMode: SourceMapMode.DEFAULT,
  // Lines and names are enough for a stack trace; the sources themselves would double the bundle.
  sourcesContent: false,
  banner: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
  forceDockerBundling: false,
};

/** Every function's Node options: stack traces through the bundle's source map. */
export const NODE_OPTIONS = "--enable-source-maps";

/**
 * An on-failure destination that may only send messages to the queue: Lambda sends the failed event with
 * the function's role and needs nothing else (CDK's SqsDestination also grants GetQueueAttributes and
 * GetQueueUrl, which nothing calls). The role's own inline policy holds that grant (see below).
 */
export class SendOnlyQueueDestination implements IDestination {
  constructor(private readonly queue: IQueue) {}

  bind(_scope: Construct, _fn: IFunction, _options?: DestinationOptions): DestinationConfig {
    return { destination: this.queue.queueArn };
  }
}

/** What Lambda does with a function's role when an asynchronous invocation finally fails. */
export const ASYNC_FAILURE_ACTION = "sqs:SendMessage";

/** Triggers and timers are invoked asynchronously: their failures need somewhere to land. */
export const isAsync = (spec: Pick<FunctionSpec, "role">) =>
  spec.role === "trigger" || spec.role === "scheduled";

export interface LazarusFunctionsProps {
  specs: readonly FunctionSpec[];
  config: LazarusConfig;
  access: AccessContext;
  /** The environment every function gets (table names, bus, state machine ARNs, Powertools). */
  environment: Record<string, string>;
  asyncFailures: IQueue;
}

export class LazarusFunctions extends Construct {
  /** By spec id. */
  readonly byId = new Map<string, NodejsFunction>();
  /** By deployed name (`<prefix>-<id>`), as definitionSubstitutions names them. */
  readonly byName = new Map<string, IFunction>();
  /** Each function's role, by spec id (the function holds it without policy updates: see below). */
  readonly roles = new Map<string, Role>();

  constructor(scope: Construct, id: string, props: LazarusFunctionsProps) {
    super(scope, id);
    const root = fileURLToPath(PROJECT_ROOT);
    for (const spec of props.specs) {
      const name = deployedName(props.config.prefix, spec.id);
      if (name.length > 64) throw new Error(`function name ${name} is longer than Lambda's 64 characters`);
      if (spec.role === "scheduled" && !spec.schedule)
        throw new Error(`scheduled function ${spec.id} has no schedule`);
      const invoked = spec.access.invokeFunctions ?? [];
      for (const target of invoked) {
        if (!props.specs.some((s) => s.id === target))
          throw new Error(
            `${spec.id}: access.invokeFunctions names "${target}", which is not a function of this stack`,
          );
      }

      const logGroup = new LogGroup(this, `${spec.id}-logs`, {
        logGroupName: `/aws/lambda/${name}`,
        retention: props.config.logRetentionDays as RetentionDays,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      const statements = accessStatements(spec.access, props.access);
      // Every grant in the role's own inline policy, none in a separate AWS::IAM::Policy: one resource less
      // per function (CloudFormation allows 500 in a stack), and the role is whole before the function
      // exists. Its log group; X-Ray (tracing); an asynchronous function's final failure to the queue.
      const role = new Role(this, `${spec.id}-role`, {
        assumedBy: new ServicePrincipal("lambda.amazonaws.com"),
        description: `Lazarus ${spec.role} ${spec.id}: only what its access in shared/definitions/functions.ts lists`,
        inlinePolicies: {
          access: new PolicyDocument({
            statements: [
              new PolicyStatement({
                effect: Effect.ALLOW,
                actions: ["logs:CreateLogStream", "logs:PutLogEvents"],
                resources: [logGroup.logGroupArn],
              }),
              new PolicyStatement({
                effect: Effect.ALLOW,
                actions: ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
                resources: ["*"],
              }),
              ...(isAsync(spec)
                ? [
                    new PolicyStatement({
                      effect: Effect.ALLOW,
                      actions: [ASYNC_FAILURE_ACTION],
                      resources: [props.asyncFailures.queueArn],
                    }),
                  ]
                : []),
              ...statements.map(({ statement }) => statement),
            ],
          }),
        },
      });
      this.roles.set(spec.id, role);
      Validations.of(role).acknowledge({
        id: "Serverless-LambdaStarPermissions",
        reason:
          "The role's only wildcards are X-Ray's (no resource-level permissions) and resources named by a " +
          "pattern, each acknowledged on its own as AwsSolutions-IAM5 with why it is needed",
      });
      acknowledgeWildcards(role, [
        XRAY_WILDCARD,
        ...statements.flatMap(({ statement, wildcardReason }) =>
          statement.resources
            .filter((resource) => resource.includes("*"))
            .map((resource) => ({ resource, reason: wildcardReason! })),
        ),
      ]);

      const fn = new NodejsFunction(this, spec.id, {
        functionName: name,
        description: `Lazarus ${spec.role}: ${spec.entry} ${spec.handler}`,
        entry: `${root}${spec.entry}`,
        handler: spec.handler,
        projectRoot: root,
        depsLockFilePath: `${root}package-lock.json`,
        runtime: LAMBDA_RUNTIME,
        architecture: LAMBDA_ARCHITECTURE,
        memorySize: LAMBDA_MEMORY_MB,
        timeout: Duration.seconds(functionTimeoutSeconds(spec)),
        tracing: Tracing.ACTIVE,
        logGroup,
        // Lambda's own additions (tracing, the destination) would go to a separate policy: they are inline.
        role: role.withoutPolicyUpdates(),
        environment: {
          ...props.environment,
          NODE_OPTIONS,
          ...Object.fromEntries(
            invoked.map((t) => [functionNameEnv(t), deployedName(props.config.prefix, t)]),
          ),
        },
        bundling: BUNDLING,
        // Asynchronous invocations that still fail after Lambda's retries land in the queue with the event,
        // the error and the attempt count (an on-failure destination: what a DLQ holds, and why it failed).
        ...(isAsync(spec)
          ? { onFailure: new SendOnlyQueueDestination(props.asyncFailures), retryAttempts: 2 }
          : {}),
      });
      acknowledgeFunctionFindings(fn, spec);
      this.byId.set(spec.id, fn);
      this.byName.set(name, fn);
    }
  }
}

function acknowledgeFunctionFindings(fn: NodejsFunction, spec: FunctionSpec): void {
  Validations.of(fn).acknowledge({
    id: "Serverless-LambdaDLQ",
    reason: isAsync(spec)
      ? "Failed asynchronous invocations go to an on-failure destination (the async-failures SQS queue), " +
        "which records the error as well as the event; a DLQ as well would hold each failure twice"
      : `${spec.role} functions are invoked synchronously (Step Functions Task, API Gateway): a failure ` +
        "returns to the caller, whose Retry/Catch or client handles it; a DLQ would never receive anything",
  });
}
