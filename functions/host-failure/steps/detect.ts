/**
 * Proof of death, in two parts: the heartbeat stale past the grace period (read from CloudWatch), then a
 * direct probe through SSM Run Command that cannot be delivered or times out. SSM's PingStatus is not used:
 * the real agent reports it every 5 minutes, so a dead host looks Online for minutes.
 *
 * The probe is sent when the incident opens (SendProbe) and read after the heartbeat's waits (ProbeHost):
 * its deadline runs out during the grace period and the mass-failure settle instead of after them. Only
 * its silence is taken from then; an answer given then may be older than the host's death, so a host that
 * answered is asked again.
 */
import { ALERTS } from "#shared/definitions/paging.js";
import { HostCommandTimedOut, HostUnreachable, InvalidInput } from "#shared/domain/errors.js";
import {
  FLEET_SERIES_WINDOW_INTERVALS,
  fleetSeriesReadableAt,
  fleetSeriesWindow,
  hostsSilentAtMost,
  type SettleVerdict,
  settleVerdict,
  suspectsThatHold,
} from "#shared/domain/fencing.js";
import {
  assessHeartbeat as assess,
  judgeProbe,
  watchSilentHost as nextWatch,
  type ProbeResult,
} from "#shared/domain/host-failure.js";
import { hostTarget } from "#shared/hosts/layout.js";
import { livenessProbe } from "#shared/hosts/probes.js";
import type { HostFailureDeps } from "#shared/lambda/host-failure-runtime.js";
import { alertBestEffort } from "#shared/notifications/host-alerts.js";
import type { HostEvacuationState } from "../contract.js";
import { readSuspects } from "./guard.js";

export async function assessHeartbeat(
  deps: HostFailureDeps,
  state: HostEvacuationState,
): Promise<HostEvacuationState> {
  const lookback = Math.max(600, deps.config.graceSeconds * 4);
  const last = await deps.heartbeats.lastHeartbeat(state.host, lookback);
  const openedAt = new Date(state.openedAt);
  const now = deps.now();
  const observed = {
    lastHeartbeatAt: last,
    watchingSince: openedAt,
    now,
    silentSince: state.silentSince ? new Date(state.silentSince) : null,
  };
  // An automatic evacuation waits for the alarms of hosts that died with this one (the guard counts them),
  // unless the fleet's heartbeats show that no such host can change the guard's verdict.
  const settleEnd = settleEndOf(state, last, deps.config);
  const settling = settleEnd !== null && settleEnd > now && assess(observed, deps.config).verdict !== "alive";
  const settle = settling ? await settleVerdictOrWait(deps, state, last, now) : state.settle;
  const assessed = assess(
    { ...observed, settleUntil: settle?.verdict === "skip" ? null : settleEnd },
    deps.config,
  );
  // Too soon to read the fleet's heartbeats well (a peer's report, seconds after the death): assess again
  // as soon as they can tell more, rather than waiting out the whole settle.
  const againAt = settle?.verdict === "wait" && settle.againAt ? Date.parse(settle.againAt) : null;
  const heartbeat =
    assessed.verdict === "wait" && againAt !== null
      ? {
          ...assessed,
          waitSeconds: Math.min(
            assessed.waitSeconds,
            Math.max(1, Math.ceil((againAt - now.getTime()) / 1000)),
          ),
        }
      : assessed;
  return { ...state, heartbeat, ...(settle ? { settle } : {}) };
}

/**
 * When an automatic evacuation's settle ends. An alarm's: one alarm period (and the margin) after it, by
 * when the alarms of hosts that died at the same moment have fired too. A peer's report comes seconds after
 * the death, before any alarm: its settle runs to the latest such alarm after the host's last heartbeat (a
 * host that died with this one and has no live peer to report it is counted only once its alarm fired).
 * An operator's request: none.
 */
function settleEndOf(
  state: HostEvacuationState,
  lastBeat: Date | null,
  cfg: HostFailureDeps["config"],
): Date | null {
  const openedAt = Date.parse(state.openedAt);
  if (state.source === "alarm") return new Date(openedAt + cfg.massFailureSettleSeconds * 1000);
  if (state.source === "peer")
    return new Date((lastBeat?.getTime() ?? openedAt) + cfg.latestAlarmSeconds * 1000);
  return null;
}

/**
 * The settle only ever saves time: when its reads fail (CloudWatch or DynamoDB throttled, down), the flow
 * waits for other hosts' alarms as it would without it, rather than failing the incident.
 */
async function settleVerdictOrWait(
  deps: HostFailureDeps,
  state: HostEvacuationState,
  lastBeat: Date | null,
  now: Date,
): Promise<SettleVerdict> {
  try {
    return await settleVerdictNow(deps, state, lastBeat, now);
  } catch (e) {
    const error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    return {
      verdict: "wait",
      reason: `the fleet's heartbeats not read (${error}): waiting for other hosts' alarms`,
    };
  }
}

/**
 * The settle's verdict from the fleet series (`settleVerdict`): a wait unless the series, the fleet's size
 * and the suspects counted now show that the hosts silent with this one cannot make a mass failure. Reads
 * one metric, one item and fewer suspects than would hold.
 */
async function settleVerdictNow(
  deps: HostFailureDeps,
  state: HostEvacuationState,
  lastBeat: Date | null,
  now: Date,
): Promise<SettleVerdict> {
  const window = lastBeat ? fleetSeriesWindow(lastBeat, now, deps.fencing) : null;
  if (!window)
    return lastBeat
      ? {
          verdict: "wait",
          reason: "too soon after the last heartbeat to read the fleet's: waiting for other hosts' alarms",
          againAt: fleetSeriesReadableAt(lastBeat, deps.fencing).toISOString(),
        }
      : {
          verdict: "wait",
          reason: "no heartbeat of this host in the metric: waiting for other hosts' alarms",
        };
  const [fleetSize, beatSeconds] = await Promise.all([
    deps.stores.hosts.fleet.hostCount(),
    deps.heartbeats.fleetBeatSeconds(deps.heartbeatFleet, window.from, window.to),
  ]);
  const series = { fleetSize, beatSeconds, windowSeconds: window.seconds };
  // Suspects are read only as far as they can matter: with `silent` hosts possibly silent, this many more
  // (this host aside) already make a wait; none when the silent ones alone do (a mass failure's many flows).
  const { silent } = hostsSilentAtMost(series, deps.fencing);
  const enough = suspectsThatHold(fleetSize, deps.fencing) - silent + 1;
  if (enough <= 0)
    return growing(settleVerdict({ ...series, suspects: null }, deps.fencing), window.seconds, now, deps);
  const suspects = await readSuspects(deps, enough);
  const count = new Set([state.host, ...suspects.map((s) => s.host)]).size;
  return growing(settleVerdict({ ...series, suspects: count }, deps.fencing), window.seconds, now, deps);
}

/** A wait over a window shorter than its full length: assessed again one interval later (it is longer then). */
function growing(
  verdict: SettleVerdict,
  windowSeconds: number,
  now: Date,
  deps: HostFailureDeps,
): SettleVerdict {
  const interval = deps.fencing.heartbeatIntervalSeconds;
  if (verdict.verdict === "skip" || windowSeconds >= FLEET_SERIES_WINDOW_INTERVALS * interval) return verdict;
  return { ...verdict, againAt: new Date(now.getTime() + Math.max(1, interval) * 1000).toISOString() };
}

/** Sends the liveness probe and returns without waiting for it; ProbeHost reads its answer. */
export async function sendProbe(
  deps: HostFailureDeps,
  state: HostEvacuationState,
): Promise<HostEvacuationState> {
  const host = await deps.stores.hosts.require(state.host);
  try {
    const sent = await deps.probes.send(hostTarget(host), livenessProbe(), probeOptions(deps, state));
    return { ...state, probe: sent };
  } catch (e) {
    // Not sent (SSM will not deliver to the host, or kept refusing): ProbeHost probes when it judges.
    if (e instanceof HostUnreachable || e instanceof HostCommandTimedOut) return state;
    throw e;
  }
}

export async function probeHost(
  deps: HostFailureDeps,
  state: HostEvacuationState,
): Promise<HostEvacuationState> {
  if (!state.heartbeat)
    throw new InvalidInput("probeHost needs the heartbeat assessment", { host: state.host });
  const target = hostTarget(await deps.stores.hosts.require(state.host));
  const sent = state.probe;
  const early = sent ? await probeResult(() => deps.probes.answer(target, livenessProbe(), sent)) : null;
  // Silence since the incident opened is the proof; an answer from then is not (the host may have died
  // since it answered): ask again, and wait for this answer.
  const probe =
    early === null || early === "answered"
      ? await probeResult(() => deps.executor.probe(target, livenessProbe(), probeOptions(deps, state)))
      : early;
  return { ...state, death: judgeProbe(probe, state.heartbeat) };
}

/**
 * The host answered a probe while its heartbeat is stale: not dead, but not known alive (see
 * `watchSilentHost` in shared/domain/host-failure.ts). The watch is recorded on the incident (still
 * `confirming`) and the operator is paged once, when it begins. Each round waits, then the flow assesses
 * the heartbeat and probes again (a fresh probe: the one sent when the incident opened is dropped). Given
 * up after the watch's maximum: CloseNotDead then leaves the host down.
 */
export async function watchSilentHost(
  deps: HostFailureDeps,
  state: HostEvacuationState,
): Promise<HostEvacuationState> {
  const watch = nextWatch(state.watch, deps.now());
  // On the incident, for the operator (the API's and the console's host view): why the host is down and
  // not evacuated.
  await deps.stores.hostIncidents.update(state.host, state.incidentId, "confirming", {
    summary: { verdict: "watching", since: watch.since, rounds: watch.rounds, reason: watch.reason },
  });
  if (!state.watch) {
    await alertBestEffort(deps.alerts, {
      kind: ALERTS.silentHost,
      hosts: [state.host],
      summary: `${state.host} answers SSM but its heartbeats do not reach CloudWatch (${state.death?.reason ?? "stale heartbeat"}): not evacuated, watched`,
      detail: { host: state.host, incidentId: state.incidentId, reason: state.death?.reason ?? null },
    });
  }
  // The round is over: its probe and verdict are dropped (the next round asks again).
  const { probe: _answered, death: _verdict, ...rest } = state;
  return { ...rest, watch };
}

function probeOptions(deps: HostFailureDeps, state: HostEvacuationState) {
  return {
    comment: `lazarus liveness probe ${state.incidentId}`,
    executionTimeoutSeconds: 10,
    deadlineMs: deps.probeDeadlineMs,
  };
}

/** Any exit status means the host ran the probe: it is alive. */
async function probeResult(ask: () => Promise<unknown>): Promise<ProbeResult> {
  try {
    await ask();
    return "answered";
  } catch (e) {
    if (e instanceof HostUnreachable) return "unreachable";
    if (e instanceof HostCommandTimedOut) return "timed-out";
    throw e;
  }
}
