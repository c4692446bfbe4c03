/**
 * OpenRecovery: the conditional create of the recovery record (one per crash: a second execution for the
 * same crash finds it and ends as a duplicate), the classification of the stop by the instance record
 * re-read by key (asked for, not HA, moved: ignored), and the storm guard (too many crashes on one host in
 * a short window: the host is handed to the host-failure policy instead of restarting guests one by one).
 */
import { classifyStop, stormIncidentId, stormVerdict } from "#shared/domain/instance-failure.js";
import type { InstanceFailureDeps } from "#shared/lambda/instance-failure-runtime.js";
import type { InstanceRecoveryState, OpenRecoveryInput } from "../contract.js";

export async function openRecovery(
  deps: InstanceFailureDeps,
  input: OpenRecoveryInput,
): Promise<InstanceRecoveryState> {
  const { recoveryId, report } = input.request;
  const base = { recoveryId, report, executionArn: input.executionArn };
  const instance = await deps.stores.instances.get(report.instanceUuid);
  const verdict = classifyStop(instance, report);
  const now = deps.now();
  const { opened, recovery } = await deps.stores.recoveries.open({
    id: recoveryId,
    instanceUuid: report.instanceUuid,
    host: report.host,
    reason: report.reason,
    stoppedAt: report.stoppedAt,
    detectedAt: now.toISOString(),
    status: verdict.verdict === "recover" ? "recovering" : "ignored",
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
  // A retry of ours after the record was written: go on from what it says.
  if (recovery.status === "ignored") return { ...base, outcome: "ignored", message: recovery.message };
  if (recovery.status === "storm") return { ...base, outcome: "storm", message: recovery.message };

  const crashes = (await deps.stores.recoveries.listByHost(report.host))
    .filter((r) => r.status !== "ignored")
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
