/**
 * The boot and delete flows' payloads (state-machines/boot.asl.json, delete.asl.json). A boot's input is
 * the caller's build and its request id and nothing else (strict); AcceptBoot turns it into the
 * `BootState` the machine carries; every other field is written by a step, `failure` and the clean-up's
 * failure only by the machine's Catch clauses. Ids of what a boot creates (ports, blank volumes, their
 * attachments) derive from the request id and the item's index, so a retried step finds what it made.
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import { InvalidInput } from "../domain/errors.js";
import { deterministicUuid } from "../domain/ids.js";
import { BuildSpec } from "../domain/schemas.js";
import { ResourceName, Uuid } from "../domain/values.js";
import { CLEANUP_FAILURE_KEY, StepFailure } from "./contract.js";

export const BootRequest = z.object({ requestId: Uuid, build: BuildSpec }).strict();
export type BootRequest = z.infer<typeof BootRequest>;

/** The boot's steps in order; each Catch writes `$.failure.<key>`. */
export const BOOT_FAILURE_KEYS = [
  "acceptBoot",
  "scheduleBoot",
  "prepareBoot",
  "bootRootDisk",
  "spawnBoot",
  "finishBoot",
] as const;

export const BootState = BootRequest.extend({
  executionArn: z.string(),
  /** ScheduleBoot: the host claimed (the instance record exists from then on). */
  host: ResourceName.nullable().default(null),
  failure: z.partialRecord(z.enum(BOOT_FAILURE_KEYS), StepFailure).optional(),
  [CLEANUP_FAILURE_KEY]: StepFailure.optional(),
}).strict();
export type BootState = z.infer<typeof BootState>;
export type PlacedBoot = BootState & { host: string };

/** What HandleBootFailure can rely on: it runs after any failure, AcceptBoot's included. */
export const FailedBoot = z
  .object({
    requestId: Uuid.optional(),
    build: z.object({ instanceUuid: Uuid }).passthrough().optional(),
    host: ResourceName.nullable().optional(),
    request: z.unknown().optional(),
    failure: z.record(z.string(), StepFailure).optional(),
    [CLEANUP_FAILURE_KEY]: StepFailure.optional(),
  })
  .passthrough();
export type FailedBoot = z.infer<typeof FailedBoot>;

export const DeleteRequest = z.object({ requestId: Uuid, instanceUuid: Uuid }).strict();
export type DeleteRequest = z.infer<typeof DeleteRequest>;

export const DELETE_FAILURE_KEYS = ["acceptDelete", "destroyInstance", "finishDelete"] as const;

export const DeleteState = DeleteRequest.extend({
  executionArn: z.string(),
  /** The host the instance record named when the delete took it. */
  host: ResourceName,
  failure: z.partialRecord(z.enum(DELETE_FAILURE_KEYS), StepFailure).optional(),
}).strict();
export type DeleteState = z.infer<typeof DeleteState>;

export const FailedDelete = z
  .object({
    requestId: Uuid.optional(),
    instanceUuid: Uuid.optional(),
    request: z.unknown().optional(),
    failure: z.record(z.string(), StepFailure).optional(),
  })
  .passthrough();
export type FailedDelete = z.infer<typeof FailedDelete>;

/** The port a boot makes for its `index`-th network. */
export const bootPortId = (requestId: string, index: number) =>
  deterministicUuid(requestId, "boot-port", String(index));
/** The blank volume a boot makes for its `index`-th block device. */
export const bootVolumeId = (requestId: string, index: number) =>
  deterministicUuid(requestId, "boot-volume", String(index));
/** The attachment of a boot's `index`-th volume. */
export const bootAttachmentId = (requestId: string, index: number) =>
  deterministicUuid(requestId, "boot-attachment", String(index));

/** A locally administered unicast MAC derived from the port id (stable across a retried step). */
export function macOf(portId: string): string {
  const bytes = createHash("sha256").update(portId).digest().subarray(0, 5);
  return ["02", ...[...bytes].map((b) => b.toString(16).padStart(2, "0"))].join(":");
}

export function requirePlaced(state: BootState): PlacedBoot {
  if (!state.host) throw new InvalidInput("boot state has no host yet", { requestId: state.requestId });
  return { ...state, host: state.host };
}
