/**
 * An operator's power action on a host (status, off, on, cycle, fence test), started by the API and
 * carried out here, where it may take as long as the BMC needs (the API answers within API Gateway's
 * 29 s): through the host's own power fence (shared/flow/host-power.ts), recorded in the host's power log
 * under the request id, which the API and the CLI read. Safe to run twice (Lambda retries an asynchronous
 * invocation that failed): a request already in the log is not carried out again.
 */
import { powerActionRefusal } from "#shared/domain/power-control.js";
import type { PowerRecord } from "#shared/domain/schemas.js";
import { controlHostPower, type HostPowerDeps, type HostPowerRequest } from "#shared/flow/host-power.js";

export interface PowerStepDeps {
  power: HostPowerDeps;
  /** How long the power controller has to confirm an operator's action, per delegate, s. */
  deadlineSeconds: number;
}

export async function powerHost(deps: PowerStepDeps, req: HostPowerRequest): Promise<PowerRecord> {
  const host = await deps.power.stores.hosts.require(req.host);
  const done = host.powerLog.find((r) => r.id === req.requestId);
  if (done) return done;
  // Checked again here: the host may have changed since the API accepted the request.
  const refusal = powerActionRefusal(host, req.action, { force: req.force });
  if (refusal) {
    const at = deps.power.now().toISOString();
    const record: PowerRecord = {
      id: req.requestId,
      action: req.action,
      requestedBy: req.requestedBy,
      method: host.fencing.power,
      outcome: host.fencing.power === "none" ? "unsupported" : "failed",
      delegate: null,
      startedAt: at,
      endedAt: at,
      detail: `refused: ${refusal}`,
      answers: [],
    };
    await deps.power.stores.hosts.recordPower(host.name, record);
    return record;
  }
  return controlHostPower(deps.power, host, {
    action: req.action,
    id: req.requestId,
    requestedBy: req.requestedBy,
    deadlineSeconds: deps.deadlineSeconds,
  });
}
