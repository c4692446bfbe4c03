/**
 * The local cloud: everything the flows talk to, on this machine, behind the endpoints the AWS SDK uses.
 *  - hosts: per-host libvirtd + qemu, each with an SSM agent (local/hosts), and an SSM endpoint (local/ssm)
 *  - DynamoDB: dynalite (local/dynamo), tables from shared/store/tables.ts
 *  - Lambda: the flow handlers, in-process, behind a Lambda-compatible endpoint (local/lambda)
 *  - Step Functions: the same ASL files run by aws-local-stepfunctions (local/stepfunctions), served
 *    as a Step Functions-compatible endpoint
 *  - EventBridge: an endpoint that records the notifications (local/events)
 * The code under test runs unchanged: only `AWS_ENDPOINT_URL_*` differ from AWS.
 */
import type { SSMClient } from "@aws-sdk/client-ssm";
import { ALL_FUNCTIONS, lambdaArn } from "#shared/definitions/functions.js";
import {
  definitionSubstitutions,
  PROJECT_ROOT,
  readDefinition,
  STATE_MACHINES,
} from "#shared/definitions/state-machines.js";
import type { Host, Instance } from "#shared/domain/schemas.js";
import { SsmHostExecutor } from "#shared/hosts/ssm-executor.js";
import { resetDeps } from "#shared/lambda/runtime.js";
import { createDocumentClient, createDynamoClient } from "#shared/store/client.js";
import { createTables } from "#shared/store/create-tables.js";
import { createStores, type Stores } from "#shared/store/index.js";
import { tableNamesFromEnv } from "#shared/store/tables.js";
import { type BootRequest, bootInstance } from "./boot.js";
import { type DynamoServer, startDynamoServer } from "./dynamo/dynamo-server.js";
import { type EventsEndpoint, startEventsEndpoint } from "./events/events-endpoint.js";
import { type Heartbeats, startHeartbeats } from "./heartbeats.js";
import { type Fleet, type FleetOptions, startFleet } from "./hosts/fleet.js";
import type { LocalHostSpec } from "./hosts/local-host.js";
import { type LambdaEndpoint, type LambdaHooks, startLambdaEndpoint } from "./lambda/lambda-endpoint.js";
import { LocalStepFunctions } from "./stepfunctions/runner.js";
import { type SfnEndpoint, startSfnEndpoint } from "./stepfunctions/sfn-endpoint.js";

export type LocalHostsOptions = FleetOptions;
export type LocalHosts = Fleet;

/** Starts the SSM endpoint and one LocalHost per spec; `stop()` removes every process, user and folder. */
export function startLocalHosts(opts: LocalHostsOptions): Promise<LocalHosts> {
  return startFleet(opts);
}

export interface LocalCloudOptions {
  hosts: LocalHostSpec[];
  /** Function and table name prefix (default "lazarus"). */
  prefix?: string;
  /** nova's service_down_time for this cloud, seconds (default 10). */
  serviceDownSeconds?: number;
  heartbeatIntervalMs?: number;
  /** Scales every Retry interval of the state machines (tests: 0.01). */
  retryIntervalScale?: number;
  /** Host command deadline for the flows' SSM executor, ms (default 60 s). */
  hostCommandDeadlineMs?: number;
  lambdaHooks?: LambdaHooks;
}

export interface LocalCloud {
  fleet: Fleet;
  dynamo: DynamoServer;
  lambda: LambdaEndpoint;
  stepFunctions: LocalStepFunctions;
  sfnEndpoint: SfnEndpoint;
  events: EventsEndpoint;
  heartbeats: Heartbeats;
  /** The environment the flows (and any SDK client in this process) use to reach this cloud. */
  env: Record<string, string>;
  stores: Stores;
  executor: SsmHostExecutor;
  ssm: SSMClient;
  rebuildStateMachineArn: string;
  boot(req: BootRequest): Promise<Instance>;
  /** Power loss: agent, libvirtd and qemu of the host stopped by pid. */
  killHost(name: string): Promise<void>;
  restartHost(name: string): Promise<void>;
  /** What an operator (or Masakari) does once a host is known dead: nova's `forced_down`. */
  setForcedDown(name: string, forcedDown: boolean): Promise<Host>;
  stop(): Promise<void>;
}

export async function startLocalCloud(opts: LocalCloudOptions): Promise<LocalCloud> {
  const prefix = opts.prefix ?? "lazarus";
  const stopping: Array<() => Promise<void> | void> = [];
  const stop = async () => {
    for (const fn of stopping.reverse()) await fn();
    stopping.length = 0;
  };
  try {
    const fleet = await startFleet({ hosts: opts.hosts });
    stopping.push(() => fleet.stop());
    const dynamo = await startDynamoServer();
    stopping.push(() => dynamo.close());
    const events = await startEventsEndpoint();
    stopping.push(() => events.close());

    const lambda = await startLambdaEndpoint({
      handlers: await loadHandlers(prefix),
      hooks: opts.lambdaHooks,
    });
    stopping.push(() => lambda.close());

    const env: Record<string, string> = {
      ...fleet.env,
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
      AWS_ENDPOINT_URL_LAMBDA: lambda.url,
      AWS_ENDPOINT_URL_EVENTBRIDGE: events.url,
      LAZARUS_TABLE_PREFIX: prefix,
      LAZARUS_EVENT_BUS: "default",
      LAZARUS_SERVICE_DOWN_SECONDS: String(opts.serviceDownSeconds ?? 10),
      LAZARUS_HOST_COMMAND_DEADLINE_MS: String(opts.hostCommandDeadlineMs ?? 60_000),
      LAZARUS_SHUTDOWN_TIMEOUT_SECONDS: "3",
    };

    const stepFunctions = new LocalStepFunctions({
      lambda: { endpoint: lambda.url },
      retryIntervalScale: opts.retryIntervalScale ?? 1,
    });
    stopping.push(() => stepFunctions.stopAll());
    // Every machine of shared/definitions, with the same placeholders the CDK stack fills.
    const substitutions = definitionSubstitutions(prefix, {
      lambda: (n) => lambdaArn(n),
      stateMachine: (n) => stepFunctions.stateMachineArn(n),
    });
    const stateMachineArns: Record<string, string> = {};
    for (const spec of STATE_MACHINES) {
      stateMachineArns[spec.id] = stepFunctions.createStateMachine({
        name: `${prefix}-${spec.id}`,
        definition: readDefinition(spec),
        substitutions,
      });
      env[spec.arnEnv] = stateMachineArns[spec.id]!;
    }
    const rebuildStateMachineArn = stateMachineArns.rebuild!;
    const sfnEndpoint = await startSfnEndpoint(stepFunctions);
    stopping.push(() => sfnEndpoint.close());
    env.AWS_ENDPOINT_URL_SFN = sfnEndpoint.url;

    // The handlers run in this process and build their clients from process.env.
    const previousEnv = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    Object.assign(process.env, env);
    resetDeps();
    stopping.push(() => {
      for (const [k, v] of Object.entries(previousEnv)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      resetDeps();
    });

    const dynamoClient = createDynamoClient({ endpoint: dynamo.endpoint });
    const tables = tableNamesFromEnv(env);
    await createTables(dynamoClient, tables);
    const stores = createStores({ doc: createDocumentClient({ client: dynamoClient }), tables });
    const ssm = fleet.ssmClient();
    const executor = new SsmHostExecutor({
      client: ssm,
      defaultDeadlineMs: opts.hostCommandDeadlineMs ?? 60_000,
    });

    const now = new Date().toISOString();
    for (const host of fleet.hosts.values()) {
      await stores.hosts.put({
        ...host.record(),
        allocationRatios: { cpu: 4, ram: 1.5, disk: 1 },
        usage: { vcpus: 0, memoryMiB: 0, diskGiB: 0 },
        claims: {},
        antiAffinity: {},
        enabled: true,
        disabledReason: null,
        forcedDown: false,
        status: "up",
        lastHeartbeatAt: now,
        incident: null,
        version: 0,
      });
    }
    const heartbeats = startHeartbeats({ stores, ssm, intervalMs: opts.heartbeatIntervalMs ?? 1000 });
    stopping.push(() => heartbeats.stop());

    const localHost = (name: string) => {
      const h = fleet.hosts.get(name);
      if (!h) throw new Error(`no local host ${name}`);
      return h;
    };
    return {
      fleet,
      dynamo,
      lambda,
      stepFunctions,
      sfnEndpoint,
      events,
      heartbeats,
      env,
      stores,
      executor,
      ssm,
      rebuildStateMachineArn,
      boot: (req) => bootInstance({ stores, executor }, req),
      killHost: (name) => localHost(name).kill(),
      restartHost: (name) => localHost(name).restart(),
      setForcedDown: (name, forcedDown) => stores.hosts.setService(name, { forcedDown }),
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

/**
 * `<prefix>-<function id>` -> the handler, for every function of shared/definitions, imported from the
 * same entry module the CDK stack bundles.
 */
async function loadHandlers(prefix: string): Promise<Record<string, (event: unknown) => Promise<unknown>>> {
  const handlers: Record<string, (event: unknown) => Promise<unknown>> = {};
  for (const f of ALL_FUNCTIONS) {
    const module = (await import(new URL(f.entry, PROJECT_ROOT).href)) as Record<string, unknown>;
    const handler = module[f.handler];
    if (typeof handler !== "function") throw new Error(`${f.entry} has no handler ${f.handler}`);
    handlers[`${prefix}-${f.id}`] = handler as (event: unknown) => Promise<unknown>;
  }
  return handlers;
}
