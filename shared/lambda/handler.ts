/**
 * Turns a step `(deps, input) => output` into a Lambda handler: parse the event with zod, run the
 * step, return its output; logged and measured per invocation (`observability.ts`).
 */
import type { z } from "zod";
import type { StepDeps } from "../flow/deps.js";
import { parseOrInvalid } from "../flow/parse.js";
import {
  type CorrelationKeys,
  flowCorrelationKeys,
  type LambdaContextLike,
  observeStep,
} from "./observability.js";
import { depsFromEnv } from "./runtime.js";

export type Step<I, O> = (deps: StepDeps, input: I) => Promise<O>;

export interface StepHandlerOptions<I> {
  /** The step's name in logs and metrics (default: the step function's name). */
  name?: string;
  /** The correlation keys of one input (default: the flow state's, `flowCorrelationKeys`). */
  correlationKeys?: (input: I) => CorrelationKeys;
}

export function stepHandler<S extends z.ZodType, O>(
  schema: S,
  step: Step<z.output<S>, O>,
  options: StepHandlerOptions<z.output<S>> = {},
): (event: unknown, context?: LambdaContextLike) => Promise<O> {
  const name = options.name || step.name;
  // An arrow function has no name: its metrics would lose their `step` dimension (Powertools drops empty ones).
  if (!name) throw new Error("stepHandler: an anonymous step needs options.name");
  const keysOf = options.correlationKeys ?? flowCorrelationKeys;
  return async (event: unknown, context?: LambdaContextLike) => {
    const parsed = schema.safeParse(event);
    // An input that fails its schema is still logged with whatever keys it has.
    const keys = parsed.success ? keysOf(parsed.data) : flowCorrelationKeys(event);
    return observeStep({ name, keys, ...(context ? { context } : {}) }, async (telemetry) => {
      if (!parsed.success) parseOrInvalid(schema, event, "step input"); // throws InvalidInput naming every field
      return step(depsFromEnv(process.env, telemetry), parsed.data as z.output<S>);
    });
  };
}

/** Like stepHandler, with the dependencies another composition root builds (e.g. the host-failure flows'). */
export function handlerWith<D, S extends z.ZodType, O>(
  deps: () => D,
  schema: S,
  step: (deps: D, input: z.output<S>) => Promise<O>,
): (event: unknown) => Promise<O> {
  return async (event: unknown) => step(deps(), parseOrInvalid(schema, event, "step input"));
}
