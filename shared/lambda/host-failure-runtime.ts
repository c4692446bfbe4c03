/**
 * The host-failure flows' dependencies: the rebuild steps' (stores, host executor, clock) plus the heartbeat
 * reader, the execution starter, the policy configuration, the power fence and the machines' ARNs, from the
 * container (`runtime.ts`) and its settings (`settings.ts`).
 */
import { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import { EC2Client } from "@aws-sdk/client-ec2";
import { heartbeatLogGroupName } from "../definitions/heartbeat.js";
import type { FencingConfig } from "../domain/fencing.js";
import type { HostFailureConfig } from "../domain/host-failure.js";
import type { StepDeps } from "../flow/deps.js";
import type { ExecutionStarter } from "../flow/executions.js";
import type { HostPowerDeps } from "../flow/host-power.js";
import type { ProbeSender } from "../hosts/executor.js";
import { Ec2PowerFence } from "../hosts/power-fence.js";
import { CloudWatchHeartbeatReader, type HeartbeatReader } from "../metrics/heartbeat-reader.js";
import { CloudWatchHostAlarms, type HostAlarmState } from "../metrics/host-alarms.js";
import { EventBridgeHostAlerts, type HostAlerts } from "../notifications/host-alerts.js";
import type { InvocationTelemetry } from "./observability.js";
import { containerFromEnv, depsFromEnv, hostExecutor, perContainer } from "./runtime.js";
import { machineArn } from "./settings.js";

export interface HostFailureDeps extends StepDeps {
  heartbeats: HeartbeatReader;
  /** The fleet series' `Fleet` dimension: the deployment's heartbeat log group (FLEET_HEARTBEAT_METRIC). */
  heartbeatFleet: string;
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
  /** The liveness probe sent when an incident opens and read when the flow judges (SSM Run Command). */
  probes: ProbeSender;
  /** Seconds the recovery flow waits between looks at a host whose evacuation still runs. */
  recoveryPollSeconds: number;
  machines: { hostEvacuation: string; hostRecovery: string };
  /** The host's alarm set to ALARM once its death is proven before the alarm fired (DisableHost). */
  hostAlarms: HostAlarmState;
}

const clients = perContainer((c) => ({
  heartbeats: new CloudWatchHeartbeatReader(new CloudWatchClient({}), c.now),
  hostAlarms: new CloudWatchHostAlarms(new CloudWatchClient({}), {
    prefix: c.settings.prefix,
    ...c.settings.heartbeatAlarm,
  }),
  alerts: new EventBridgeHostAlerts(c.eventBridge, c.settings.eventBus),
  ec2: new Ec2PowerFence(new EC2Client({})),
}));

/**
 * Power control (the fence step's, and an operator's power actions in the host-power function): the step
 * deps' stores, executor and clock, the container's EC2 client, the fence settings.
 */
export function hostPowerDepsFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  telemetry?: InvocationTelemetry,
  base: StepDeps = depsFromEnv(env, telemetry),
): HostPowerDeps {
  const { settings } = containerFromEnv(env);
  return {
    stores: base.stores,
    executor: base.executor,
    ec2: clients(env).ec2,
    now: base.now,
    sleep: base.sleep,
    region: settings.region,
    serviceDownSeconds: base.serviceDownSeconds,
    pollMs: settings.fencePollMs,
    maxDelegates: settings.fenceMaxDelegates,
  };
}

export function hostFailureDepsFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  telemetry?: InvocationTelemetry,
): HostFailureDeps {
  const container = containerFromEnv(env);
  const { settings, executions } = container;
  const base = depsFromEnv(env, telemetry);
  const { heartbeats, alerts, hostAlarms } = clients(env);
  return {
    ...base,
    heartbeats,
    heartbeatFleet: heartbeatLogGroupName(settings.prefix),
    alerts,
    starter: executions,
    config: settings.hostFailure,
    fencing: settings.fencing,
    hostPower: hostPowerDepsFromEnv(env, telemetry, base),
    probeDeadlineMs: settings.hostProbeDeadlineMs,
    probes: hostExecutor(container, telemetry),
    recoveryPollSeconds: settings.recoveryPollSeconds,
    hostAlarms,
    machines: {
      hostEvacuation: machineArn(settings, "host-evacuation"),
      hostRecovery: machineArn(settings, "host-recovery"),
    },
  };
}
