/**
 * Notifications of a flow, as nova names them: `instance.rebuild.start` / `.end` / `.error` for rebuild
 * and evacuate alike, and `instance.evacuate` when an evacuation has recreated the instance.
 *
 * Publishing never fails the step that calls it: a step calls this after its change is made, so a
 * failure here must not fail (and so roll back) that change. A publish is retried briefly; if it still
 * fails, the notification is recorded in the outbox and the sweeper publishes it later.
 */

import { errorMessage } from "../domain/errors.js";
import { deterministicUuid } from "../domain/ids.js";
import type { Notification } from "../notifications/notifier.js";
import type { StepDeps } from "./deps.js";

export type FlowEvent =
  | "instance.rebuild.start"
  | "instance.rebuild.end"
  | "instance.rebuild.error"
  | "instance.evacuate"
  // A crashed instance started again in place (instance recovery), and the operator's stop/start (API).
  | "instance.power_on.start"
  | "instance.power_on.end"
  | "instance.power_on.error"
  | "instance.power_off.start"
  | "instance.power_off.end"
  // Migrations (issue 32), as nova names them: live migration, cold migration (resize), its confirm and revert.
  | "instance.live_migration_pre.start"
  | "instance.live_migration_post.end"
  | "instance.live_migration_rollback.end"
  | "instance.resize_prep.start"
  | "instance.resize_finish.end"
  | "instance.resize.error"
  | "instance.resize_confirm.end"
  | "instance.resize_revert.start"
  | "instance.resize_revert.end"
  | "instance.resize_revert.error"
  // A host's maintenance (drain) moved an instance away, or brought it back.
  | "instance.host_maintenance"
  // The boot and delete flows, and the API's reboot and lock.
  | "instance.create.start"
  | "instance.create.end"
  | "instance.create.error"
  | "instance.delete.start"
  | "instance.delete.end"
  | "instance.delete.error"
  | "instance.reboot.start"
  | "instance.reboot.end"
  | "instance.lock"
  | "instance.unlock";

const PUBLISH_ATTEMPTS = 3;

export async function notifyFlow(
  deps: Pick<StepDeps, "notifier" | "stores" | "sleep">,
  flow: { requestId: string; instanceUuid: string; migrationId?: string | undefined },
  eventType: FlowEvent,
  payload: Record<string, unknown> = {},
): Promise<void> {
  const notification: Notification = {
    id: deterministicUuid(flow.requestId, eventType),
    eventType,
    instanceUuid: flow.instanceUuid,
    payload: { request_id: flow.requestId, migration_id: flow.migrationId ?? flow.requestId, ...payload },
  };
  let lastError = "";
  for (let attempt = 1; attempt <= PUBLISH_ATTEMPTS; attempt++) {
    try {
      await deps.notifier.publish(notification);
      return;
    } catch (e) {
      lastError = errorMessage(e);
      if (attempt < PUBLISH_ATTEMPTS) await deps.sleep(100 * 2 ** attempt);
    }
  }
  await deps.stores.outbox.record({ ...notification, lastError });
}

/** Publish what the outbox holds; each one published is removed. Returns how many were published. */
export async function publishPending(deps: Pick<StepDeps, "notifier" | "stores">): Promise<number> {
  let published = 0;
  for (const pending of await deps.stores.outbox.list()) {
    try {
      await deps.notifier.publish(pending);
    } catch {
      continue; // still failing: the next sweep tries again
    }
    await deps.stores.outbox.remove(pending.id);
    published++;
  }
  return published;
}
