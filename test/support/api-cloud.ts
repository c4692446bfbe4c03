/**
 * A local cloud without hosts, for API tests that need no hypervisor: dynalite, the real Lambda handlers
 * behind the local Lambda endpoint, the real rebuild ASL on the local Step Functions, an SSM endpoint with
 * no agent (so a flow that gets past its checks fails with HostUnreachable, as it would on AWS against an
 * unreachable host), and the API served over HTTP exactly as `startLocalCloud` serves it.
 * Host records are seeded by the test: their heartbeats are whatever the test writes.
 */
import { SFNClient } from "@aws-sdk/client-sfn";
import { SSMClient } from "@aws-sdk/client-ssm";
import { type ApiServer, startApiServer } from "#local/api/api-server.js";
import { type EventsEndpoint, startEventsEndpoint } from "#local/events/events-endpoint.js";
import { type LambdaEndpoint, startLambdaEndpoint } from "#local/lambda/lambda-endpoint.js";
import { deployHostDocuments } from "#local/ssm/host-documents.js";
import { type SsmEndpoint, startSsmEndpoint } from "#local/ssm/ssm-endpoint.js";
import { LocalStepFunctions } from "#local/stepfunctions/runner.js";
import { type SfnEndpoint, startSfnEndpoint } from "#local/stepfunctions/sfn-endpoint.js";
import { ALL_FUNCTIONS, lambdaArn } from "#shared/definitions/functions.js";
import {
  definitionSubstitutions,
  PROJECT_ROOT,
  readDefinition,
  stateMachineSpec,
} from "#shared/definitions/state-machines.js";
import { resetDeps } from "#shared/lambda/runtime.js";
import { TABLE_IDS, tableEnvVar } from "#shared/store/tables.js";
import { startTestDynamo, type TestDynamo } from "./dynamo.js";

export interface ApiTestCloud {
  db: TestDynamo;
  api: ApiServer;
  stepFunctions: LocalStepFunctions;
  lambda: LambdaEndpoint;
  rebuildArn: string;
  /** Every machine of this cloud (rebuild, boot, delete, and those asked for). */
  machineArns: string[];
  sfn: SFNClient;
  /** fetch against the API, JSON in and out. */
  call(
    method: string,
    path: string,
    opts?: { body?: unknown; rawBody?: string; headers?: Record<string, string>; version?: string },
  ): Promise<{ status: number; headers: Headers; json: unknown; text: string }>;
  /** Resolves when every execution has ended (flows started by a test leave nothing running). */
  settle(): Promise<void>;
  stop(): Promise<void>;
}

/** `machines`: the state machines to create besides rebuild, boot and delete (ids of shared/definitions). */
export async function startApiTestCloud(opts: { machines?: string[] } = {}): Promise<ApiTestCloud> {
  const stopping: Array<() => Promise<void> | void> = [];
  const stop = async () => {
    for (const fn of stopping.reverse()) await fn();
    stopping.length = 0;
  };
  try {
    const db = await startTestDynamo({ prefix: "api" });
    stopping.push(() => db.close());
    const ssm: SsmEndpoint = await startSsmEndpoint();
    stopping.push(() => ssm.close());
    // The stack's host documents, as the local cloud deploys them.
    const deploying = new SSMClient({
      endpoint: ssm.url,
      region: "us-east-1",
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
    });
    await deployHostDocuments(deploying, "lazarus").finally(() => deploying.destroy());
    const events: EventsEndpoint = await startEventsEndpoint();
    stopping.push(() => events.close());
    const handlers: Record<string, (event: unknown) => Promise<unknown>> = {};
    for (const f of ALL_FUNCTIONS) {
      const module = (await import(new URL(f.entry, PROJECT_ROOT).href)) as Record<string, unknown>;
      handlers[`lazarus-${f.id}`] = module[f.handler] as (event: unknown) => Promise<unknown>;
    }
    const lambda = await startLambdaEndpoint({ handlers });
    stopping.push(() => lambda.close());
    const stepFunctions = new LocalStepFunctions({
      lambda: { endpoint: lambda.url },
      retryIntervalScale: 0.01,
    });
    stopping.push(() => stepFunctions.stopAll());
    const substitutions = definitionSubstitutions("lazarus", {
      lambda: (n) => lambdaArn(n),
      stateMachine: (n) => stepFunctions.stateMachineArn(n),
    });
    // The machines the API starts for servers (host evacuation is left undeployed: its 501 is tested).
    const machineArns: Record<string, string> = {};
    for (const id of ["rebuild", "boot", "delete", ...(opts.machines ?? [])]) {
      const m = stateMachineSpec(id);
      machineArns[m.arnEnv] = stepFunctions.createStateMachine({
        name: `lazarus-${m.id}`,
        definition: readDefinition(m),
        substitutions,
      });
    }
    const spec = stateMachineSpec("rebuild");
    const rebuildArn = machineArns[spec.arnEnv]!;
    const sfnEndpoint: SfnEndpoint = await startSfnEndpoint(stepFunctions);
    stopping.push(() => sfnEndpoint.close());

    const env: Record<string, string> = {
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "local",
      AWS_SECRET_ACCESS_KEY: "local",
      AWS_ENDPOINT_URL_DYNAMODB: db.endpoint,
      AWS_ENDPOINT_URL_SSM: ssm.url,
      AWS_ENDPOINT_URL_LAMBDA: lambda.url,
      AWS_ENDPOINT_URL_SFN: sfnEndpoint.url,
      AWS_ENDPOINT_URL_EVENTBRIDGE: events.url,
      LAZARUS_SERVICE_DOWN_SECONDS: "10",
      LAZARUS_HOST_COMMAND_DEADLINE_MS: "3000",
      LAZARUS_SHUTDOWN_TIMEOUT_SECONDS: "1",
      ...machineArns,
    };
    for (const id of TABLE_IDS) env[tableEnvVar(id)] = db.tables[id];
    const previous = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    Object.assign(process.env, env);
    resetDeps();
    stopping.push(() => {
      for (const [k, v] of Object.entries(previous)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      resetDeps();
    });

    const { api: apiHandler } = await import("#functions/api/handlers.js");
    const api = await startApiServer({ handler: apiHandler as (e: unknown) => Promise<unknown> });
    stopping.push(() => api.close());
    const sfn = new SFNClient({});
    stopping.push(() => sfn.destroy());

    const settle = async () => {
      for (;;) {
        const running = Object.values(machineArns).flatMap(
          (stateMachineArn) =>
            stepFunctions.listExecutions({ stateMachineArn, statusFilter: "RUNNING" }).executions ?? [],
        );
        if (running.length === 0) return;
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    stopping.push(settle);

    return {
      db,
      api,
      stepFunctions,
      lambda,
      rebuildArn,
      machineArns: Object.values(machineArns),
      sfn,
      settle,
      stop,
      async call(method, path, opts = {}) {
        const headers: Record<string, string> = { ...(opts.headers ?? {}) };
        if (opts.version) headers["OpenStack-API-Version"] = `compute ${opts.version}`;
        let body: string | undefined = opts.rawBody;
        if (opts.body !== undefined) {
          body = JSON.stringify(opts.body);
          headers["content-type"] ??= "application/json";
        }
        const res = await fetch(`${api.url}${path}`, {
          method,
          headers,
          ...(body !== undefined ? { body } : {}),
        });
        const text = await res.text();
        let json: unknown = null;
        try {
          json = text ? JSON.parse(text) : null;
        } catch {
          json = null;
        }
        return { status: res.status, headers: res.headers, json, text };
      },
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
