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
import { notificationBusName } from "#shared/definitions/events.js";
import { ALL_FUNCTIONS, lambdaArn } from "#shared/definitions/functions.js";
import {
  HEARTBEAT_METRIC,
  HEARTBEAT_MISSED_PERIODS,
  HEARTBEAT_PERIOD_SECONDS,
  heartbeatLogGroupName,
} from "#shared/definitions/heartbeat.js";
import { KVM_HOST_TAG_KEY, KVM_HOST_TAG_VALUE } from "#shared/definitions/host-tag.js";
import { pageTopicArn, pagingAlarmInput, pagingAlarms } from "#shared/definitions/paging.js";
import {
  definitionSubstitutions,
  PROJECT_ROOT,
  readDefinition,
  STATE_MACHINES,
} from "#shared/definitions/state-machines.js";
import { operatorProof } from "#shared/domain/fencing.js";
import { newHostRecord } from "#shared/domain/host-record.js";
import { type Host, HostFencing, type Instance } from "#shared/domain/schemas.js";
import { SsmHostExecutor } from "#shared/hosts/ssm-executor.js";
import { SsmHostDirectory } from "#shared/hosts/ssm-host-directory.js";
import { mapWithConcurrency } from "#shared/lambda/concurrency.js";
import { resetDeps } from "#shared/lambda/runtime.js";
import { CloudWatchHostAlarms, type HostAlarms } from "#shared/metrics/host-alarms.js";
import { createDocumentClient, createDynamoClient } from "#shared/store/client.js";
import { createTables } from "#shared/store/create-tables.js";
import { createStores, type Stores } from "#shared/store/index.js";
import { tableNamesFromEnv } from "#shared/store/tables.js";
import { HOST_DOCUMENT_PREFIX_ENV, hostDocumentName } from "#ssm-documents/document.js";
import { type ApiServer, startApiServer } from "./api/api-server.js";
import type { LocalBmc, LocalBmcs } from "./bmc/ipmi-bmcs.js";
import { type BootRequest, bootInstance } from "./boot.js";
import { type CloudWatchEndpoint, startCloudWatchEndpoint } from "./cloudwatch/cloudwatch-endpoint.js";
import { type LogsEndpoint, startLogsEndpoint } from "./cloudwatch/logs-endpoint.js";
import { type LocalConsole, startLocalConsole } from "./console/local-console.js";
import { type DynamoServer, startDynamoServer } from "./dynamo/dynamo-server.js";
import { type DynamoFaultProxy, type DynamoFaultRates, startDynamoFaultProxy } from "./dynamo/fault-proxy.js";
import { type Ec2Endpoint, startEc2Endpoint } from "./ec2/ec2-endpoint.js";
import { type EventsEndpoint, startEventsEndpoint } from "./events/events-endpoint.js";
import { installEventRules } from "./events/install-rules.js";
import { type Heartbeats, startHeartbeats } from "./heartbeats.js";
import { type Fleet, type FleetOptions, startFleet } from "./hosts/fleet.js";
import type { LocalHostSpec } from "./hosts/local-host.js";
import { LocalCredentials } from "./http/sigv4.js";
import { type LambdaEndpoint, type LambdaHooks, startLambdaEndpoint } from "./lambda/lambda-endpoint.js";
import { localLogEnv } from "./log-settings.js";
import { startScheduler } from "./scheduler.js";
import { type SecretsEndpoint, startSecretsEndpoint } from "./secrets/secrets-endpoint.js";
import { type SimFleet, type SimHostSpec, startSimFleet } from "./sim/fleet.js";
import type { SimLatency } from "./sim/hypervisor.js";
import { type LocalTopics, startLocalTopics, type TopicSubscription } from "./sns/topics.js";
import { LocalStepFunctions } from "./stepfunctions/runner.js";
import { type SfnEndpoint, startSfnEndpoint } from "./stepfunctions/sfn-endpoint.js";

export type LocalHostsOptions = FleetOptions;
export type LocalHosts = Fleet;

/** Starts the SSM endpoint and one LocalHost per spec; `stop()` removes every process, user and folder. */
export function startLocalHosts(opts: LocalHostsOptions): Promise<LocalHosts> {
  return startFleet(opts);
}

/**
 * The local cloud's deadline of a liveness probe (`LAZARUS_HOST_PROBE_DEADLINE_MS`; 45 s deployed). A live
 * host answers the local SSM within a second (two at the bench's AWS-like 1 s per command); a dead one
 * never does, so this is how long every death takes to prove after its alarm once the mass-failure settle
 * is skipped. Shorter fences a live host whose SSM answer is slower than this while its heartbeats are
 * lost too (safe: its guests restart elsewhere). The chaos runs have used it since 2026-11.
 */
export const LOCAL_PROBE_DEADLINE_MS = 6_000;

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
  /** A machine powered on or reset boots this long before its host starts, ms (default 0). */
  machineBootDelayMs?: number;
  /**
   * SSM's own latency per command, ms (default 0 each): delivery to the agent and visibility of the
   * result (local/ssm/ssm-endpoint.ts). The benchmark sets them to see the flows at AWS's latencies.
   */
  ssmLatency?: { deliveryDelayMs?: number; statusDelayMs?: number };
  /**
   * Paging: the page topic's subscriptions (an HTTP endpoint receives each page as SNS delivers it). The
   * paging alarms are the stack's as they are (60 s periods: the metrics they watch have 1-minute
   * resolution in AWS, so no shorter period could alarm sooner there).
   */
  paging?: { subscriptions?: TopicSubscription[] };
  /**
   * Peers that notice first (host-agent/peers.ts): every host's agent beats to every other host over UDP
   * (each on an address of its own on loopback) and reports a peer it stops hearing, which starts that
   * host's failure handling before its alarm. Default off, as a deployment's host.json has no `peers`.
   */
  peers?: boolean | { intervalSeconds?: number; silentAfterSeconds?: number };
  /**
   * Simulated hosts beside the real ones (local/sim/fleet.ts): their hypervisor is a model, their agent
   * runs in this process, their heartbeats and alarms are a real host's. Seeded, alarmed and fenced (through
   * the local EC2 endpoint, fencing `local`) like the real hosts.
   */
  simulatedHosts?: SimHostSpec[];
  /** The simulated hypervisor's latency per operation (default DEFAULT_SIM_LATENCY). */
  simLatency?: SimLatency;
  /**
   * Copy each host's newest heartbeat time onto its record every second (default true): nova's
   * service_down_time, so a killed host is down for the scheduler without an alarm. false: as in AWS,
   * where a host's record has no heartbeat time and its alarm alone (status) says whether it is up: what a
   * fleet of hundreds of hosts needs (the copy is one write per host per second).
   */
  recordHeartbeats?: boolean;
  /**
   * Serve the web console (local/console): its page behind the API, a local user pool with an operator and
   * a read-only user, and the API behind IAM-style authorization (every request signed by one of them, or
   * by a tool's key, and refused when its role may not call the route). Without it the API takes unsigned
   * requests, as the flow tests send them.
   */
  console?: boolean | { pollMs?: number; unsignedAsOperator?: boolean };
}

/** Detection and the host-failure policy of this cloud (defaults suit tests and the demo, not AWS). */
export interface HostFailureOptions {
  /** How often each host publishes its heartbeat, ms (default 1000). */
  heartbeatIntervalMs?: number;
  /**
   * Heartbeat alarm period, s (default HEARTBEAT_PERIOD_SECONDS, 10). The local CloudWatch takes only the
   * periods AWS takes (10, 20, 30 or a multiple of 60): no local alarm can be faster than AWS's.
   */
  alarmPeriodSeconds?: number;
  /** Silent periods before ALARM (default HEARTBEAT_MISSED_PERIODS, as deployed). */
  alarmEvaluationPeriods?: number;
  /** A heartbeat younger than this is alive (default 3 heartbeat intervals, at least 3 s). */
  heartbeatFreshSeconds?: number;
  /** Grace period from the last heartbeat before a probe (default 8 s). */
  graceSeconds?: number;
  policy?: "all" | "ha-only";
  maxConcurrency?: number;
  /** Deadline of the liveness probe through SSM, ms (default LOCAL_PROBE_DEADLINE_MS). */
  probeDeadlineMs?: number;
  /** Seconds the recovery flow waits between looks at a running evacuation (default 2). */
  recoveryPollSeconds?: number;
  /**
   * How death can be proven for every seeded host (default LOCAL_FENCING: each host's own IPMI BMC through
   * a delegate's fence_ipmilan, qemu's image lock on shared pools, no watchdog). With power `ipmi` and no
   * `bmc`, each host gets its own simulated BMC's settings (`localBmcFencing`); `local` is the local EC2
   * endpoint (ec2:StopInstances, as an EC2 bare-metal host is fenced).
   */
  fencing?: LocalFencingChoice;
  /** A host's own fencing, by host name, instead of `fencing` (a fleet of BMC-fenced and watchdog-only hosts). */
  fencingByHost?: Record<string, LocalFencingChoice>;
  /** A power fence with no answer after this long has timed out, s (default 15). */
  fenceTimeoutSeconds?: number;
  /** Wait between looks for proof, s (default 3). */
  fenceRetrySeconds?: number;
  /** Looks for proof before giving up (default 10). */
  maxProofRounds?: number;
  /**
   * Every machine has a watchdog device (local/machine/watchdog-device.ts) with this timeout, s, which its
   * host agent arms and feeds; the control plane assumes this lease and the seeded hosts say so
   * (`fencing.watchdog`). None = no watchdog device (the default).
   */
  watchdogLeaseSeconds?: number;
  /** The lease the control plane assumes (LAZARUS_LEASE_SECONDS), s (default: watchdogLeaseSeconds, else 60). */
  leaseSeconds?: number;
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
  /** A reset host's recovery waits this long for the host's open incident to end, s (default 600). */
  hostWaitSeconds?: number;
}

export interface LocalCloud {
  fleet: Fleet;
  /** The simulated hosts, when asked for (`simulatedHosts`). */
  sim?: SimFleet;
  dynamo: DynamoServer;
  /** The fault proxy in front of DynamoDB, when the `dynamoFaults` option asked for one. */
  dynamoFaults?: DynamoFaultProxy;
  lambda: LambdaEndpoint;
  stepFunctions: LocalStepFunctions;
  sfnEndpoint: SfnEndpoint;
  events: EventsEndpoint;
  cloudwatch: CloudWatchEndpoint;
  /** CloudWatch Logs: where each host's agent sends its embedded-metric heartbeats. */
  logs: LogsEndpoint;
  /** Who may call the local AWS endpoints (SigV4): the control plane's keys and each host's own. */
  credentials: LocalCredentials;
  /** The hosts' alarms in the local CloudWatch, as registration creates them (shared/metrics/host-alarms.ts). */
  alarms: HostAlarms;
  /** The `ec2` power fence's endpoint (EC2 Stop/Start/DescribeInstances): every host by its instance id. */
  ec2: Ec2Endpoint;
  /** SNS topics: the page topic (`pageTopicArn(prefix)`), its messages (alarms' and operator alerts'). */
  topics: LocalTopics;
  /** Each host's simulated IPMI BMC (ipmi_sim): stop one, or make it refuse or hang (`setFault`). */
  bmcs: LocalBmcs;
  /** Secrets Manager (and the SSM parameters): where the BMC passwords are kept. */
  secrets: SecretsEndpoint;
  /** The API (the `api` function behind a local API Gateway); `api.url` is also env.LAZARUS_API_URL. */
  api: ApiServer;
  /** The web console and who may sign in to it, when the `console` option asked for it. */
  console?: LocalConsole;
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
  /** A boot through the real boot flow on a given host (local/boot.ts), for the benchmark; tests, demo and chaos boot by adoption (fleet-domains.ts) or the API. */
  boot(req: BootRequest): Promise<Instance>;
  /** Power loss: the host's machine powered off (every process of the host stopped by pid and uid). */
  killHost(name: string): Promise<void>;
  /** Power off (if it is not), then on: the machine boots (libvirtd, SSM agent, host agent; no guest); resolves once booted. */
  restartHost(name: string): Promise<void>;
  /**
   * What an operator (or Masakari) does once a host is known dead: nova's `forced_down`, recorded as the
   * host's proof of death (kind `operator`) as the API's force-down does; false clears it.
   */
  setForcedDown(name: string, forcedDown: boolean): Promise<Host>;
  stop(): Promise<void>;
}

/** How the local cloud fences its hosts: the kind, and the BMC settings when they are not its own BMCs'. */
export type LocalFencingChoice = Pick<HostFencing, "power" | "watchdog" | "diskLocks"> & Partial<HostFencing>;

/** What the local hosts offer: their IPMI BMCs (fenced by a peer's fence_ipmilan), qemu's image lock, no watchdog. */
export const LOCAL_FENCING: LocalFencingChoice = { power: "ipmi", watchdog: false, diskLocks: true };

/** What a simulated host offers: power through the local EC2 endpoint, its model's image lock, no watchdog. */
export const SIM_FENCING: HostFencing = HostFencing.parse({
  power: "local",
  watchdog: false,
  diskLocks: true,
});

/** The one BMC network of the local hosts: every host reaches every other host's BMC on loopback. */
export const LOCAL_BMC_NETWORK = "bmc-local";

/** Where the local cloud keeps a host's BMC password (a Secrets Manager secret). */
export function localBmcSecretName(host: string): string {
  return `lazarus/bmc/${host}`;
}

/**
 * A seeded host's fencing: the choice, with the host's own simulated BMC (its port, the admin account, the
 * password's secret) when the choice is `ipmi` without a `bmc`, and every host a delegate on the BMC network.
 */
export function localBmcFencing(choice: LocalFencingChoice, bmc: LocalBmc | undefined): HostFencing {
  const ownBmc = choice.power === "ipmi" && choice.bmc === undefined;
  if (ownBmc && !bmc) throw new Error("ipmi fencing needs the local BMCs (the fleet's bmcs option)");
  return HostFencing.parse({
    bmcNetworks: [LOCAL_BMC_NETWORK],
    ...choice,
    ...(ownBmc && bmc
      ? {
          bmc: {
            address: bmc.address,
            port: bmc.port,
            network: LOCAL_BMC_NETWORK,
            username: bmc.username,
            credentials: { secretsManager: localBmcSecretName(bmc.host) },
            lanplus: true,
            // Cipher suite 3 named: ipmi_sim answers the cipher-suite discovery slowly (about 14 s a call).
            cipher: 3,
          },
        }
      : {}),
  });
}

export async function startLocalCloud(opts: LocalCloudOptions): Promise<LocalCloud> {
  const prefix = opts.prefix ?? "lazarus";
  const stopping: Array<() => Promise<void> | void> = [];
  const stop = async () => {
    for (const fn of stopping.reverse()) await fn();
    stopping.length = 0;
  };
  const hf = opts.hostFailure ?? {};
  const heartbeatIntervalMs = hf.heartbeatIntervalMs ?? 1000;
  try {
    const dynamo = await startDynamoServer();
    stopping.push(() => dynamo.close());
    const dynamoFaults = opts.dynamoFaults
      ? await startDynamoFaultProxy({ target: dynamo.endpoint, ...opts.dynamoFaults })
      : undefined;
    if (dynamoFaults) stopping.push(() => dynamoFaults.close());
    const handlers = await loadHandlers(prefix);
    // The services' own metrics go to the local CloudWatch once it runs (EventBridge's, Lambda's).
    let serviceMetrics: CloudWatchEndpoint | undefined;
    const topics = startLocalTopics();
    topics.createTopic(pageTopicArn(prefix), opts.paging?.subscriptions ?? []);
    const lambda = await startLambdaEndpoint({
      handlers,
      hooks: opts.lambdaHooks,
      onEnded: (r) => {
        const dims = { FunctionName: r.functionName };
        serviceMetrics?.recordServiceMetric("AWS/Lambda", "Invocations", dims, 1);
        if (r.status === "failed") serviceMetrics?.recordServiceMetric("AWS/Lambda", "Errors", dims, 1);
      },
      describe: (name) => {
        const f = ALL_FUNCTIONS.find((spec) => `${prefix}-${spec.id}` === name);
        return (
          f && { handler: `${f.entry.replace(/\.ts$/, "")}.${f.handler}`, description: `${f.role}: ${f.id}` }
        );
      },
    });
    stopping.push(() => lambda.close());
    // Who may call the local AWS endpoints (SigV4): the control plane's fixed keys, and each host's own.
    const credentials = new LocalCredentials();
    const events = await startEventsEndpoint({
      lambdaEndpoint: lambda.url,
      credentials,
      publish: async (topicArn, message) => {
        await topics.publish(topicArn, message);
      },
      // EventBridge counts each rule's matches (AWS/Events MatchedEvents; a custom bus's with its name).
      onMatch: (rule) =>
        serviceMetrics?.recordServiceMetric(
          "AWS/Events",
          "MatchedEvents",
          (rule.eventBusName ?? "default") === "default"
            ? { RuleName: rule.name }
            : { EventBusName: rule.eventBusName!, RuleName: rule.name },
          1,
        ),
    });
    stopping.push(() => events.close());
    // CloudWatch hands each alarm state change to EventBridge, which routes it by the trigger's rule.
    const eventBridge = new EventBridgeClient({
      endpoint: events.url,
      region: "us-east-1",
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
    });
    stopping.push(() => eventBridge.destroy());
    const cloudwatch = await startCloudWatchEndpoint({
      credentials,
      // A fleet of simulated hosts: a quarter of an hour of data (the lease's lookback) is enough.
      ...(opts.simulatedHosts?.length ? { retentionMs: 15 * 60_000 } : {}),
      // Without host-failure handling the alarms exist (registration makes them) but none fires.
      evaluateAlarms: opts.hostFailure !== undefined,
      onAlarmAction: async (topicArn, n) => {
        await topics.publish(topicArn, n.message, n.subject);
      },
      onAlarmStateChange: async (change) => {
        await eventBridge.send(new PutEventsCommand({ Entries: [change.entry] }));
      },
    });
    stopping.push(() => cloudwatch.close());
    serviceMetrics = cloudwatch;
    // CloudWatch Logs: the hosts' embedded-metric heartbeats land in `cloudwatch`'s metrics.
    const logs = await startLogsEndpoint({ metrics: cloudwatch, credentials });
    stopping.push(() => logs.close());
    const heartbeatLogGroup = heartbeatLogGroupName(prefix);
    logs.createLogGroup(heartbeatLogGroup);
    const ec2 = await startEc2Endpoint();
    stopping.push(() => ec2.close());
    const secrets = await startSecretsEndpoint();
    stopping.push(() => secrets.close());
    // The rules of shared/definitions/rules.ts, on the buses the stack puts them on.
    installEventRules(events, prefix, pageTopicArn(prefix));

    // Every host runs the packaged host agent, pointed at these endpoints and signing with its own keys.
    const fleet = await startFleet({
      hosts: opts.hosts,
      documentPrefix: prefix,
      agent: {
        region: "us-east-1",
        endpoints: { logs: logs.url, cloudwatch: cloudwatch.url, events: events.url },
        credentials,
        logGroup: heartbeatLogGroup,
        heartbeatIntervalSeconds: heartbeatIntervalMs / 1000,
        ...(opts.peers ? { peers: opts.peers === true ? {} : opts.peers } : {}),
        ...(opts.instanceFailure
          ? { monitorIntervalSeconds: (opts.instanceFailure.monitorIntervalMs ?? 1000) / 1000 }
          : {}),
      },
      ...(hf.watchdogLeaseSeconds ? { watchdogTimeoutSeconds: hf.watchdogLeaseSeconds } : {}),
      ...(opts.machineBootDelayMs !== undefined ? { bootDelayMs: opts.machineBootDelayMs } : {}),
      // SSM at AWS's timings (local/ssm/ssm-state.ts): health every 5 minutes, ConnectionLost after 10,
      // commands pending until TimeoutSeconds + executionTimeout. No cloud option makes them sooner.
      ssm: {
        ...opts.ssmLatency,
        // The BMC passwords may also be SSM SecureString parameters, read through the same endpoint.
        moreOperations: secrets.parameterOperations,
      },
      bmcs: true,
      // The hosts' AWS CLI (a delegate's fence script) reads the BMC passwords here, signing as the host.
      hostAwsEnv: {
        AWS_ENDPOINT_URL_SECRETSMANAGER: secrets.url,
        AWS_REGION: "us-east-1",
        AWS_DEFAULT_REGION: "us-east-1",
      },
    });
    stopping.push(() => fleet.stop());
    const sim =
      opts.simulatedHosts && opts.simulatedHosts.length > 0
        ? await startSimFleet({
            hosts: opts.simulatedHosts,
            dir: fleet.dir,
            ssm: fleet.ssm,
            heartbeat: { ingest: logs.ingest, group: heartbeatLogGroup, intervalMs: heartbeatIntervalMs },
            ...(opts.simLatency ? { latency: opts.simLatency } : {}),
            tags: { [KVM_HOST_TAG_KEY]: KVM_HOST_TAG_VALUE },
          })
        : undefined;
    if (sim) {
      stopping.push(() => sim.stop());
      // Every beat a live simulated host owes is in before an alarm looks (its stalls are the cloud's own).
      cloudwatch.beforeEvaluate(() => sim.emitDueHeartbeats());
    }
    const bmcs = fleet.bmcs!;
    for (const host of fleet.hosts.keys())
      secrets.putSecret(localBmcSecretName(host), bmcs.bmc(host).password);

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
      LAZARUS_LEASE_SECONDS: String(hf.leaseSeconds ?? hf.watchdogLeaseSeconds ?? 60),
      LAZARUS_LEASE_MARGIN_SECONDS: String(hf.leaseMarginSeconds ?? 3),
      LAZARUS_HEARTBEAT_FRESH_SECONDS: String(
        hf.heartbeatFreshSeconds ?? Math.max(3, (3 * heartbeatIntervalMs) / 1000),
      ),
      LAZARUS_HEARTBEAT_GRACE_SECONDS: String(hf.graceSeconds ?? 8),
      LAZARUS_EVACUATION_POLICY: hf.policy ?? "all",
      LAZARUS_EVACUATION_MAX_CONCURRENCY: String(hf.maxConcurrency ?? 3),
      LAZARUS_HOST_PROBE_DEADLINE_MS: String(hf.probeDeadlineMs ?? LOCAL_PROBE_DEADLINE_MS),
      LAZARUS_RECOVERY_POLL_SECONDS: String(hf.recoveryPollSeconds ?? 2),
      LAZARUS_MASS_FAILURE_SHARE: String(hf.massFailureShare ?? 1 / 3),
      LAZARUS_MASS_FAILURE_WINDOW_SECONDS: String(hf.massFailureWindowSeconds ?? 120),
      LAZARUS_INSTANCE_RECOVERY_WINDOW_SECONDS: String(opts.instanceFailure?.windowSeconds ?? 3600),
      LAZARUS_INSTANCE_STORM_CRASHES: String(opts.instanceFailure?.stormCrashes ?? 3),
      LAZARUS_INSTANCE_STORM_WINDOW_SECONDS: String(opts.instanceFailure?.stormWindowSeconds ?? 120),
      LAZARUS_INSTANCE_HOST_WAIT_SECONDS: String(opts.instanceFailure?.hostWaitSeconds ?? 600),
      LAZARUS_TABLE_PREFIX: prefix,
      [HOST_DOCUMENT_PREFIX_ENV]: prefix,
      LAZARUS_EVENT_BUS: notificationBusName(prefix),
      LAZARUS_SERVICE_DOWN_SECONDS: String(opts.serviceDownSeconds ?? 10),
      LAZARUS_HEARTBEAT_ALARM_PERIOD_SECONDS: String(hf.alarmPeriodSeconds ?? HEARTBEAT_PERIOD_SECONDS),
      LAZARUS_HEARTBEAT_MISSED_PERIODS: String(hf.alarmEvaluationPeriods ?? HEARTBEAT_MISSED_PERIODS),
      LAZARUS_HEARTBEAT_INTERVAL_SECONDS: String(heartbeatIntervalMs / 1000),
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
    const consoleParts = opts.console
      ? await startLocalConsole({
          prefix,
          ...(typeof opts.console === "object" ? opts.console : {}),
        })
      : undefined;
    if (consoleParts) stopping.push(() => consoleParts.close());
    const api = await startApiServer({
      handler: apiHandler(handlers, prefix),
      ...(consoleParts ? { authorize: consoleParts.authorize, site: consoleParts.site } : {}),
    });
    const webConsole = consoleParts?.attach(api.url);
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
      documentName: (id) => hostDocumentName(prefix, id),
      defaultDeadlineMs: opts.hostCommandDeadlineMs ?? 60_000,
    });

    const now = new Date().toISOString();
    const recordHeartbeats = opts.recordHeartbeats !== false;
    const lastHeartbeatAt = recordHeartbeats ? now : null;
    const fencing = opts.hostFailure?.fencing ?? {
      ...LOCAL_FENCING,
      watchdog: hf.watchdogLeaseSeconds !== undefined,
    };
    for (const host of opts.seedHosts === false ? [] : fleet.hosts.values()) {
      await stores.hosts.put({
        ...newHostRecord(host.record(), { lastHeartbeatAt }),
        fencing: localBmcFencing(hf.fencingByHost?.[host.name] ?? fencing, bmcs.bmc(host.name)),
      });
    }
    const simHosts = opts.seedHosts === false || !sim ? [] : [...sim.hosts.values()];
    await mapWithConcurrency(simHosts, 25, (host) =>
      stores.hosts.put({ ...newHostRecord(host.record(), { lastHeartbeatAt }), fencing: SIM_FENCING }),
    );
    // The ec2 fence: StopInstances on a host's instance id cuts its power (every process, qemu included),
    // StartInstances restores it; the same switch its BMC has.
    for (const host of fleet.hosts.values()) {
      const power = fleet.machines.get(host.name)!.switchFor("fence");
      ec2.addInstance(host.record().managedInstanceId, {
        powerOff: () => power.off(),
        powerOn: () => power.on(),
        isOn: () => power.isOn(),
      });
    }
    for (const host of sim?.hosts.values() ?? []) {
      ec2.addInstance(host.managedInstanceId, {
        powerOff: async () => sim!.powerOff(host.name),
        powerOn: async () => sim!.powerOn(host.name),
        isOn: () => sim!.isOn(host.name),
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
    const heartbeats: Heartbeats = recordHeartbeats
      ? startHeartbeats({
          stores,
          lastHeartbeat: (host) =>
            cloudwatch.lastDatumAt(HEARTBEAT_METRIC.namespace, HEARTBEAT_METRIC.metricName, {
              [HEARTBEAT_METRIC.dimension]: host,
            }),
          intervalMs: opts.heartbeatIntervalMs ?? 1000,
        })
      : { beat: async () => undefined, stop: async () => undefined };
    stopping.push(() => heartbeats.stop());
    // The hosts' alarms, through the adapter host registration uses (same client, same settings).
    const cw = new CloudWatchClient({
      endpoint: cloudwatch.url,
      region: "us-east-1",
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
    });
    stopping.push(() => cw.destroy());
    const alarms = new CloudWatchHostAlarms(cw, {
      prefix,
      periodSeconds: hf.alarmPeriodSeconds ?? HEARTBEAT_PERIOD_SECONDS,
      evaluationPeriods: hf.alarmEvaluationPeriods ?? HEARTBEAT_MISSED_PERIODS,
    });
    // The seeded hosts are registered already: their alarms exist too (evaluated only with hostFailure).
    const alarmed =
      opts.hostFailure && opts.seedHosts !== false
        ? [...fleet.hosts.keys(), ...simHosts.map((h) => h.name)]
        : [];
    await mapWithConcurrency(alarmed, 20, (name) => alarms.put(name));
    // The paging alarms of the stack, as deployed, notifying the page topic.
    for (const alarm of pagingAlarms(prefix, ALL_FUNCTIONS, {
      hostEvacuationArn: stateMachineArns["host-evacuation"]!,
      hostRecoveryArn: stateMachineArns["host-recovery"]!,
      apiName: `${prefix}-api`,
    })) {
      await cw.send(new PutMetricAlarmCommand(pagingAlarmInput(alarm, [pageTopicArn(prefix)])));
    }

    const machine = (name: string) => {
      const m = fleet.machines.get(name);
      if (!m) throw new Error(`no local host ${name}`);
      return m;
    };
    return {
      fleet,
      ...(sim ? { sim } : {}),
      dynamo,
      ...(dynamoFaults ? { dynamoFaults } : {}),
      lambda,
      stepFunctions,
      sfnEndpoint,
      events,
      cloudwatch,
      logs,
      credentials,
      alarms,
      ec2,
      topics,
      bmcs,
      secrets,
      api,
      ...(webConsole ? { console: webConsole } : {}),
      heartbeats,
      env,
      stores,
      executor,
      ssm,
      rebuildStateMachineArn,
      stateMachineArns,
      directory: new SsmHostDirectory(ssm),
      boot: (req) =>
        bootInstance({ stores, stepFunctions, bootStateMachineArn: stateMachineArns.boot! }, req),
      killHost: async (name) => {
        if (sim?.hosts.has(name)) sim.powerOff(name);
        else await machine(name).powerOff("cloud");
      },
      // A restart from whatever state: off (it may still be running), then on.
      restartHost: async (name) => {
        if (sim?.hosts.has(name)) {
          sim.powerOff(name);
          sim.powerOn(name);
          return;
        }
        await machine(name).powerOff("cloud");
        await machine(name).powerOn("cloud");
      },
      setForcedDown: async (name, forcedDown) =>
        stores.hosts.forceDown(
          name,
          forcedDown
            ? operatorProof(await stores.hosts.require(name), {
                by: "the local cloud's operator",
                via: "setForcedDown",
                at: new Date(),
              })
            : null,
        ),
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
