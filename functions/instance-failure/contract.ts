/**
 * What the instance-recovery machine carries from step to step. Its input is what the trigger gives it:
 * the recovery id and the host's report; each step returns the state extended; `failure` is written by
 * the machine's Catch clauses.
 */
import { z } from "zod";
import { DomainStoppedDetail } from "#shared/domain/instance-failure.js";
import { RecoveryAttempt } from "#shared/domain/schemas.js";
import { Uuid } from "#shared/domain/values.js";
import { StepFailure } from "#shared/flow/contract.js";

export const InstanceRecoveryRequest = z.strictObject({
  recoveryId: Uuid,
  report: DomainStoppedDetail,
});
export type InstanceRecoveryRequest = z.infer<typeof InstanceRecoveryRequest>;

export const OpenRecoveryInput = z.object({
  request: InstanceRecoveryRequest,
  executionArn: z.string().min(1),
});
export type OpenRecoveryInput = z.infer<typeof OpenRecoveryInput>;

export const InstanceRecoveryState = z.looseObject({
  recoveryId: Uuid,
  report: DomainStoppedDetail,
  executionArn: z.string(),
  /** OpenRecovery: recover, wait (a reset host's incident is open: look again), or why not. */
  outcome: z.enum(["recover", "wait", "ignored", "duplicate", "storm"]),
  message: z.string().nullable(),
  /** OpenRecovery's `wait`: seconds before it looks again. */
  waitSeconds: z.number().positive().optional(),
  /** ProbeDomain: what the host says of the domain now ("unknown": the host did not answer). */
  domain: z.enum(["running", "stopped", "absent", "unknown"]).optional(),
  /** Decide. */
  decision: z.object({ action: z.enum(["restart", "relocate", "error"]), reason: z.string() }).optional(),
  /** Restart: how this recovery's restart went. */
  restart: z.enum(["succeeded", "failed"]).optional(),
  /** PrepareRelocation: the child rebuild request. */
  relocation: z.object({ requestId: Uuid, sourceHost: z.string() }).optional(),
  /** ConfirmRelocation. */
  relocated: z.boolean().optional(),
  /** The child rebuild's failure (Catch of StartRelocation). */
  child: StepFailure.optional(),
  attempts: z.array(RecoveryAttempt).optional(),
  failure: z.record(z.string(), StepFailure).optional(),
});
export type InstanceRecoveryState = z.infer<typeof InstanceRecoveryState>;
