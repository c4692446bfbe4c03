import type { FlowState } from "./contract.js";
import type { StepDeps } from "./deps.js";
import { notificationAction } from "./flow-state.js";

/** Publishes `instance.<rebuild|evacuate>.<phase>` for the flow's instance. */
export async function notifyFlow(
  deps: StepDeps,
  state: FlowState,
  phase: "start" | "end" | "error",
  payload: Record<string, unknown> = {},
): Promise<void> {
  await deps.notifier.publish({
    eventType: `instance.${notificationAction(state)}.${phase}`,
    instanceUuid: state.instanceUuid,
    payload: { request_id: state.requestId, migration_id: state.migrationId ?? null, ...payload },
  });
}
