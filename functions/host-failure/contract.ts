/**
 * What the host-evacuation and host-recovery machines carry from step to step. Each step receives the
 * state and returns it extended; `failure` is written by the machines' Catch clauses.
 */
import { z } from "zod";
import { SKIP_REASONS } from "#shared/domain/host-failure.js";
import {
  HOST_PROOF_KINDS,
  INCIDENT_SOURCES,
  POWER_FENCES,
  PowerAnswer,
  PROOF_KINDS,
  VmStateSchema,
} from "#shared/domain/schemas.js";
import { IsoTime, ResourceName, Uuid } from "#shared/domain/values.js";
import { StepFailure } from "#shared/flow/contract.js";

/**
 * The machine's input: from the alarm trigger `{host, incidentId, reason}`, from the peer trigger the same
 * and `silentSince`, from the API `{host, reason?}`.
 */
export const HostEvacuationRequest = z.strictObject({
  host: ResourceName,
  incidentId: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,80}$/)
    .optional(),
  reason: z.string().max(1000).optional(),
  /** When the host's peers last heard it (a peer's report). */
  silentSince: IsoTime.optional(),
});
export type HostEvacuationRequest = z.infer<typeof HostEvacuationRequest>;

export const OpenIncidentInput = z.object({
  request: HostEvacuationRequest,
  executionName: z.string().min(1),
});

export const EvacuationItem = z.object({
  instanceUuid: Uuid,
  name: z.string(),
  requestId: Uuid,
  haPriority: z.number().int(),
  vmState: VmStateSchema,
  /** The proof of the host's death this evacuation relies on (shared/domain/fencing.ts). */
  proof: z.enum(PROOF_KINDS).optional(),
  /** Where the plan placed it (the child's `plannedHost`); null when the plan found no room. */
  plannedHost: z.string().nullable().default(null),
});

export const EvacuationResult = z.object({
  instanceUuid: Uuid,
  name: z.string(),
  outcome: z.enum(["evacuated", "failed"]),
  host: z.string(),
  vmState: VmStateSchema,
  error: z.string().nullable(),
  message: z.string().nullable(),
  proof: z.enum(PROOF_KINDS).optional(),
});

/** An instance not started elsewhere for want of proof of its host's death: "fencing required". */
export const AwaitingProof = z.object({ instanceUuid: Uuid, name: z.string(), reason: z.string() });

const FenceAttemptSchema = z.object({
  outcome: z.enum(["off", "failed", "timed-out", "unsupported", "unavailable"]),
  at: IsoTime,
  detail: z.string(),
  /** The fence that ran, the delegate whose agent answered, and every answer with its time (BMC fences). */
  method: z.enum(POWER_FENCES).optional(),
  delegate: ResourceName.nullable().optional(),
  answers: z.array(PowerAnswer).optional(),
});

export const HostEvacuationState = z.looseObject({
  host: ResourceName,
  incidentId: z.string().min(1),
  /** This execution's name (its ARN names it as the ender of the migrate flows it ends). */
  executionName: z.string().min(1).optional(),
  source: z.enum(INCIDENT_SOURCES),
  /** When the host's peers last heard it (an incident a peer's report opened): `assessHeartbeat`. */
  silentSince: IsoTime.optional(),
  reason: z.string().nullable(),
  openedAt: IsoTime,
  outcome: z.enum(["opened", "resumed", "duplicate", "not-dead", "held", "evacuated"]),
  duplicateOf: z.string().optional(),
  heartbeat: z
    .object({
      verdict: z.enum(["alive", "wait", "probe"]),
      ageSeconds: z.number().nullable(),
      waitSeconds: z.number().optional(),
      reason: z.string(),
    })
    .optional(),
  /**
   * Whether an alarm's evacuation waited for other hosts' alarms before the guard (`settleVerdict`,
   * shared/domain/fencing.ts): skipped when the fleet's heartbeats show it cannot change the verdict.
   */
  settle: z
    .object({ verdict: z.enum(["wait", "skip"]), reason: z.string(), againAt: IsoTime.optional() })
    .optional(),
  /** Watching a silent host that answers SSM (WatchSilentHost, shared/domain/host-failure.ts). */
  watch: z
    .object({
      since: IsoTime,
      rounds: z.number().int().positive(),
      verdict: z.enum(["wait", "give-up"]),
      waitSeconds: z.number().int().nonnegative(),
      reason: z.string(),
    })
    .optional(),
  /** The liveness probe SendProbe sent when the incident opened (absent: not sent); ProbeHost reads it. */
  probe: z
    .object({
      commandId: z.string().min(1),
      sentAtMs: z.number().int().nonnegative(),
      deadlineMs: z.number().int().positive(),
    })
    .optional(),
  death: z.object({ verdict: z.enum(["dead", "alive"]), reason: z.string() }).optional(),
  /** A peer's incident: whether DisableHost set the host's alarm to ALARM (its return then runs recovery). */
  alarmMarked: z.object({ ok: z.boolean(), detail: z.string() }).optional(),
  /** The mass-failure guard's verdict (shared/domain/fencing.ts): hold = nothing automatic. */
  massFailure: z
    .object({ verdict: z.enum(["proceed", "hold"]), hosts: z.array(z.string()), reason: z.string() })
    .optional(),
  plan: z
    .object({
      tiers: z.array(z.object({ haPriority: z.number().int(), items: z.array(EvacuationItem) })),
      skipped: z.array(
        z.object({
          instanceUuid: z.string(),
          name: z.string(),
          reason: z.enum(SKIP_REASONS),
          message: z.string(),
        }),
      ),
      maxConcurrency: z.number().int().positive(),
    })
    .optional(),
  /** The Map's output: per priority tier, per instance (this round's). */
  results: z.array(z.array(EvacuationResult)).optional(),
  /** Fence: the round (1 = first look for proof), the last power-fence attempt, the host's proof. */
  fence: z.object({ round: z.number().int().positive(), attempt: FenceAttemptSchema.nullable() }).optional(),
  proof: z
    .object({
      proof: z.enum(HOST_PROOF_KINDS).nullable(),
      reason: z.string(),
      at: IsoTime.optional(),
      leaseExpiresAt: IsoTime.nullable().optional(),
    })
    .optional(),
  /** PlanEvacuation: the instances left "fencing required" this round. */
  awaitingProof: z.array(AwaitingProof).optional(),
  /** PlanEvacuation: the instances another flow held (task_state set) this round: looked at again. */
  busy: z.array(AwaitingProof).optional(),
  /** Results of earlier rounds (the Map's `results` are this round's). */
  earlierResults: z.array(EvacuationResult).optional(),
  /** AwaitProof: look for proof again after waitSeconds, or end (nothing waits, or give up). */
  proofLook: z
    .object({
      verdict: z.enum(["done", "wait", "give-up"]),
      waitSeconds: z.number().optional(),
      reason: z.string(),
    })
    .optional(),
  failure: z.record(z.string(), StepFailure).optional(),
});
export type HostEvacuationState = z.infer<typeof HostEvacuationState>;

/** One iteration of the evacuation Map: the item, and the child's failure when it did not succeed. */
export const ConfirmInput = z.object({
  sourceHost: ResourceName,
  item: EvacuationItem,
  child: StepFailure.optional(),
});

export const HostRecoveryRequest = z.looseObject({ host: ResourceName, reason: z.string().optional() });
export const HostRecoveryState = z.looseObject({
  host: ResourceName,
  reason: z.string().optional(),
  incidentId: z.string().nullable().optional(),
  action: z.enum(["wait", "clean", "nothing"]).optional(),
  waitSeconds: z.number().optional(),
  domains: z.record(z.string(), z.unknown()).optional(),
  released: z.record(z.string(), z.unknown()).optional(),
});
export type HostRecoveryState = z.infer<typeof HostRecoveryState>;
