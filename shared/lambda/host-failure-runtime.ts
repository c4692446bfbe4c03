/**
 * The host-failure flows' dependencies: the rebuild steps' (stores, host executor, clock) plus the heartbeat
 * reader, the execution starter, the policy configuration and the machines' ARNs, all from the environment.
 */
import { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import { EC2Client } from "@aws-sdk/client-ec2";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { SFNClient } from "@aws-sdk/client-sfn";
import { DEFAULT_FENCING_CONFIG, type FencingConfig } from "../domain/fencing.js";
import {
  DEFAULT_HOST_FAILURE_CONFIG,
  EVACUATION_POLICIES,
  type EvacuationPolicy,
  type HostFailureConfig,
} from "../domain/host-failure.js";
import type { StepDeps } from "../flow/deps.js";
import type { HostPowerDeps } from "../flow/host-power.js";
import { Ec2PowerFence } from "../hosts/power-fence.js";
import { CloudWatchHeartbeatReader, type HeartbeatReader } from "../metrics/heartbeat-reader.js";
import { EventBridgeHostAlerts, type HostAlerts } from "../notifications/host-alerts.js";
import { positiveFromEnv as positive } from "./env.js";
import { type ExecutionStarter, SfnExecutionStarter } from "./executions.js";
import { depsFromEnv } from "./runtime.js";

export interface HostFailureDeps extends StepDeps {
  heartbeats: HeartbeatReader;
  starter: ExecutionStarter;
  config: HostFailureConfig;
  fencing: FencingConfig;
  alerts: HostAlerts;
  /**
   * The `power` fence: a BMC's fence agent through a delegate host, or ec2:StopInstances with Force (locally
   * the local cloud's BMCs and EC2 endpoint); shared/flow/host-power.ts.
   */
  hostPower: HostPowerDeps;
  /** How long a probe of a host may take before it counts as timed out (delivery included). */
  probeDeadlineMs: number;
  /** Seconds the recovery flow waits between looks at a host whose evacuation still runs. */
  recoveryPollSeconds: number;
  machines: { hostEvacuation: string; hostRecovery: string };
}

export function hostFailureConfigFromEnv(env: NodeJS.ProcessEnv = process.env): HostFailureConfig {
  const d = DEFAULT_HOST_FAILURE_CONFIG;
  const policy = env.LAZARUS_EVACUATION_POLICY ?? d.policy;
  if (!EVACUATION_POLICIES.includes(policy as EvacuationPolicy)) {
    throw new Error(
      `LAZARUS_EVACUATION_POLICY must be one of ${EVACUATION_POLICIES.join(", ")}, got ${policy}`,
    );
  }
  return {
    heartbeatFreshSeconds: positive(env.LAZARUS_HEARTBEAT_FRESH_SECONDS, d.heartbeatFreshSeconds),
    graceSeconds: positive(env.LAZARUS_HEARTBEAT_GRACE_SECONDS, d.graceSeconds),
    policy: policy as EvacuationPolicy,
    maxConcurrency: Math.floor(positive(env.LAZARUS_EVACUATION_MAX_CONCURRENCY, d.maxConcurrency)),
  };
}

export function fencingConfigFromEnv(env: NodeJS.ProcessEnv = process.env): FencingConfig {
  const d = DEFAULT_FENCING_CONFIG;
  const share = positive(env.LAZARUS_MASS_FAILURE_SHARE, d.massFailureShare);
  if (share >= 1) throw new Error(`LAZARUS_MASS_FAILURE_SHARE must be below 1, got ${share}`);
  return {
    massFailureShare: share,
    massFailureWindowSeconds: positive(env.LAZARUS_MASS_FAILURE_WINDOW_SECONDS, d.massFailureWindowSeconds),
    leaseSeconds: positive(env.LAZARUS_LEASE_SECONDS, d.leaseSeconds),
    leaseMarginSeconds: positive(env.LAZARUS_LEASE_MARGIN_SECONDS, d.leaseMarginSeconds),
    fenceTimeoutSeconds: positive(env.LAZARUS_FENCE_TIMEOUT_SECONDS, d.fenceTimeoutSeconds),
    fenceRetrySeconds: positive(env.LAZARUS_FENCE_RETRY_SECONDS, d.fenceRetrySeconds),
    maxProofRounds: Math.floor(positive(env.LAZARUS_FENCE_MAX_ROUNDS, d.maxProofRounds)),
  };
}

/** Power control (the fence, an operator's power commands) over the step deps' stores, executor and clock. */
export function hostPowerDepsFrom(base: StepDeps, env: NodeJS.ProcessEnv = process.env): HostPowerDeps {
  return {
    stores: base.stores,
    executor: base.executor,
    ec2: new Ec2PowerFence(new EC2Client({})),
    now: base.now,
    sleep: base.sleep,
    region: env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? "us-east-1",
    serviceDownSeconds: base.serviceDownSeconds,
    pollMs: positive(env.LAZARUS_FENCE_POLL_MS, 2000),
    maxDelegates: Math.floor(positive(env.LAZARUS_FENCE_MAX_DELEGATES, 3)),
  };
}

let cached: { base: StepDeps; deps: HostFailureDeps } | undefined;

export function hostFailureDepsFromEnv(env: NodeJS.ProcessEnv = process.env): HostFailureDeps {
  const base = depsFromEnv(env);
  // Rebuilt whenever the base deps were (the local cloud resets them after changing endpoints).
  if (cached?.base === base) return cached.deps;
  const deps: HostFailureDeps = {
    ...base,
    heartbeats: new CloudWatchHeartbeatReader(new CloudWatchClient({}), base.now),
    starter: new SfnExecutionStarter(new SFNClient({})),
    config: hostFailureConfigFromEnv(env),
    fencing: fencingConfigFromEnv(env),
    alerts: new EventBridgeHostAlerts(new EventBridgeClient({}), env.LAZARUS_EVENT_BUS ?? "default"),
    hostPower: hostPowerDepsFrom(base, env),
    probeDeadlineMs: positive(env.LAZARUS_HOST_PROBE_DEADLINE_MS, 45_000),
    recoveryPollSeconds: positive(env.LAZARUS_RECOVERY_POLL_SECONDS, 5),
    machines: {
      hostEvacuation: env.LAZARUS_HOST_EVACUATION_STATE_MACHINE_ARN ?? "",
      hostRecovery: env.LAZARUS_HOST_RECOVERY_STATE_MACHINE_ARN ?? "",
    },
  };
  cached = { base, deps };
  return deps;
}
