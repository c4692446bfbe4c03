/**
 * The instance-failure flow's dependencies: the rebuild steps' (stores, host executor, notifier, clock)
 * plus the execution starter, the policy configuration and the machines' ARNs, all from the environment.
 */
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { SFNClient } from "@aws-sdk/client-sfn";
import { DEFAULT_INSTANCE_FAILURE_CONFIG, type InstanceFailureConfig } from "../domain/instance-failure.js";
import type { StepDeps } from "../flow/deps.js";
import { EventBridgeHostAlerts, type HostAlerts } from "../notifications/host-alerts.js";
import { positiveFromEnv } from "./env.js";
import { type ExecutionStarter, SfnExecutionStarter } from "./executions.js";
import { depsFromEnv } from "./runtime.js";

export interface InstanceFailureDeps extends StepDeps {
  starter: ExecutionStarter;
  config: InstanceFailureConfig;
  /** Operator alerts (a recovery given up pages). */
  alerts: HostAlerts;
  /** Deadline of the probe of a domain's state through SSM (delivery included). */
  probeDeadlineMs: number;
  machines: { instanceRecovery: string; hostEvacuation: string };
}

export function instanceFailureConfigFromEnv(env: NodeJS.ProcessEnv = process.env): InstanceFailureConfig {
  const d = DEFAULT_INSTANCE_FAILURE_CONFIG;
  return {
    windowSeconds: positiveFromEnv(env.LAZARUS_INSTANCE_RECOVERY_WINDOW_SECONDS, d.windowSeconds),
    stormCrashes: Math.floor(positiveFromEnv(env.LAZARUS_INSTANCE_STORM_CRASHES, d.stormCrashes)),
    stormWindowSeconds: positiveFromEnv(env.LAZARUS_INSTANCE_STORM_WINDOW_SECONDS, d.stormWindowSeconds),
  };
}

let cached: { base: StepDeps; deps: InstanceFailureDeps } | undefined;

export function instanceFailureDepsFromEnv(env: NodeJS.ProcessEnv = process.env): InstanceFailureDeps {
  const base = depsFromEnv(env);
  // Rebuilt whenever the base deps were (the local cloud resets them after changing endpoints).
  if (cached?.base === base) return cached.deps;
  const deps: InstanceFailureDeps = {
    ...base,
    starter: new SfnExecutionStarter(new SFNClient({})),
    config: instanceFailureConfigFromEnv(env),
    alerts: new EventBridgeHostAlerts(new EventBridgeClient({}), env.LAZARUS_EVENT_BUS ?? "default"),
    probeDeadlineMs: positiveFromEnv(env.LAZARUS_HOST_PROBE_DEADLINE_MS, 45_000),
    machines: {
      instanceRecovery: env.LAZARUS_INSTANCE_RECOVERY_STATE_MACHINE_ARN ?? "",
      hostEvacuation: env.LAZARUS_HOST_EVACUATION_STATE_MACHINE_ARN ?? "",
    },
  };
  cached = { base, deps };
  return deps;
}
