/**
 * The EventBridge target for a host's "Lazarus Domain Stopped" report: starts one instance-recovery
 * execution per crash, named by the recovery id derived from the crash, so every redelivery of the same
 * report (EventBridge delivers at least once) names the same execution and starts nothing new. Whether the
 * stop was a failure at all is the machine's first step's decision (it re-reads the instance record).
 */
import { type DomainStoppedEvent, recoveryId } from "#shared/domain/instance-failure.js";
import type { InstanceFailureDeps } from "#shared/lambda/instance-failure-runtime.js";

export interface DomainStoppedResult {
  recoveryId: string;
  started: boolean;
}

export async function onDomainStopped(
  deps: InstanceFailureDeps,
  event: DomainStoppedEvent,
): Promise<DomainStoppedResult> {
  const id = recoveryId(event.detail);
  const { started } = await deps.starter.start(deps.machines.instanceRecovery, id, {
    recoveryId: id,
    report: event.detail,
  });
  return { recoveryId: id, started };
}
