/**
 * OpenRecovery: the conditional create of the recovery record (one per crash: a second execution for the
 * same crash finds it and ends as a duplicate), the classification of the stop by the instance and host
 * records re-read by key (asked for, not HA, moved, host proven dead: ignored), and the storm guard (too many
 * crashes on one host in a short window: the host is handed to the host-failure policy instead of restarting
 * guests one by one).
 *
 * A reset host's report (`host-reset`) is no crash: it never counts toward nor trips the storm guard. While the
 * host has an open incident it waits (`wait`: the machine looks again after `recoveryPollSeconds`, running
 * this step again) until the incident ends or `hostWaitSeconds` passed; when it may recover, the boot is
 * recorded on the host first (`HostsStore.recordReset`, conditional on no proof and no open incident), so that
 * no lease from before the reset can admit a second copy of a guest restarted in place.
 */
import {
  classifyStop,
  HOST_RESET,
  hostWaitOver,
  type StopVerdict,
  stormIncidentId,
  stormVerdict,
} from "#shared/domain/instance-failure.js";
import type { InstanceFailureDeps } from "#shared/lambda/instance-failure-runtime.js";
import type { InstanceRecoveryState, OpenRecoveryInput } from "../contract.js";

export async function openRecovery(
  deps: InstanceFailureDeps,
  input: OpenRecoveryInput,
): Promise<InstanceRecoveryState> {
  const { recoveryId, report } = input.request;
  const base = { recoveryId, report, executionArn: input.executionArn };
  const [instance, host] = await Promise.all([
    deps.stores.instances.get(report.instanceUuid),
    deps.stores.hosts.get(report.host),
  ]);
  const verdict = classifyStop(instance, report, host);
  const now = deps.now();
  const { opened, recovery } = await deps.stores.recoveries.open({
    id: recoveryId,
    instanceUuid: report.instanceUuid,
    host: report.host,
    reason: report.reason,
    stoppedAt: report.stoppedAt,
    detectedAt: now.toISOString(),
    status: verdict.verdict === "recover" ? "recovering" : verdict.verdict === "wait" ? "waiting" : "ignored",
    message: verdict.reason,
    executionArn: input.executionArn,
    attempts: [],
    relocation: null,
  });
  if (!opened && recovery.executionArn !== input.executionArn) {
    return {
      ...base,
      outcome: "duplicate",
      message: `recovery ${recoveryId} is owned by ${recovery.executionArn}`,
    };
  }
  // A retry of ours after the record was written: go on from what it says. A reset host's report is
  // classified again on every pass (it waits for the host's incident).
  if (recovery.status === "ignored") return { ...base, outcome: "ignored", message: recovery.message };
  if (recovery.status === "storm") return { ...base, outcome: "storm", message: recovery.message };
  if (report.reason === HOST_RESET) return decideAfterReset(deps, base, verdict, recovery.detectedAt);

  const crashes = (await deps.stores.recoveries.listByHost(report.host))
    .filter((r) => r.status !== "ignored" && r.reason !== HOST_RESET)
    .map((r) => r.detectedAt);
  if (!crashes.includes(recovery.detectedAt)) crashes.push(recovery.detectedAt);
  const storm = stormVerdict(crashes, now, deps.config);
  if (storm.storm) {
    const incidentId = stormIncidentId(report.host, now, deps.config.stormWindowSeconds);
    const reason = `instance failure storm: ${storm.recent} guests of ${report.host} stopped within ${deps.config.stormWindowSeconds} s`;
    await deps.starter.start(deps.machines.hostEvacuation, incidentId, {
      host: report.host,
      incidentId,
      reason,
    });
    await deps.stores.recoveries.update(recoveryId, () => ({
      status: "storm",
      message: `${reason}: handed over to the host-failure flow (incident ${incidentId})`,
    }));
    return { ...base, outcome: "storm", message: reason };
  }
  return { ...base, outcome: "recover", message: verdict.reason };
}

type Base = Pick<InstanceRecoveryState, "recoveryId" | "report" | "executionArn">;

async function ignore(
  deps: InstanceFailureDeps,
  base: Base,
  message: string,
): Promise<InstanceRecoveryState> {
  await deps.stores.recoveries.update(base.recoveryId, () => ({ status: "ignored", message }));
  return { ...base, outcome: "ignored", message };
}

/**
 * A reset host's domain found shut off: wait while the host's incident is open (at most `hostWaitSeconds`),
 * then recover once the boot is recorded on the host (which the host's proof or an incident opened meanwhile
 * refuses: then ignore, or wait again).
 */
async function decideAfterReset(
  deps: InstanceFailureDeps,
  base: Base,
  verdict: StopVerdict,
  detectedAt: string,
): Promise<InstanceRecoveryState> {
  let why = verdict.reason;
  if (verdict.verdict === "ignore") return ignore(deps, base, why);
  if (verdict.verdict === "recover") {
    const { outcome, host } = await deps.stores.hosts.recordReset(base.report.host, base.report.stoppedAt);
    if (outcome === "recorded") {
      await deps.stores.recoveries.update(base.recoveryId, () => ({ status: "recovering", message: why }));
      return { ...base, outcome: "recover", message: why };
    }
    if (outcome === "proven-dead")
      return ignore(
        deps,
        base,
        `${host.name} was proven dead meanwhile (${host.deathProof?.kind}): no restart there`,
      );
    why = `${host.name} has an incident open again (${host.incident?.id}, ${host.incident?.status})`;
  }
  if (hostWaitOver(detectedAt, deps.now(), deps.config))
    return ignore(
      deps,
      base,
      `${why}; still after ${deps.config.hostWaitSeconds} s: left to the host-failure flow and the operator`,
    );
  await deps.stores.recoveries.update(base.recoveryId, () => ({ status: "waiting", message: why }));
  return { ...base, outcome: "wait", message: why, waitSeconds: deps.recoveryPollSeconds };
}
