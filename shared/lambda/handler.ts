/** Turns a step `(deps, input) => output` into a Lambda handler: parse the event with zod, run, return. */
import type { z } from "zod";
import type { StepDeps } from "../flow/deps.js";
import { parseOrInvalid } from "../flow/parse.js";
import { depsFromEnv } from "./runtime.js";

export type Step<I, O> = (deps: StepDeps, input: I) => Promise<O>;

export function stepHandler<S extends z.ZodType, O>(
  schema: S,
  step: Step<z.output<S>, O>,
): (event: unknown) => Promise<O> {
  return async (event: unknown) => step(depsFromEnv(), parseOrInvalid(schema, event, "step input"));
}
