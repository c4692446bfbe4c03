/** Turns a step `(deps, input) => output` into a Lambda handler: parse the event with zod, run, return. */
import type { z } from "zod";
import { InvalidInput } from "../domain/errors.js";
import type { StepDeps } from "../flow/deps.js";
import { depsFromEnv } from "./runtime.js";

export type Step<I, O> = (deps: StepDeps, input: I) => Promise<O>;

export function stepHandler<S extends z.ZodType, O>(
  schema: S,
  step: Step<z.output<S>, O>,
): (event: unknown) => Promise<O> {
  return async (event: unknown) => {
    const parsed = schema.safeParse(event);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
      throw new InvalidInput(`invalid step input: ${issues.join("; ")}`, { issues });
    }
    return step(depsFromEnv(), parsed.data);
  };
}

/** Like stepHandler, with the dependencies another composition root builds (e.g. the host-failure flows'). */
export function handlerWith<D, S extends z.ZodType, O>(
  deps: () => D,
  schema: S,
  step: (deps: D, input: z.output<S>) => Promise<O>,
): (event: unknown) => Promise<O> {
  return async (event: unknown) => {
    const parsed = schema.safeParse(event);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
      throw new InvalidInput(`invalid step input: ${issues.join("; ")}`, { issues });
    }
    return step(deps(), parsed.data);
  };
}
