/**
 * Proof of death, in two parts: the heartbeat stale past the grace period (read from CloudWatch), then a
 * direct probe through SSM Run Command that cannot be delivered or times out. SSM's PingStatus is not used:
 * the real agent reports it every 5 minutes, so a dead host looks Online for minutes.
 */
import { HostCommandTimedOut, HostUnreachable, InvalidInput } from "#shared/domain/errors.js";
import { assessHeartbeat as assess, judgeProbe, type ProbeResult } from "#shared/domain/host-failure.js";
import { hostTarget } from "#shared/hosts/layout.js";
import { livenessProbe } from "#shared/hosts/probes.js";
import type { HostFailureDeps } from "#shared/lambda/host-failure-runtime.js";
import type { HostEvacuationState } from "../contract.js";

export async function assessHeartbeat(
  deps: HostFailureDeps,
  state: HostEvacuationState,
): Promise<HostEvacuationState> {
  const lookback = Math.max(600, deps.config.graceSeconds * 4);
  const last = await deps.heartbeats.lastHeartbeat(state.host, lookback);
  const openedAt = new Date(state.openedAt);
  const heartbeat = assess(
    {
      lastHeartbeatAt: last,
      watchingSince: openedAt,
      now: deps.now(),
      // An alarm's evacuation waits for the alarms of hosts that died with this one (the guard counts them).
      settleUntil:
        state.source === "alarm"
          ? new Date(openedAt.getTime() + deps.config.massFailureSettleSeconds * 1000)
          : null,
    },
    deps.config,
  );
  return { ...state, heartbeat };
}

export async function probeHost(
  deps: HostFailureDeps,
  state: HostEvacuationState,
): Promise<HostEvacuationState> {
  if (!state.heartbeat)
    throw new InvalidInput("probeHost needs the heartbeat assessment", { host: state.host });
  const host = await deps.stores.hosts.require(state.host);
  let probe: ProbeResult;
  try {
    // Any exit status means the host ran it: it is alive.
    await deps.executor.probe(hostTarget(host), livenessProbe(), {
      comment: `lazarus liveness probe ${state.incidentId}`,
      executionTimeoutSeconds: 10,
      deadlineMs: deps.probeDeadlineMs,
    });
    probe = "answered";
  } catch (e) {
    if (e instanceof HostUnreachable) probe = "unreachable";
    else if (e instanceof HostCommandTimedOut) probe = "timed-out";
    else throw e;
  }
  return { ...state, death: judgeProbe(probe, state.heartbeat) };
}
