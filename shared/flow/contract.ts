/**
 * The rebuild/evacuate flow's payload: what the state machine carries from step to step.
 * Every step receives the whole FlowState and returns it, extended; `failure` is written by the
 * state machine's Catch clauses (`$.failure.<stepKey>`), never by a step.
 */
import { z } from "zod";
import { PowerStateSchema, VmStateSchema } from "../domain/schemas.js";
import { ImageRef, ResourceName, Uuid } from "../domain/values.js";

/** At most this many target hosts are tried before the flow gives up (claim refused, unreachable, spawn failed). */
export const MAX_SCHEDULING_ATTEMPTS = 3;

export const RebuildRequest = z.object({
  /** Caller's idempotency key; also the migration id and, by convention, the execution name. */
  requestId: Uuid,
  instanceUuid: Uuid,
  /** false: rebuild in place; true: evacuate (nova's `recreate`). */
  recreate: z.boolean(),
  /** Evacuate only: the host asked for (nova's `host`). */
  targetHost: ResourceName.nullable().default(null),
  /** Evacuate only: take `targetHost` without the scheduler's filters (nova API 2.29-2.67 `force`). */
  force: z.boolean().default(false),
  /** Caller's word on shared storage; null = detect on the target (nova API >= 2.14). */
  onSharedStorage: z.boolean().nullable().default(null),
  /** Rebuild only: the new image; null = re-image from the current one. */
  imageRef: ImageRef.nullable().default(null),
  preserveEphemeral: z.boolean().default(false),
  /**
   * Evacuate only: the vm_state asked for at the destination. "stopped" = nova API >= 2.95 (the operator
   * checks the instance before starting it); null = the state it had (the host-failure flow, API < 2.95).
   */
  targetState: z.enum(["stopped"]).nullable().default(null),
});
export type RebuildRequest = z.infer<typeof RebuildRequest>;

export const StepFailure = z.object({ Error: z.string(), Cause: z.string().optional() });
export type StepFailure = z.infer<typeof StepFailure>;

export const FlowState = RebuildRequest.extend({
  // Accept
  migrationId: Uuid.optional(),
  sourceHost: ResourceName.optional(),
  originalImageRef: ImageRef.optional(),
  originalVmState: VmStateSchema.optional(),
  originalPowerState: PowerStateSchema.optional(),
  // Schedule
  destHost: ResourceName.nullable().optional(),
  attemptedHosts: z.array(ResourceName).default([]),
  // CheckSharedStorage
  sharedStorage: z.boolean().optional(),
  // PrepareRootDisk: whether this flow created the root disk on the target (and may remove it on failure)
  createdRootDisk: z.boolean().optional(),
  failure: z.record(z.string(), StepFailure).optional(),
  // PrepareReschedule: targets given up on, and whether another may be tried
  previousFailures: z
    .array(z.object({ host: z.string(), step: z.string(), error: z.string(), message: z.string() }))
    .default([]),
  canReschedule: z.boolean().optional(),
});
export type FlowState = z.infer<typeof FlowState>;

/** A FlowState whose Accept step has run. */
export type AcceptedFlow = FlowState & {
  migrationId: string;
  sourceHost: string;
  originalImageRef: string;
  originalVmState: z.infer<typeof VmStateSchema>;
};

/** A FlowState with a target chosen. */
export type ScheduledFlow = AcceptedFlow & { destHost: string };

export const FAILURE_KEYS = [
  "accept",
  "schedule",
  "verifyRecreate",
  "checkInstanceNotOnTarget",
  "checkSharedStorage",
  "updateInstanceState",
  "rebindPorts",
  "powerOff",
  "detachVolumes",
  "destroy",
  "attachVolumes",
  "prepareRootDisk",
  "spawn",
  "finish",
] as const;
