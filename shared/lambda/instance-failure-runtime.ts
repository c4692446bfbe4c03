/**
 * The instance-failure flow's dependencies: the rebuild steps' (stores, host executor, notifier, clock)
 * plus the execution starter, the policy configuration and the machines' ARNs, from the container
 * (`runtime.ts`) and its settings (`settings.ts`).
 */
import type { InstanceFailureConfig } from "../domain/instance-failure.js";
import type { StepDeps } from "../flow/deps.js";
import type { ExecutionStarter } from "../flow/executions.js";
import { EventBridgeHostAlerts, type HostAlerts } from "../notifications/host-alerts.js";
import type { InvocationTelemetry } from "./observability.js";
import { containerFromEnv, depsFromEnv, perContainer } from "./runtime.js";
import { machineArn } from "./settings.js";

export interface InstanceFailureDeps extends StepDeps {
  starter: ExecutionStarter;
  config: InstanceFailureConfig;
  /** Operator alerts (a recovery given up pages). */
  alerts: HostAlerts;
  /** Deadline of the probe of a domain's state through SSM (delivery included). */
  probeDeadlineMs: number;
  /** Seconds between two looks at a reset host's open incident (LAZARUS_RECOVERY_POLL_SECONDS). */
  recoveryPollSeconds: number;
  machines: { instanceRecovery: string; hostEvacuation: string };
}

const alerts = perContainer((c) => new EventBridgeHostAlerts(c.eventBridge, c.settings.eventBus));

export function instanceFailureDepsFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  telemetry?: InvocationTelemetry,
): InstanceFailureDeps {
  const { settings, executions } = containerFromEnv(env);
  return {
    ...depsFromEnv(env, telemetry),
    starter: executions,
    config: settings.instanceFailure,
    alerts: alerts(env),
    probeDeadlineMs: settings.hostProbeDeadlineMs,
    recoveryPollSeconds: settings.recoveryPollSeconds,
    machines: {
      instanceRecovery: machineArn(settings, "instance-recovery"),
      hostEvacuation: machineArn(settings, "host-evacuation"),
    },
  };
}
