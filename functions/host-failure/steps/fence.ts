/**
 * Proof of death before anything of the host is started elsewhere (shared/domain/fencing.ts), in the
 * host-evacuation machine after DisableHost:
 *  - Fence: the pluggable `power` fence (shared/flow/host-power.ts). `Host.fencing.power` "none": no
 *    fence (the attempt is `unsupported`); "ipmi" / "redfish": the fence agent on a delegate host (off,
 *    then status until the BMC says off; a delegate that fails or times out makes way for the next; none
 *    at all is `unavailable`); "ec2" / "local": ec2:StopInstances with Force on the host's instance id,
 *    then ec2:DescribeInstances until it is `stopped`. No confirmation within `fenceTimeoutSeconds` (per
 *    delegate) is timed out. Then `hostProof`: a proof already recorded on the host (an operator's
 *    force-down, an earlier round's), else a confirmed power-off, else an expired lease with evidence (the
 *    host's own heartbeats said its watchdog was armed: `leaseEvidence`), else none. A proof found is
 *    recorded on the host (`Host.deathProof`, forced_down) before anything is started elsewhere.
 *  - AwaitProof: after a round of evacuations, whether to look again (`nextProofLook`): for proof, or for
 *    the instances another flow held.
 * A fence already confirmed off is not repeated; one that failed or timed out is tried again each round.
 */
import type { FenceAttempt, HostProof } from "#shared/domain/fencing.js";
import { heartbeatLookbackStart, hostProof, nextProofLook } from "#shared/domain/fencing.js";
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

/**
 * Proof of the host's death, and on the host record once found (`Host.deathProof`, with forced_down, in one
 * write conditional on this incident): every evacuation of its instances is admitted on that record
 * (shared/flow/admission.ts), the children of this flow included. A proof already recorded (an operator's
 * force-down, an earlier round's) is used as it is and the host is not fenced again.
 */
export async function fenceHost(
  deps: HostFailureDeps,
  state: HostEvacuationState,
): Promise<HostEvacuationState> {
  const host = await deps.stores.hosts.require(state.host);
  const round = (state.fence?.round ?? 0) + 1;
  const previous = state.fence?.attempt ?? null;
  const recorded = host.deathProof;
  const attempt =
    recorded || previous?.outcome === "off" ? previous : await powerOff(deps, host, state, round);
  const watchingSince = new Date(state.openedAt);
  const needsLease = !recorded && attempt?.outcome !== "off";
  const heartbeats = needsLease
    ? await deps.heartbeats.samples(
        state.host,
        heartbeatLookbackStart(watchingSince, deps.fencing),
        deps.now(),
      )
    : [];
  const proof = hostProof(
    {
      recorded,
      fence: attempt,
      heartbeats,
      watchingSince,
      now: deps.now(),
      lastResetAt: host.lastReset ? new Date(host.lastReset.at) : null,
    },
    deps.fencing,
  );
  if (proof.proof && !recorded) {
    await deps.stores.hostIncidents.update(state.host, state.incidentId, "evacuating", {
      service: {
        deathProof: { kind: proof.proof, at: proof.at, incidentId: state.incidentId, detail: proof.reason },
      },
    });
  }
  return { ...state, fence: { round, attempt }, proof };
}

/** The host's proof as the machine carries it (`state.proof`), back in the policy's shape. */
export function proofOfState(state: HostEvacuationState, now: Date): HostProof {
  const p = state.proof;
  if (p?.proof) return { proof: p.proof, at: p.at ?? now.toISOString(), reason: p.reason };
  return { proof: null, reason: p?.reason ?? "no fence step ran", leaseExpiresAt: p?.leaseExpiresAt ?? null };
}

export async function awaitProof(
  deps: HostFailureDeps,
  state: HostEvacuationState,
): Promise<HostEvacuationState> {
  // Waiting: no proof yet, or tried on `lock` and refused by it (the old copy still holds the disk); and
  // the instances another flow held when this round was planned.
  const refused = (state.results ?? []).flat().filter((r) => r.error === "FencingRequired");
  const waiting = [...(state.awaitingProof ?? []), ...refused];
  const busy = state.busy ?? [];
  if ((waiting.length === 0 && busy.length === 0) || !state.proof)
    return {
      ...state,
      proofLook: { verdict: "done", reason: "no instance waits for proof or for another flow" },
    };
  const last = await deps.heartbeats.lastHeartbeat(state.host, Math.max(600, deps.config.graceSeconds * 4));
  const heartbeat = assessHeartbeat(
    { lastHeartbeatAt: last, watchingSince: new Date(state.openedAt), now: deps.now() },
    deps.config,
  );
  const look = nextProofLook(
    {
      round: state.fence?.round ?? 1,
      proof: proofOfState(state, deps.now()),
      heartbeatAlive: heartbeat.verdict === "alive",
      now: deps.now(),
      waitingForProof: waiting.length,
      busy: busy.length,
    },
    deps.fencing,
  );
  return { ...state, proofLook: look };
}
