/**
 * Proof of death before anything of the host is started elsewhere (shared/domain/fencing.ts), in the
 * host-evacuation machine after DisableHost:
 *  - Fence: the pluggable `power` fence (shared/flow/host-power.ts). `Host.fencing.power` "none": no
 *    fence (the attempt is `unsupported`); "ipmi" / "redfish": the fence agent on a delegate host (off,
 *    then status until the BMC says off; a delegate that fails or times out makes way for the next; none
 *    at all is `unavailable`); "ec2" / "local": ec2:StopInstances with Force on the host's instance id,
 *    then ec2:DescribeInstances until it is `stopped`. No confirmation within `fenceTimeoutSeconds` (per
 *    delegate) is timed out. Then `hostProof`: a confirmed power-off, else an expired lease (the host's
 *    watchdog), else none.
 *  - AwaitProof: after a round of evacuations, whether to look for proof again (`nextProofLook`).
 * A fence already confirmed off is not repeated; one that failed or timed out is tried again each round.
 */
import type { FenceAttempt } from "#shared/domain/fencing.js";
import { hostProof, nextProofLook } from "#shared/domain/fencing.js";
import { assessHeartbeat } from "#shared/domain/host-failure.js";
import type { Host } from "#shared/domain/schemas.js";
import { controlHostPower } from "#shared/flow/host-power.js";
import type { HostFailureDeps } from "#shared/lambda/host-failure-runtime.js";
import type { HostEvacuationState } from "../contract.js";

/**
 * One power-off through the host's fence (shared/flow/host-power.ts), judged: off (the BMC or EC2 confirmed
 * it), failed (refused), timed out, unavailable (no delegate could run the agent), or unsupported (none).
 * Recorded in the host's power log under the incident and round.
 */
async function powerOff(
  deps: HostFailureDeps,
  host: Host,
  state: HostEvacuationState,
  round: number,
): Promise<FenceAttempt> {
  const run = await controlHostPower(deps.hostPower, host, {
    action: "fence",
    id: `${state.incidentId}/fence-${round}`,
    requestedBy: `incident ${state.incidentId}`,
    deadlineSeconds: deps.fencing.fenceTimeoutSeconds,
  });
  const outcome = run.outcome === "on" ? "failed" : run.outcome;
  return {
    outcome,
    at: run.endedAt,
    detail: run.detail,
    method: run.method,
    delegate: run.delegate,
    // The last answers ride in the machine's state (the host's power log keeps them all).
    answers: run.answers.slice(-20),
  };
}

export async function fenceHost(
  deps: HostFailureDeps,
  state: HostEvacuationState,
): Promise<HostEvacuationState> {
  const host = await deps.stores.hosts.require(state.host);
  const round = (state.fence?.round ?? 0) + 1;
  const previous = state.fence?.attempt ?? null;
  const attempt = previous?.outcome === "off" ? previous : await powerOff(deps, host, state, round);
  const lookback = Math.max(600, deps.fencing.leaseSeconds * 4);
  const proof = hostProof(
    {
      fence: attempt,
      watchdog: host.fencing.watchdog,
      lastHeartbeatAt: await deps.heartbeats.lastHeartbeat(state.host, lookback),
      watchingSince: new Date(state.openedAt),
      now: deps.now(),
    },
    deps.fencing,
  );
  return { ...state, fence: { round, attempt }, proof };
}

export async function awaitProof(
  deps: HostFailureDeps,
  state: HostEvacuationState,
): Promise<HostEvacuationState> {
  // Waiting: no proof yet, or tried on `lock` and refused by it (the old copy still holds the disk).
  const refused = (state.results ?? []).flat().filter((r) => r.error === "FencingRequired");
  const waiting = [...(state.awaitingProof ?? []), ...refused];
  if (waiting.length === 0 || !state.proof)
    return { ...state, proofLook: { verdict: "done", reason: "no instance waits for proof" } };
  const last = await deps.heartbeats.lastHeartbeat(state.host, Math.max(600, deps.config.graceSeconds * 4));
  const heartbeat = assessHeartbeat(
    { lastHeartbeatAt: last, watchingSince: new Date(state.openedAt), now: deps.now() },
    deps.config,
  );
  const proof = state.proof.proof
    ? { proof: state.proof.proof, at: state.proof.at ?? deps.now().toISOString(), reason: state.proof.reason }
    : { proof: null, reason: state.proof.reason, leaseExpiresAt: state.proof.leaseExpiresAt ?? null };
  const look = nextProofLook(
    { round: state.fence?.round ?? 1, proof, heartbeatAlive: heartbeat.verdict === "alive", now: deps.now() },
    deps.fencing,
  );
  return { ...state, proofLook: look };
}
