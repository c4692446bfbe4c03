/**
 * The host-failure flows' dependencies: the rebuild steps' (stores, host executor, clock) plus the heartbeat
 * reader, the execution starter, the policy configuration and the machines' ARNs, from the container
 * (`runtime.ts`) and its settings (`settings.ts`).
 */
import { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import { EC2Client } from "@aws-sdk/client-ec2";
import type { FencingConfig } from "../domain/fencing.js";
import type { HostFailureConfig } from "../domain/host-failure.js";
import type { StepDeps } from "../flow/deps.js";
import type { ExecutionStarter } from "../flow/executions.js";
import { Ec2PowerFence, type PowerFence } from "../hosts/power-fence.js";
import { CloudWatchHeartbeatReader, type HeartbeatReader } from "../metrics/heartbeat-reader.js";
import { EventBridgeHostAlerts, type HostAlerts } from "../notifications/host-alerts.js";
import type { InvocationTelemetry } from "./observability.js";
import { containerFromEnv, depsFromEnv, perContainer } from "./runtime.js";
import { machineArn } from "./settings.js";

export interface HostFailureDeps extends StepDeps {
  heartbeats: HeartbeatReader;
  starter: ExecutionStarter;
  config: HostFailureConfig;
  fencing: FencingConfig;
  alerts: HostAlerts;
  /** The `power` fence (ec2:StopInstances with Force; locally the local cloud's EC2 endpoint). */
  powerFence: PowerFence;
  /** How often the fence step looks whether a fenced host is off, ms. */
  fencePollMs: number;
  /** How long a probe of a host may take before it counts as timed out (delivery included). */
  probeDeadlineMs: number;
  /** Seconds the recovery flow waits between looks at a host whose evacuation still runs. */
  recoveryPollSeconds: number;
  machines: { hostEvacuation: string; hostRecovery: string };
}

const clients = perContainer((c) => ({
  heartbeats: new CloudWatchHeartbeatReader(new CloudWatchClient({}), c.now),
  alerts: new EventBridgeHostAlerts(c.eventBridge, c.settings.eventBus),
  powerFence: new Ec2PowerFence(new EC2Client({})),
}));

export function hostFailureDepsFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  telemetry?: InvocationTelemetry,
): HostFailureDeps {
  const { settings, executions } = containerFromEnv(env);
  return {
    ...depsFromEnv(env, telemetry),
    ...clients(env),
    starter: executions,
    config: settings.hostFailure,
    fencing: settings.fencing,
    fencePollMs: settings.fencePollMs,
    probeDeadlineMs: settings.hostProbeDeadlineMs,
    recoveryPollSeconds: settings.recoveryPollSeconds,
    machines: {
      hostEvacuation: machineArn(settings, "host-evacuation"),
      hostRecovery: machineArn(settings, "host-recovery"),
    },
  };
}
