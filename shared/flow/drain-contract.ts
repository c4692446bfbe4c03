/**
 * What the host-drain machine (state-machines/host-drain.asl.json, issue 32) carries from step to step.
 * Its input is the API's request: drain a host (`mode: "drain"`), or bring back the instances a drain moved
 * once it is undrained (`mode: "return"`, with the instances). `failure` is written by the Catch clauses.
 */
import { z } from "zod";
import { VmStateSchema } from "../domain/schemas.js";
import { ResourceName, Uuid } from "../domain/values.js";
import { StepFailure } from "./contract.js";

export const HostDrainRequest = z.strictObject({
  host: ResourceName,
  mode: z.enum(["drain", "return"]).default("drain"),
  reason: z.string().max(255).optional(),
  /** return: the instances to bring back (the drain's `moved`). */
  instances: z.array(Uuid).max(1000).optional(),
});
export type HostDrainRequest = z.infer<typeof HostDrainRequest>;

export const StartDrainInput = z.object({
  request: HostDrainRequest,
  executionName: z.string().min(1).max(80),
});

/** One instance's move: a migrate child execution, named by its request id. */
export const DrainItem = z.object({
  instanceUuid: Uuid,
  name: z.string(),
  requestId: Uuid,
  haPriority: z.number().int(),
  vmState: VmStateSchema,
  /** Live (the guest keeps running) or cold. */
  live: z.boolean(),
  /** Where the drain's plan placed it (tried first); null: the plan found no room (the child says why). */
  plannedHost: ResourceName.nullable(),
  /** return: the drained host; drain: null (the scheduler chooses). */
  targetHost: ResourceName.nullable(),
});
export type DrainItem = z.infer<typeof DrainItem>;

export const DrainResult = z.object({
  instanceUuid: Uuid,
  name: z.string(),
  outcome: z.enum(["moved", "not-moved"]),
  /** Where the instance is now (its record). */
  host: z.string(),
  live: z.boolean(),
  error: z.string().nullable(),
  message: z.string().nullable(),
});
export type DrainResult = z.infer<typeof DrainResult>;

const NotMoved = z.object({ instanceUuid: z.string(), name: z.string(), reason: z.string() });

export const HostDrainState = z.looseObject({
  host: ResourceName,
  mode: z.enum(["drain", "return"]),
  reason: z.string().nullable(),
  executionName: z.string(),
  /** return: the instances to bring back. */
  instances: z.array(Uuid).optional(),
  plan: z
    .object({
      tiers: z.array(z.object({ haPriority: z.number().int(), items: z.array(DrainItem) })),
      /** Not tried at all (ERROR, another flow's task, no longer there / already back). */
      skipped: z.array(NotMoved),
      maxConcurrency: z.number().int().positive(),
    })
    .optional(),
  /** The Map's output: per tier, per instance. */
  results: z.array(z.array(DrainResult)).optional(),
  failure: z.record(z.string(), StepFailure).optional(),
});
export type HostDrainState = z.infer<typeof HostDrainState>;

/** One iteration of the Map: the item, and the child's failure when it did not succeed. */
export const ConfirmMoveInput = z.object({
  host: ResourceName,
  mode: z.enum(["drain", "return"]),
  item: DrainItem,
  child: StepFailure.optional(),
});
