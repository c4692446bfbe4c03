/**
 * The migrate machine's payloads (state-machines/migrate.asl.json, issue 32). Its input is the caller's
 * request and nothing else (`MigrateRequest`, strict); its Accept turns it into the `MigrationFlow` the
 * steps carry, every internal field written by a step, `failure` only by the machine's Catch clauses.
 *
 * One machine for the three ways an instance on a live host moves: a live migration (nova's
 * `os-migrateLive`), a cold migration (nova's `migrate`, a resize to the same flavor: stop, move, start;
 * then confirmed, by the caller or at once with `autoConfirm`) and the revert of a finished cold one
 * (nova's `revertResize`).
 */
import { z } from "zod";
import { PowerStateSchema, VmStateSchema } from "../domain/schemas.js";
import { ResourceName, Uuid } from "../domain/values.js";
import { StepFailure } from "./contract.js";

export const MigrateRequest = z
  .object({
    /** Caller's idempotency key; the execution's name. A migration's id is its request id. */
    requestId: Uuid,
    instanceUuid: Uuid,
    /** migrate: move the instance; revert: undo the finished cold migration `migrationId`. */
    action: z.enum(["migrate", "revert"]).default("migrate"),
    /** migrate: live (the guest keeps running) or cold (stopped, moved, started). */
    live: z.boolean().default(false),
    /** migrate: the host asked for (nova's `host`), still checked by every scheduler filter. */
    targetHost: ResourceName.nullable().default(null),
    /** migrate, set by the host-drain flow: where its plan placed the instance, tried first (see RebuildRequest). */
    plannedHost: ResourceName.nullable().default(null),
    /** migrate, cold: confirm as soon as it finished (the drain); false: wait for confirmResize (nova). */
    autoConfirm: z.boolean().default(false),
    /** revert: the finished cold migration to undo. */
    migrationId: Uuid.nullable().default(null),
  })
  .strict();
export type MigrateRequest = z.infer<typeof MigrateRequest>;

/** Which migrate flow this is: a live or a cold migration, or the revert of a cold one. */
export type MigrateOperation = "live-migration" | "migration" | "revert";

/** The steps of the machine in their order; each Catch writes `$.failure.<key>`. */
export const MIGRATE_FAILURE_KEYS = [
  "accept",
  "schedule",
  "checkTarget",
  "liveMigrate",
  "stopSource",
  "startOnTarget",
  "commit",
  "confirm",
  "revert",
] as const;
export type MigrateFailureKey = (typeof MIGRATE_FAILURE_KEYS)[number];

/** Steps before which nothing was done on a host: a failure there ends the flow without looking at hosts. */
export const MIGRATE_STEPS_BEFORE_HOSTS: readonly MigrateFailureKey[] = ["accept", "schedule", "checkTarget"];

export const MigrationFlow = MigrateRequest.extend({
  // Accept
  executionArn: z.string(),
  operation: z.enum(["live-migration", "migration", "revert"]),
  /** The migration record (= requestId; a revert's is the migration it undoes). */
  migrationId: Uuid,
  /** Where the instance is when the flow takes it (a revert: the finished migration's target). */
  sourceHost: ResourceName,
  originalVmState: VmStateSchema,
  originalPowerState: PowerStateSchema,
  // Schedule (a revert: the host it goes back to)
  destHost: ResourceName.nullable().default(null),
  attemptedHosts: z.array(ResourceName).default([]),
  failure: z.partialRecord(z.enum(MIGRATE_FAILURE_KEYS), StepFailure).optional(),
}).strict();
export type MigrationFlow = z.infer<typeof MigrationFlow>;

/** What the failure handler can rely on: any failure, Accept's included (whose input may be anything). */
export const FailedMigration = z
  .object({
    requestId: Uuid.optional(),
    instanceUuid: Uuid.optional(),
    operation: z.enum(["live-migration", "migration", "revert"]).optional(),
    migrationId: Uuid.optional(),
    executionArn: z.string().optional(),
    destHost: ResourceName.nullable().optional(),
    originalVmState: VmStateSchema.optional(),
    originalPowerState: PowerStateSchema.optional(),
    attemptedHosts: z.array(ResourceName).optional(),
    request: z.unknown().optional(),
    failure: z.partialRecord(z.enum(MIGRATE_FAILURE_KEYS), StepFailure).optional(),
  })
  .passthrough();
export type FailedMigration = z.infer<typeof FailedMigration>;

/** A MigrationFlow with its target chosen. */
export type ScheduledMigration = MigrationFlow & { destHost: string };
