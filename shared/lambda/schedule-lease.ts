/**
 * One run at a time of a scheduled function. EventBridge delivers a timer's event at least once and a run
 * may outlast its period (the sweeper waits for hosts), so a run first takes the function's lease
 * (shared/store/leases-store.ts) and does nothing when another run holds it. The lease lasts as long as an
 * invocation of the function can (shared/definitions/timeouts.ts), so a run Lambda stopped cannot hold it
 * longer than it could have run.
 */
import { randomUUID } from "node:crypto";
import type { FunctionSpec } from "../definitions/functions.js";
import { scheduleLeaseSeconds } from "../definitions/timeouts.js";
import type { LeasesStore } from "../store/leases-store.js";

/** What EventBridge sends a scheduled rule's target (`source` and `detail-type`). */
export const SCHEDULED_EVENT = { source: "aws.events", detailType: "Scheduled Event" } as const;

/** The event of a timer (not an operator's or a test's direct invocation). */
export function isScheduledEvent(event: unknown): boolean {
  if (typeof event !== "object" || event === null) return false;
  const e = event as Record<string, unknown>;
  return e.source === SCHEDULED_EVENT.source && e["detail-type"] === SCHEDULED_EVENT.detailType;
}

/** A run that found another run of its function holding the lease, and so did nothing. */
export interface SkippedRun {
  skipped: "another run holds the lease";
  heldBy: string | null;
  until: string | null;
}

export async function oneRunAtATime<T>(
  leases: LeasesStore,
  spec: Pick<FunctionSpec, "id" | "role" | "access">,
  run: () => Promise<T>,
): Promise<T | SkippedRun> {
  const holder = randomUUID();
  const took = await leases.take(spec.id, holder, scheduleLeaseSeconds(spec));
  if (!took.taken) {
    return {
      skipped: "another run holds the lease",
      heldBy: took.heldBy?.holder ?? null,
      until: took.heldBy?.expiresAt ?? null,
    };
  }
  try {
    return await run();
  } finally {
    // A release that fails leaves the lease to expire: the next run starts late, never two at once.
    await leases.release(spec.id, holder).catch(() => undefined);
  }
}
