/**
 * The rebuild/evacuate flow's payloads. The execution's input is the caller's request and nothing else
 * (`RebuildRequest`, strict: an unknown or internal field is refused). Accept turns it into the
 * `FlowState` that the state machine carries from step to step; every internal field of FlowState is
 * written by a step, and `failure` / `cleanUpFailure` only by the state machine's Catch clauses.
 */
import { z } from "zod";
import { Host, PowerStateSchema, VmStateSchema } from "../domain/schemas.js";
import { ImageRef, ResourceName, Uuid } from "../domain/values.js";

/** At most this many target hosts are tried before the flow gives up (claim refused, unreachable, spawn failed). */
export const MAX_SCHEDULING_ATTEMPTS = 3;

export const RebuildRequest = z
  .object({
    /** Caller's idempotency key; also the migration id and, by convention, the execution name. */
    requestId: Uuid,
    instanceUuid: Uuid,
    /** false: rebuild in place; true: evacuate (nova's `recreate`). */
    recreate: z.boolean(),
    /** Evacuate only: the host asked for (nova's `host`). */
    targetHost: ResourceName.nullable().default(null),
    /** Evacuate only: take `targetHost` without the scheduler's filters (nova API 2.29-2.67 `force`). */
    force: z.boolean().default(false),
    /**
     * Evacuate only, set by the host-evacuation flow: where its plan placed this instance (the scheduler's
     * own filters and weighers over the whole host, one placement after the other). Schedule tries it first
     * among the hosts that pass the filters, so concurrent evacuations land as the plan says instead of all
     * weighing the same best host and racing for it; the weigher decides when it no longer fits. Not nova's
     * `host` (no filter is skipped). The API never sets it.
     */
    plannedHost: ResourceName.nullable().default(null),
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
    /**
     * Evacuate only, for the instance-recovery flow: the recovery (table `recoveries`) whose record proves
     * the instance's domain destroyed and undefined on its source host, which is still up. Accept admits
     * the evacuation of an instance from a live host only with this proof, naming this request. The API
     * never sets it; null = nova's evacuate (the source must be down).
     */
    relocateFromLiveHost: Uuid.nullable().default(null),
  })
  .strict();
export type RebuildRequest = z.infer<typeof RebuildRequest>;

/** What the state machine passes to Accept: the execution's input as given, and the execution's ARN. */
export const AcceptInput = z.object({ request: z.unknown(), executionArn: z.string().min(1) }).strict();
export type AcceptInput = z.infer<typeof AcceptInput>;

/** What a state machine's Catch records of a failed step (`$.failure.<step>`): the error's name and cause. */
export const StepFailure = z.object({ Error: z.string(), Cause: z.string().optional() });
export type StepFailure = z.infer<typeof StepFailure>;

/**
 * The flow's steps in the order the state machine runs them (evacuate: ... checkSharedStorage, prepareTarget,
 * spawn; rebuild: updateInstanceState ... prepareRootDisk, spawn); each Catch writes `$.failure.<key>`.
 * `test/unit/rebuild-asl.test.ts` checks the ASL's ResultPaths against this list.
 */
export const FAILURE_KEYS = [
  "accept",
  "schedule",
  "verifyRecreate",
  "checkInstanceNotOnTarget",
  "checkSharedStorage",
  "prepareTarget",
  "updateInstanceState",
  "rebindPorts",
  "powerOff",
  "detachVolumes",
  "destroy",
  "attachVolumes",
  "prepareRootDisk",
  "spawn",
  "finish",
  "prepareReschedule",
] as const;
export type FailureKey = (typeof FAILURE_KEYS)[number];

/** Where a failed clean-up of the target is recorded (`$.cleanUpFailure`): the target is not proven clean. */
export const CLEANUP_FAILURE_KEY = "cleanUpFailure";

/**
 * Steps after which the target's hypervisor may hold something of this flow (a root disk, a domain).
 * A command that timed out counts as run, so a failure *in* one of these counts too.
 */
export const TARGET_TOUCHING_STEPS: readonly FailureKey[] = ["prepareRootDisk", "spawn", "finish"];

/** Rebuild: from this step on the old domain may be gone; before it, a failure leaves the instance as it was. */
export const FIRST_DESTRUCTIVE_STEP: FailureKey = "powerOff";

const Failures = z.partialRecord(z.enum(FAILURE_KEYS), StepFailure);

/**
 * What the evacuation's steps on its target use of the target's host record: its name and agent (where host
 * commands go), its hypervisor's domain type, whether its driver recreates, and its storage folders. Schedule
 * carries them from the record its claim wrote (ALL_NEW: as consistent as a read), so the steps after it do
 * not each read the host again (issue 34). Why a copy from the claim is as good as a read for each:
 *  - name and managedInstanceId: a host's managed instance never changes under its name (registration
 *    refuses it: HostRegistrationConflict), and a host is deregistered only while it holds no claim, and this
 *    flow's claim is there from Schedule on;
 *  - virtType and supportsRecreate: the claim is conditional on them as the filters saw them (RecreateFilter,
 *    ImagePropertiesFilter; a forced host's claim returns them as they are);
 *  - storage: the folders the flow's probe, root disk and domain definition use; read once, every step of
 *    the flow works in the same folders (a re-registration that moved them applies to the next flow, where a
 *    read per step could mix two layouts in one flow).
 * None of them says whether the instance runs anywhere, whose a claim is, or where a port is bound: those are
 * read from their records. Steps use the copy only for the host it names (`destHost`); else they read it.
 */
export const TargetHost = Host.pick({
  name: true,
  managedInstanceId: true,
  virtType: true,
  supportsRecreate: true,
  storage: true,
});
export type TargetHost = z.infer<typeof TargetHost>;

export const FlowState = RebuildRequest.extend({
  // Accept
  executionArn: z.string(),
  migrationId: Uuid,
  sourceHost: ResourceName,
  originalImageRef: ImageRef,
  originalVmState: VmStateSchema,
  originalPowerState: PowerStateSchema,
  // Schedule
  destHost: ResourceName.nullable().default(null),
  attemptedHosts: z.array(ResourceName).default([]),
  // Schedule (evacuate): the target host as its claim left it (TargetHost: what the target steps use of it)
  target: TargetHost.optional(),
  // CheckInstanceNotOnTarget: the target's root disk and cached image, probed in the same host command as
  // the domain (one SSM command for both checks); CheckSharedStorage decides from them and drops them
  targetProbe: z
    .object({ host: ResourceName, disk: z.enum(["present", "absent"]), image: z.enum(["present", "absent"]) })
    .optional(),
  // CheckSharedStorage: the disk was found on the target (true) or proven absent there (false)
  sharedStorage: z.boolean().optional(),
  // PrepareRootDisk (PrepareTarget on evacuate): this flow created the root disk on the target
  createdRootDisk: z.boolean().optional(),
  // PrepareReschedule: targets given up on (each proven clean), and whether another may be tried
  previousFailures: z
    .array(z.object({ host: z.string(), step: z.string(), error: z.string(), message: z.string() }))
    .default([]),
  canReschedule: z.boolean().optional(),
  // Written by Catch clauses only
  failure: Failures.optional(),
  [CLEANUP_FAILURE_KEY]: StepFailure.optional(),
}).strict();
export type FlowState = z.infer<typeof FlowState>;

/** A FlowState with a target chosen. */
export type ScheduledFlow = FlowState & { destHost: string };

/**
 * What the failure handler can rely on: the request's identity and whatever the flow had reached. It
 * runs after any failure, also one of Accept (whose input may be anything), so every field is optional.
 */
export const FailedFlow = z
  .object({
    requestId: Uuid.optional(),
    instanceUuid: Uuid.optional(),
    recreate: z.boolean().optional(),
    migrationId: Uuid.optional(),
    sourceHost: ResourceName.optional(),
    destHost: ResourceName.nullable().optional(),
    attemptedHosts: z.array(ResourceName).optional(),
    request: z.unknown().optional(),
    failure: Failures.optional(),
    [CLEANUP_FAILURE_KEY]: StepFailure.optional(),
  })
  .passthrough();
export type FailedFlow = z.infer<typeof FailedFlow>;
