/**
 * Proof of death before anything of the host is started elsewhere (shared/domain/fencing.ts), in the
 * host-evacuation machine after DisableHost:
 *  - Fence: the pluggable `power` fence. `Host.fencing.power` "none": no fence (the attempt is
 *    `unsupported`); "ec2" / "local": ec2:StopInstances with Force on the host's instance id, then
 *    ec2:DescribeInstances until it is `stopped`, judged by `judgeFence` (no answer within
 *    `fenceTimeoutSeconds` = timed out). Then `hostProof`: a confirmed power-off, else an expired lease
 *    (the host's watchdog), else none.
 *  - AwaitProof: after a round of evacuations, whether to look for proof again (`nextProofLook`).
 * A fence already confirmed off is not repeated; one that failed or timed out is tried again each round.
 */
import type { FenceAttempt } from "#shared/domain/fencing.js";
import { hostProof, judgeFence, nextProofLook } from "#shared/domain/fencing.js";
import { assessHeartbeat } from "#shared/domain/host-failure.js";
import type { Host } from "#shared/domain/schemas.js";
import type { HostFailureDeps } from "#shared/lambda/host-failure-runtime.js";
import type { HostEvacuationState } from "../contract.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function errorText(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/** One power-off through the fence, judged: off, failed (refused), timed out, or unsupported (no fence). */
async function powerOff(deps: HostFailureDeps, host: Host): Promise<FenceAttempt> {
  if (host.fencing.power === "none")
    return { outcome: "unsupported", at: deps.now().toISOString(), detail: "the host has no power fence" };
  const id = host.managedInstanceId;
  const started = deps.now();
  try {
    await deps.powerFence.requestPowerOff(id);
  } catch (e) {
    const answer = {
      outcome: "failed" as const,
      at: deps.now(),
      detail: `StopInstances(${id}, Force) refused: ${errorText(e)}`,
    };
    return judgeFence(started, answer, deps.now(), deps.fencing)!;
  }
  let lastSeen = "unknown";
  for (;;) {
    try {
      lastSeen = await deps.powerFence.powerState(id);
    } catch (e) {
      lastSeen = `unknown (${errorText(e)})`;
    }
    const answer =
      lastSeen === "stopped"
        ? { outcome: "off" as const, at: deps.now(), detail: `${id} stopped (ec2:StopInstances with Force)` }
        : null;
    const judged = judgeFence(started, answer, deps.now(), deps.fencing);
    if (judged)
      return judged.outcome === "timed-out"
        ? { ...judged, detail: `${judged.detail}; ${id} is ${lastSeen}` }
        : judged;
    await sleep(deps.fencePollMs);
  }
}

export async function fenceHost(
  deps: HostFailureDeps,
  state: HostEvacuationState,
): Promise<HostEvacuationState> {
  const host = await deps.stores.hosts.require(state.host);
  const round = (state.fence?.round ?? 0) + 1;
  const previous = state.fence?.attempt ?? null;
  const attempt = previous?.outcome === "off" ? previous : await powerOff(deps, host);
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
