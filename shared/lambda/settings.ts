/**
 * Every setting the Lambdas read from their environment, parsed in this one place: its variable, its
 * default, and what a valid value is. The runtimes (`runtime.ts`, the host- and instance-failure runtimes,
 * the API's and inventory's deps) read `LambdaSettings`, never `process.env`.
 *
 * A variable unset or empty takes its default; one set to a value that is not valid is refused with
 * InvalidSetting, naming the variable (a typo never silently becomes the default). The CDK stack and the
 * local cloud set these variables; docs/DEPLOY.md lists the ones an operator tunes.
 */
import { ALL_FUNCTIONS, functionNameEnv } from "../definitions/functions.js";
import { HEARTBEAT_MISSED_PERIODS, HEARTBEAT_PERIOD_SECONDS } from "../definitions/heartbeat.js";
import { deployedName, STATE_MACHINES } from "../definitions/state-machines.js";
import {
  DEFAULT_HOST_PROBE_DEADLINE_MS,
  LIVE_MIGRATION_TIMEOUT_MAX_SECONDS,
} from "../definitions/timeouts.js";
import { InvalidSetting } from "../domain/errors.js";
import { DEFAULT_FENCING_CONFIG, type FencingConfig } from "../domain/fencing.js";
import {
  ALARM_SKEW_MARGIN_SECONDS,
  DEFAULT_HOST_FAILURE_CONFIG,
  EVACUATION_POLICIES,
  type EvacuationPolicy,
  type HostFailureConfig,
} from "../domain/host-failure.js";
import { DEFAULT_SERVICE_DOWN_SECONDS } from "../domain/host-liveness.js";
import { DEFAULT_INSTANCE_FAILURE_CONFIG, type InstanceFailureConfig } from "../domain/instance-failure.js";
import { DEFAULT_PREFIX, type TableNames, tableNamesFromEnv } from "../store/tables.js";

/** nova's `shutdown_timeout` default: seconds a clean shutdown may take before the domain is destroyed. */
export const DEFAULT_SHUTDOWN_TIMEOUT_SECONDS = 60;
/** How long a host command may take, SSM delivery included, unless its caller gives its own deadline. */
export const DEFAULT_HOST_COMMAND_DEADLINE_MS = 120_000;

/** Planned maintenance (issue 32): how long a live migration may copy, and how many a drain runs at once. */
export interface MaintenanceConfig {
  /** After this long the live migration is aborted (nova's live_migration_completion_timeout, action abort). */
  liveMigrationTimeoutSeconds: number;
  /** How many of a host's instances a drain (or undrain --return) moves at once. */
  drainMaxConcurrency: number;
}
export const DEFAULT_MAINTENANCE_CONFIG: MaintenanceConfig = {
  liveMigrationTimeoutSeconds: 600,
  drainMaxConcurrency: 2,
};

export type LogFormat = "json" | "pretty";

export interface LambdaSettings {
  /** Deployment prefix: `<prefix>-<id>` names functions and state machines (LAZARUS_TABLE_PREFIX). */
  prefix: string;
  tables: TableNames;
  /** The stack's host documents are `<hostDocumentPrefix>-<id>` (LAZARUS_HOST_DOCUMENT_PREFIX, else the prefix). */
  hostDocumentPrefix: string;
  /** The EventBridge bus notifications and alerts are published on. */
  eventBus: string;
  /** nova's service_down_time. */
  serviceDownSeconds: number;
  shutdownTimeoutSeconds: number;
  hostCommandDeadlineMs: number;
  hostProbeDeadlineMs: number;
  /** How often the fence step looks whether a fenced host is off. */
  fencePollMs: number;
  /** Delegates a BMC fence (or an operator's power action) tries at most, each with the whole deadline. */
  fenceMaxDelegates: number;
  /** How long an operator's power action may wait for the BMC to confirm it, per delegate, s. */
  powerDeadlineSeconds: number;
  /** The region this runs in: where the BMC passwords live, for the delegates' AWS CLI. */
  region: string;
  /** Seconds the recovery flow waits between looks at a host whose evacuation still runs. */
  recoveryPollSeconds: number;
  hostFailure: HostFailureConfig;
  fencing: FencingConfig;
  instanceFailure: InstanceFailureConfig;
  maintenance: MaintenanceConfig;
  /**
   * The heartbeat alarms registration creates (shared/metrics/host-alarms.ts): period, s
   * (LAZARUS_HEARTBEAT_ALARM_PERIOD_SECONDS, default 10) and silent periods before ALARM
   * (LAZARUS_HEARTBEAT_MISSED_PERIODS, default 3).
   */
  heartbeatAlarm: { periodSeconds: number; evaluationPeriods: number };
  /** State machine ARN by id (shared/definitions/state-machines.ts); null = not deployed here. */
  machineArns: Readonly<Record<string, string | null>>;
  /** The deployed name of function `id` (LAZARUS_FUNCTION_<ID>, else `<prefix>-<id>`). */
  functionName: (id: string) => string;
  /** LAZARUS_LOG_FORMAT: "json" (CloudWatch Logs) or "pretty" (one readable line, for a terminal). */
  logFormat: LogFormat;
}

type Env = NodeJS.ProcessEnv;

/** `name`'s value parsed by `parse` (undefined = not valid), or `fallback` when unset or empty. */
function setting<T>(
  env: Env,
  name: string,
  fallback: T,
  expected: string,
  parse: (raw: string) => T | undefined,
): T {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === "") return fallback;
  const value = parse(raw);
  if (value === undefined) {
    throw new InvalidSetting(`${name} must be ${expected}, got ${JSON.stringify(raw)}`, { name, value: raw });
  }
  return value;
}

const positive = (env: Env, name: string, fallback: number) =>
  setting(env, name, fallback, "a positive number", (raw) => {
    const n = Number(raw);
    return Number.isFinite(n) && n > 0 ? n : undefined;
  });

const positiveInteger = (env: Env, name: string, fallback: number) =>
  setting(env, name, fallback, "a positive whole number", (raw) => {
    const n = Number(raw);
    return Number.isInteger(n) && n > 0 ? n : undefined;
  });

const text = (env: Env, name: string, fallback: string) => setting(env, name, fallback, "text", (raw) => raw);

function oneOf<T extends string>(env: Env, name: string, fallback: T, values: readonly T[]): T {
  return setting(env, name, fallback, `one of ${values.join(", ")}`, (raw) =>
    (values as readonly string[]).includes(raw) ? (raw as T) : undefined,
  );
}

export function hostFailureConfigFromEnv(env: Env = process.env): HostFailureConfig {
  const d = DEFAULT_HOST_FAILURE_CONFIG;
  const alarm = heartbeatAlarmFromEnv(env);
  return {
    heartbeatFreshSeconds: positive(env, "LAZARUS_HEARTBEAT_FRESH_SECONDS", d.heartbeatFreshSeconds),
    graceSeconds: positive(env, "LAZARUS_HEARTBEAT_GRACE_SECONDS", d.graceSeconds),
    policy: oneOf<EvacuationPolicy>(env, "LAZARUS_EVACUATION_POLICY", d.policy, EVACUATION_POLICIES),
    maxConcurrency: positiveInteger(env, "LAZARUS_EVACUATION_MAX_CONCURRENCY", d.maxConcurrency),
    massFailureSettleSeconds: alarm.periodSeconds + ALARM_SKEW_MARGIN_SECONDS,
    latestAlarmSeconds: (alarm.evaluationPeriods + 1) * alarm.periodSeconds + ALARM_SKEW_MARGIN_SECONDS,
  };
}

/** The heartbeat alarms' period and silent periods, as registration creates them. */
export function heartbeatAlarmFromEnv(env: Env = process.env): {
  periodSeconds: number;
  evaluationPeriods: number;
} {
  return {
    periodSeconds: positiveInteger(env, "LAZARUS_HEARTBEAT_ALARM_PERIOD_SECONDS", HEARTBEAT_PERIOD_SECONDS),
    evaluationPeriods: positiveInteger(env, "LAZARUS_HEARTBEAT_MISSED_PERIODS", HEARTBEAT_MISSED_PERIODS),
  };
}

export function fencingConfigFromEnv(env: Env = process.env): FencingConfig {
  const d = DEFAULT_FENCING_CONFIG;
  return {
    massFailureShare: setting(
      env,
      "LAZARUS_MASS_FAILURE_SHARE",
      d.massFailureShare,
      "a number above 0 and below 1",
      (raw) => {
        const n = Number(raw);
        return Number.isFinite(n) && n > 0 && n < 1 ? n : undefined;
      },
    ),
    massFailureWindowSeconds: positive(
      env,
      "LAZARUS_MASS_FAILURE_WINDOW_SECONDS",
      d.massFailureWindowSeconds,
    ),
    leaseSeconds: positive(env, "LAZARUS_LEASE_SECONDS", d.leaseSeconds),
    leaseMarginSeconds: positive(env, "LAZARUS_LEASE_MARGIN_SECONDS", d.leaseMarginSeconds),
    fenceTimeoutSeconds: positive(env, "LAZARUS_FENCE_TIMEOUT_SECONDS", d.fenceTimeoutSeconds),
    fenceRetrySeconds: positive(env, "LAZARUS_FENCE_RETRY_SECONDS", d.fenceRetrySeconds),
    maxProofRounds: positiveInteger(env, "LAZARUS_FENCE_MAX_ROUNDS", d.maxProofRounds),
    heartbeatIntervalSeconds: positive(env, "LAZARUS_HEARTBEAT_INTERVAL_SECONDS", d.heartbeatIntervalSeconds),
  };
}

export function instanceFailureConfigFromEnv(env: Env = process.env): InstanceFailureConfig {
  const d = DEFAULT_INSTANCE_FAILURE_CONFIG;
  return {
    windowSeconds: positive(env, "LAZARUS_INSTANCE_RECOVERY_WINDOW_SECONDS", d.windowSeconds),
    stormCrashes: positiveInteger(env, "LAZARUS_INSTANCE_STORM_CRASHES", d.stormCrashes),
    stormWindowSeconds: positive(env, "LAZARUS_INSTANCE_STORM_WINDOW_SECONDS", d.stormWindowSeconds),
    hostWaitSeconds: positive(env, "LAZARUS_INSTANCE_HOST_WAIT_SECONDS", d.hostWaitSeconds),
  };
}

export function maintenanceConfigFromEnv(env: Env = process.env): MaintenanceConfig {
  const d = DEFAULT_MAINTENANCE_CONFIG;
  return {
    // A host-command step's Lambda runs at most 15 minutes (shared/definitions/timeouts.ts): the copy gets 13.
    liveMigrationTimeoutSeconds: setting(
      env,
      "LAZARUS_LIVE_MIGRATION_TIMEOUT_SECONDS",
      d.liveMigrationTimeoutSeconds,
      `a whole number of seconds from 1 to ${LIVE_MIGRATION_TIMEOUT_MAX_SECONDS}`,
      (raw) => {
        const n = Number(raw);
        return Number.isInteger(n) && n >= 1 && n <= LIVE_MIGRATION_TIMEOUT_MAX_SECONDS ? n : undefined;
      },
    ),
    drainMaxConcurrency: positiveInteger(env, "LAZARUS_DRAIN_MAX_CONCURRENCY", d.drainMaxConcurrency),
  };
}

export function logFormatFromEnv(env: Env = process.env): LogFormat {
  return oneOf<LogFormat>(env, "LAZARUS_LOG_FORMAT", "json", ["json", "pretty"]);
}

/** Every setting, read and checked at once (a Lambda container reads them on its first invocation). */
export function settingsFromEnv(env: Env = process.env): LambdaSettings {
  const prefix = text(env, "LAZARUS_TABLE_PREFIX", DEFAULT_PREFIX);
  const functionNames = new Map(
    ALL_FUNCTIONS.map((f) => [f.id, env[functionNameEnv(f.id)]?.trim() || deployedName(prefix, f.id)]),
  );
  return {
    prefix,
    tables: tableNamesFromEnv(env),
    hostDocumentPrefix: text(env, "LAZARUS_HOST_DOCUMENT_PREFIX", prefix),
    eventBus: text(env, "LAZARUS_EVENT_BUS", "default"),
    serviceDownSeconds: positive(env, "LAZARUS_SERVICE_DOWN_SECONDS", DEFAULT_SERVICE_DOWN_SECONDS),
    shutdownTimeoutSeconds: positive(
      env,
      "LAZARUS_SHUTDOWN_TIMEOUT_SECONDS",
      DEFAULT_SHUTDOWN_TIMEOUT_SECONDS,
    ),
    hostCommandDeadlineMs: positive(
      env,
      "LAZARUS_HOST_COMMAND_DEADLINE_MS",
      DEFAULT_HOST_COMMAND_DEADLINE_MS,
    ),
    hostProbeDeadlineMs: positive(env, "LAZARUS_HOST_PROBE_DEADLINE_MS", DEFAULT_HOST_PROBE_DEADLINE_MS),
    fencePollMs: positive(env, "LAZARUS_FENCE_POLL_MS", 2000),
    fenceMaxDelegates: positiveInteger(env, "LAZARUS_FENCE_MAX_DELEGATES", 3),
    powerDeadlineSeconds: positive(env, "LAZARUS_POWER_DEADLINE_SECONDS", 60),
    region: text(env, "AWS_REGION", text(env, "AWS_DEFAULT_REGION", "us-east-1")),
    recoveryPollSeconds: positive(env, "LAZARUS_RECOVERY_POLL_SECONDS", 5),
    hostFailure: hostFailureConfigFromEnv(env),
    fencing: fencingConfigFromEnv(env),
    instanceFailure: instanceFailureConfigFromEnv(env),
    maintenance: maintenanceConfigFromEnv(env),
    heartbeatAlarm: heartbeatAlarmFromEnv(env),
    machineArns: Object.fromEntries(STATE_MACHINES.map((m) => [m.id, env[m.arnEnv]?.trim() || null])),
    functionName: (id) => functionNames.get(id) ?? deployedName(prefix, id),
    logFormat: logFormatFromEnv(env),
  };
}

/** The ARN of state machine `id`, or "" when it is not deployed here (a start then fails, naming no ARN). */
export function machineArn(settings: Pick<LambdaSettings, "machineArns">, id: string): string {
  return settings.machineArns[id] ?? "";
}
