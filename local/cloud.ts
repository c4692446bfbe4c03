/**
 * The local cloud: everything the flows talk to, on this machine, behind the endpoints the AWS SDK uses.
 *  - hosts: per-host libvirtd + qemu, each with an SSM agent (local/hosts), and an SSM endpoint (local/ssm)
 *  - DynamoDB: dynalite (local/dynamo), tables from shared/store/tables.ts
 *  - Lambda: the flow handlers, in-process, behind a Lambda-compatible endpoint (local/lambda)
 *  - Step Functions: the same ASL files run by aws-local-stepfunctions (local/stepfunctions), served
 *    as a Step Functions-compatible endpoint
 *  - EventBridge: an endpoint that records events and routes those matching a rule to its Lambda target
 *    (local/events); the rules are the trigger functions' event patterns from shared/definitions
 *  - API Gateway: the API function served over HTTP on loopback (local/api), URL in LAZARUS_API_URL
 *  - CloudWatch: an endpoint that takes each host's heartbeat metric and evaluates one heartbeat alarm per
 *    host, emitting "CloudWatch Alarm State Change" events to EventBridge as CloudWatch does (local/cloudwatch)
 * The code under test runs unchanged: only `AWS_ENDPOINT_URL_*` differ from AWS.
 */
import { CloudWatchClient, PutMetricAlarmCommand } from "@aws-sdk/client-cloudwatch";
import { EventBridgeClient, PutEventsCommand } from "@aws-sdk/client-eventbridge";
import type { SSMClient } from "@aws-sdk/client-ssm";
import { ALL_FUNCTIONS, lambdaArn } from "#shared/definitions/functions.js";
import { HEARTBEAT_METRIC, heartbeatAlarm } from "#shared/definitions/heartbeat.js";
import {
  definitionSubstitutions,
  PROJECT_ROOT,
  readDefinition,
  STATE_MACHINES,
} from "#shared/definitions/state-machines.js";
import { newHostRecord } from "#shared/domain/host-record.js";
import type { Host, HostFencing, Instance } from "#shared/domain/schemas.js";
import { SsmHostExecutor } from "#shared/hosts/ssm-executor.js";
import { SsmHostDirectory } from "#shared/hosts/ssm-host-directory.js";
import { resetDeps } from "#shared/lambda/runtime.js";
import { createDocumentClient, createDynamoClient } from "#shared/store/client.js";
import { createTables } from "#shared/store/create-tables.js";
import { createStores, type Stores } from "#shared/store/index.js";
import { tableNamesFromEnv } from "#shared/store/tables.js";
import { type ApiServer, startApiServer } from "./api/api-server.js";
import { type BootRequest, bootInstance } from "./boot.js";
import { type CloudWatchEndpoint, startCloudWatchEndpoint } from "./cloudwatch/cloudwatch-endpoint.js";
import { type DynamoServer, startDynamoServer } from "./dynamo/dynamo-server.js";
import { type DynamoFaultProxy, type DynamoFaultRates, startDynamoFaultProxy } from "./dynamo/fault-proxy.js";
import { type Ec2Endpoint, startEc2Endpoint } from "./ec2/ec2-endpoint.js";
import { type EventsEndpoint, startEventsEndpoint } from "./events/events-endpoint.js";
import { type Heartbeats, startHeartbeats } from "./heartbeats.js";
import { type Fleet, type FleetOptions, startFleet } from "./hosts/fleet.js";
import type { LocalHostSpec } from "./hosts/local-host.js";
import { type LambdaEndpoint, type LambdaHooks, startLambdaEndpoint } from "./lambda/lambda-endpoint.js";
import { localLogEnv } from "./log-settings.js";
import { startScheduler } from "./scheduler.js";
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
  /**
   * Automatic host-failure handling: with it, each host gets its heartbeat alarm and a dead host is
   * evacuated by itself. Without it (tests of manual evacuation) hosts still publish heartbeats, but no
   * alarm watches them.
   */
  hostFailure?: HostFailureOptions;
  /**
   * Instance failure handling: with it, each host runs an instance monitor (libvirt lifecycle events ->
   * EventBridge -> the instance-recovery flow). Without it no host watches its guests.
   */
  instanceFailure?: InstanceFailureOptions;
  /**
   * Write a host record for every local host at start (default true). false: the hosts table starts
   * empty and hosts come in through registration (functions/inventory), as on a real fleet.
   */
  seedHosts?: boolean;
  /**
   * Run the "scheduled" functions (sweeper, fleet sync) on their rate, like EventBridge schedules do in
   * AWS (default off: tests invoke them with `runScheduled` when they mean to). `rateScale` shrinks the
   * period (0.01 = 100x).
   */
  schedules?: boolean | { rateScale: number };
  /**
   * Put a fault-injecting proxy (local/dynamo/fault-proxy.ts) between the flows and DynamoDB: the Lambdas
   * and the API reach DynamoDB through it (AWS_ENDPOINT_URL_DYNAMODB); `cloud.stores` (what tests and the
   * invariant checker read) stays direct. Rates can be changed at any time with `cloud.dynamoFaults`.
   */
  dynamoFaults?: { rates?: DynamoFaultRates; seed?: number };
  /** Planned maintenance (issue 32): the live migration's completion timeout, s (default 60), and how many
   * instances a drain moves at once (default 2). */
  maintenance?: { liveMigrationTimeoutSeconds?: number; drainMaxConcurrency?: number };
  /**
   * SSM's own latency per command, ms (default 0 each): delivery to the agent and visibility of the
   * result (local/ssm/ssm-endpoint.ts). The benchmark sets them to see the flows at AWS's latencies.
   */
  ssmLatency?: { deliveryDelayMs?: number; statusDelayMs?: number };
}

/** Detection and the host-failure policy of this cloud (defaults suit tests and the demo, not AWS). */
export interface HostFailureOptions {
  /** How often each host publishes its heartbeat, ms (default 1000). */
  heartbeatIntervalMs?: number;
  /** Heartbeat alarm period, s (AWS: 10; default here 2). */
  alarmPeriodSeconds?: number;
  /** Silent periods before ALARM (default 2). */
  alarmEvaluationPeriods?: number;
  /** A heartbeat younger than this is alive (default 3 heartbeat intervals, at least 3 s). */
  heartbeatFreshSeconds?: number;
  /** Grace period from the last heartbeat before a probe (default 8 s). */
  graceSeconds?: number;
  policy?: "all" | "ha-only";
  maxConcurrency?: number;
  /** Deadline of the liveness probe through SSM, ms (default 15 s). */
  probeDeadlineMs?: number;
  /** SSM agent health report cadence (AWS: 5 min; default here 60 s); never faster than the heartbeat. */
  agentHealthIntervalMs?: number;
  /** Seconds the recovery flow waits between looks at a running evacuation (default 2). */
  recoveryPollSeconds?: number;
  /**
   * How death can be proven for every seeded host (default LOCAL_FENCING: the local power fence through the
   * local EC2 endpoint, qemu's image lock on shared pools, no watchdog).
   */
  fencing?: HostFencing;
  /** A power fence with no answer after this long has timed out, s (default 15). */
  fenceTimeoutSeconds?: number;
  /** Wait between looks for proof, s (default 3). */
  fenceRetrySeconds?: number;
  /** Looks for proof before giving up (default 10). */
  maxProofRounds?: number;
  /**
   * Every host runs the watchdog (local/hosts/host-guard.ts) with this lease, s, and the seeded hosts say so
   * (`fencing.watchdog`); none = no watchdog (the default).
   */
  watchdogLeaseSeconds?: number;
  /** Added to the lease before the control plane counts a silent host as self-fenced, s (default 3). */
  leaseMarginSeconds?: number;
  /** More than this share of the hosts dead within the window holds every automatic evacuation (default 1/3). */
  massFailureShare?: number;
  massFailureWindowSeconds?: number;
}

/** The instance-failure policy of this cloud (defaults suit tests, not AWS). */
export interface InstanceFailureOptions {
  /** How often each monitor publishes its own liveness, ms (default 1000). */
  monitorIntervalMs?: number;
  /** The restart/relocate window, s (default 3600). */
  windowSeconds?: number;
  /** Crash reports from one host within the storm window that make a storm (default 3). */
  stormCrashes?: number;
  stormWindowSeconds?: number;
}

export interface LocalCloud {
  fleet: Fleet;
  dynamo: DynamoServer;
  /** The fault proxy in front of DynamoDB, when the `dynamoFaults` option asked for one. */
  dynamoFaults?: DynamoFaultProxy;
  lambda: LambdaEndpoint;
  stepFunctions: LocalStepFunctions;
  sfnEndpoint: SfnEndpoint;
  events: EventsEndpoint;
  cloudwatch: CloudWatchEndpoint;
  /** The power fence's endpoint (EC2 StopInstances/DescribeInstances): every host by its instance id. */
  ec2: Ec2Endpoint;
  /** The API (the `api` function behind a local API Gateway); `api.url` is also env.LAZARUS_API_URL. */
  api: ApiServer;
  heartbeats: Heartbeats;
  /** The environment the flows (and any SDK client in this process) use to reach this cloud. */
  env: Record<string, string>;
  stores: Stores;
  executor: SsmHostExecutor;
  ssm: SSMClient;
  rebuildStateMachineArn: string;
  /** ARN per state machine id of shared/definitions (rebuild, host-evacuation, host-recovery). */
  stateMachineArns: Record<string, string>;
  /** SSM's view of the hosts (agent state, KVM host tag), as registration reads it. */
  directory: SsmHostDirectory;
  /** Invoke a scheduled function (by id, e.g. "sweeper") once, through the Lambda endpoint, and return its result. */
  runScheduled(id: string): Promise<unknown>;
  /** Records-first boot (local/boot.ts), for the benchmark; tests, demo and chaos boot by adoption (fleet-domains.ts). */
  boot(req: BootRequest): Promise<Instance>;
  /** Power loss: agent, libvirtd and qemu of the host stopped by pid. */
  killHost(name: string): Promise<void>;
  restartHost(name: string): Promise<void>;
  /** What an operator (or Masakari) does once a host is known dead: nova's `forced_down`. */
  setForcedDown(name: string, forcedDown: boolean): Promise<Host>;
  stop(): Promise<void>;
}

/** What the local hosts offer: the local power fence, qemu's image lock on shared pools, no watchdog. */
export const LOCAL_FENCING: HostFencing = { power: "local", watchdog: false, diskLocks: true };

export async function startLocalCloud(opts: LocalCloudOptions): Promise<LocalCloud> {
  const prefix = opts.prefix ?? "lazarus";
  const stopping: Array<() => Promise<void> | void> = [];
  const stop = async () => {
    for (const fn of stopping.reverse()) await fn();
    stopping.length = 0;
  };
  const hf = opts.hostFailure ?? {};
  const heartbeatIntervalMs = hf.heartbeatIntervalMs ?? 1000;
  // The SSM agent's health cadence stands beside the heartbeat: never a faster signal than it.
  const agentHealthIntervalMs = Math.max(hf.agentHealthIntervalMs ?? 60_000, heartbeatIntervalMs);
  try {
    const dynamo = await startDynamoServer();
    stopping.push(() => dynamo.close());
    const dynamoFaults = opts.dynamoFaults
      ? await startDynamoFaultProxy({ target: dynamo.endpoint, ...opts.dynamoFaults })
      : undefined;
    if (dynamoFaults) stopping.push(() => dynamoFaults.close());
    const handlers = await loadHandlers(prefix);
    const lambda = await startLambdaEndpoint({
      handlers,
      hooks: opts.lambdaHooks,
    });
    stopping.push(() => lambda.close());
    const events = await startEventsEndpoint({ lambdaEndpoint: lambda.url });
    stopping.push(() => events.close());
    // CloudWatch hands each alarm state change to EventBridge, which routes it by the trigger's rule.
    const eventBridge = new EventBridgeClient({
      endpoint: events.url,
      region: "us-east-1",
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
    });
    stopping.push(() => eventBridge.destroy());
    const cloudwatch = await startCloudWatchEndpoint({
      onAlarmStateChange: async (change) => {
        await eventBridge.send(new PutEventsCommand({ Entries: [change.entry] }));
      },
    });
    stopping.push(() => cloudwatch.close());
    const ec2 = await startEc2Endpoint();
    stopping.push(() => ec2.close());
    for (const f of ALL_FUNCTIONS) {
      if (f.role !== "trigger" || !f.eventPattern) continue;
      events.putRule({
        name: `${prefix}-${f.id}`,
        eventPattern: f.eventPattern as never,
        targets: [{ functionName: `${prefix}-${f.id}` }],
      });
    }

    const fleet = await startFleet({
      hosts: opts.hosts,
      heartbeat: { endpoint: cloudwatch.url, intervalMs: heartbeatIntervalMs },
      ...(hf.watchdogLeaseSeconds ? { watchdog: { leaseMs: hf.watchdogLeaseSeconds * 1000 } } : {}),
      ...(opts.instanceFailure
        ? {
            instanceMonitor: {
              intervalMs: opts.instanceFailure.monitorIntervalMs ?? 1000,
              // The host reaches EventBridge and CloudWatch through the SDK, as it would in AWS.
              env: {
                AWS_ENDPOINT_URL_EVENTBRIDGE: events.url,
                AWS_ENDPOINT_URL_CLOUDWATCH: cloudwatch.url,
                AWS_REGION: "us-east-1",
                AWS_ACCESS_KEY_ID: "local",
                AWS_SECRET_ACCESS_KEY: "local",
              },
            },
          }
        : {}),
      ssm: {
        agentHealthIntervalMs,
        connectionLostAfterMs: 2 * agentHealthIntervalMs,
        ...opts.ssmLatency,
      },
    });
    stopping.push(() => fleet.stop());

    const env: Record<string, string> = {
      ...fleet.env,
      ...localLogEnv(process.env),
      AWS_ENDPOINT_URL_DYNAMODB: dynamoFaults?.endpoint ?? dynamo.endpoint,
      AWS_ENDPOINT_URL_LAMBDA: lambda.url,
      AWS_ENDPOINT_URL_EVENTBRIDGE: events.url,
      AWS_ENDPOINT_URL_CLOUDWATCH: cloudwatch.url,
      AWS_ENDPOINT_URL_EC2: ec2.url,
      LAZARUS_FENCE_TIMEOUT_SECONDS: String(hf.fenceTimeoutSeconds ?? 15),
      LAZARUS_FENCE_RETRY_SECONDS: String(hf.fenceRetrySeconds ?? 3),
      LAZARUS_FENCE_MAX_ROUNDS: String(hf.maxProofRounds ?? 10),
      LAZARUS_FENCE_POLL_MS: "300",
      LAZARUS_LEASE_SECONDS: String(hf.watchdogLeaseSeconds ?? 60),
      LAZARUS_LEASE_MARGIN_SECONDS: String(hf.leaseMarginSeconds ?? 3),
      LAZARUS_HEARTBEAT_FRESH_SECONDS: String(
        hf.heartbeatFreshSeconds ?? Math.max(3, (3 * heartbeatIntervalMs) / 1000),
      ),
      LAZARUS_HEARTBEAT_GRACE_SECONDS: String(hf.graceSeconds ?? 8),
      LAZARUS_EVACUATION_POLICY: hf.policy ?? "all",
      LAZARUS_EVACUATION_MAX_CONCURRENCY: String(hf.maxConcurrency ?? 3),
      LAZARUS_HOST_PROBE_DEADLINE_MS: String(hf.probeDeadlineMs ?? 15_000),
      LAZARUS_RECOVERY_POLL_SECONDS: String(hf.recoveryPollSeconds ?? 2),
      LAZARUS_MASS_FAILURE_SHARE: String(hf.massFailureShare ?? 1 / 3),
      LAZARUS_MASS_FAILURE_WINDOW_SECONDS: String(hf.massFailureWindowSeconds ?? 120),
      LAZARUS_INSTANCE_RECOVERY_WINDOW_SECONDS: String(opts.instanceFailure?.windowSeconds ?? 3600),
      LAZARUS_INSTANCE_STORM_CRASHES: String(opts.instanceFailure?.stormCrashes ?? 3),
      LAZARUS_INSTANCE_STORM_WINDOW_SECONDS: String(opts.instanceFailure?.stormWindowSeconds ?? 120),
      LAZARUS_TABLE_PREFIX: prefix,
      LAZARUS_EVENT_BUS: "default",
      LAZARUS_SERVICE_DOWN_SECONDS: String(opts.serviceDownSeconds ?? 10),
      LAZARUS_HOST_COMMAND_DEADLINE_MS: String(opts.hostCommandDeadlineMs ?? 60_000),
      LAZARUS_SHUTDOWN_TIMEOUT_SECONDS: "3",
      LAZARUS_LIVE_MIGRATION_TIMEOUT_SECONDS: String(opts.maintenance?.liveMigrationTimeoutSeconds ?? 60),
      LAZARUS_DRAIN_MAX_CONCURRENCY: String(opts.maintenance?.drainMaxConcurrency ?? 2),
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
    const api = await startApiServer({ handler: apiHandler(handlers, prefix) });
    const previousApiUrl = process.env.LAZARUS_API_URL;
    stopping.push(async () => {
      await api.close();
      if (previousApiUrl === undefined) delete process.env.LAZARUS_API_URL;
      else process.env.LAZARUS_API_URL = previousApiUrl;
    });
    env.LAZARUS_API_URL = api.url;
    process.env.LAZARUS_API_URL = api.url;

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
    for (const host of opts.seedHosts === false ? [] : fleet.hosts.values()) {
      await stores.hosts.put({
        ...newHostRecord(host.record(), { lastHeartbeatAt: now }),
        fencing: opts.hostFailure?.fencing ?? {
          ...LOCAL_FENCING,
          watchdog: hf.watchdogLeaseSeconds !== undefined,
        },
      });
    }
    // The power fence: StopInstances on a host's instance id cuts its power (every process, qemu included).
    for (const host of fleet.hosts.values()) {
      ec2.addInstance(host.record().managedInstanceId, {
        powerOff: () => host.kill(),
        isOn: () => host.running,
      });
    }
    // Scheduled functions are always invocable (`runScheduled`); their timers run only when asked.
    const scheduler = startScheduler({
      lambdaUrl: lambda.url,
      prefix,
      timers: opts.schedules !== undefined && opts.schedules !== false,
      rateScale: typeof opts.schedules === "object" ? opts.schedules.rateScale : 1,
    });
    stopping.push(() => scheduler.stop());
    const heartbeats = startHeartbeats({
      stores,
      lastHeartbeat: (host) =>
        cloudwatch.lastDatumAt(HEARTBEAT_METRIC.namespace, HEARTBEAT_METRIC.metricName, {
          [HEARTBEAT_METRIC.dimension]: host,
        }),
      intervalMs: opts.heartbeatIntervalMs ?? 1000,
    });
    stopping.push(() => heartbeats.stop());
    // One heartbeat alarm per host, created through the real CloudWatch client (as host registration does).
    const cw = new CloudWatchClient({
      endpoint: cloudwatch.url,
      region: "us-east-1",
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
    });
    for (const host of opts.hostFailure ? fleet.hosts.values() : []) {
      await cw.send(
        new PutMetricAlarmCommand(
          heartbeatAlarm(host.name, {
            periodSeconds: hf.alarmPeriodSeconds ?? 2,
            evaluationPeriods: hf.alarmEvaluationPeriods ?? 2,
          }),
        ),
      );
    }
    cw.destroy();

    const localHost = (name: string) => {
      const h = fleet.hosts.get(name);
      if (!h) throw new Error(`no local host ${name}`);
      return h;
    };
    return {
      fleet,
      dynamo,
      ...(dynamoFaults ? { dynamoFaults } : {}),
      lambda,
      stepFunctions,
      sfnEndpoint,
      events,
      cloudwatch,
      ec2,
      api,
      heartbeats,
      env,
      stores,
      executor,
      ssm,
      rebuildStateMachineArn,
      stateMachineArns,
      directory: new SsmHostDirectory(ssm),
      boot: (req) => bootInstance({ stores, executor }, req),
      killHost: (name) => localHost(name).kill(),
      restartHost: (name) => localHost(name).restart(),
      setForcedDown: (name, forcedDown) => stores.hosts.setService(name, { forcedDown }),
      runScheduled: (id) => scheduler.runNow(id),
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

function apiHandler(handlers: Record<string, (event: unknown) => Promise<unknown>>, prefix: string) {
  const spec = ALL_FUNCTIONS.find((f) => f.role === "api");
  const handler = spec && handlers[`${prefix}-${spec.id}`];
  if (!handler) throw new Error("shared/definitions lists no function of role api");
  return handler;
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
