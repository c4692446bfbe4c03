/**
 * The one way every Lambda runs (flow steps, triggers, the sweeper, inventory, the API): parse the event
 * with zod, build the dependencies of the invocation, run the step, return its output; logged and
 * measured per invocation with its correlation keys (`observability.ts`), a failure included.
 */
import type { z } from "zod";
import type { StepDeps } from "../flow/deps.js";
import { parseOrInvalid } from "../flow/parse.js";
import {
  type CorrelationKeys,
  correlationKeys,
  type InvocationTelemetry,
  type LambdaContextLike,
  observeStep,
} from "./observability.js";
import { depsFromEnv } from "./runtime.js";

export type Step<I, O> = (deps: StepDeps, input: I) => Promise<O>;

export type LambdaHandler<O> = (event: unknown, context?: LambdaContextLike) => Promise<O>;

/** Builds an invocation's dependencies from the environment, its logs and metrics going to `telemetry`. */
export type DepsFactory<D> = (env: NodeJS.ProcessEnv, telemetry: InvocationTelemetry) => D;

export interface HandlerOptions<I> {
  /** The step's name in logs and metrics (default: the step function's name). */
  name?: string;
  /** The correlation keys of one input (default: `correlationKeys`, which reads every flow's fields). */
  correlationKeys?: (input: I) => CorrelationKeys;
}

/**
 * One entry of a flow's step table (steps/index.ts of a flow under functions/): the schema its input is parsed with, and the
 * step. The Lambda handlers are built from the table, and so is the policy simulator (test/unit/ha-simulator).
 */
export interface TableStep<D, S extends z.ZodType = z.ZodType, O = unknown> {
  input: S;
  run: (deps: D, input: z.output<S>) => Promise<O>;
}

/** The entry maker of a step table whose steps take dependencies `D`. */
export const tableStep =
  <D>() =>
  <S extends z.ZodType, O>(input: S, run: TableStep<D, S, O>["run"]): TableStep<D, S, O> => ({ input, run });

/** A Lambda handler running `step` with the dependencies `deps` builds (a flow's composition root). */
export function handlerWith<D, S extends z.ZodType, O>(
  deps: DepsFactory<D>,
  schema: S,
  step: (deps: D, input: z.output<S>) => Promise<O>,
  options: HandlerOptions<z.output<S>> = {},
): LambdaHandler<O> {
  const name = options.name || step.name;
  // An arrow function has no name: its metrics would lose their `step` dimension (Powertools drops empty
  // ones). A programming error, found when the module loads.
  if (!name) throw new Error("a handler of an anonymous step needs options.name");
  const keysOf = options.correlationKeys ?? correlationKeys;
  return async (event: unknown, context?: LambdaContextLike) => {
    const parsed = schema.safeParse(event);
    // An input that fails its schema is still logged with whatever keys it has.
    const keys = parsed.success ? keysOf(parsed.data) : correlationKeys(event);
    return observeStep({ name, keys, ...(context ? { context } : {}) }, async (telemetry) => {
      if (!parsed.success) parseOrInvalid(schema, event, "step input"); // throws InvalidInput naming every field
      return step(deps(process.env, telemetry), parsed.data as z.output<S>);
    });
  };
}

/** A Lambda handler of a rebuild/evacuate step (StepDeps from the environment). */
export function stepHandler<S extends z.ZodType, O>(
  schema: S,
  step: Step<z.output<S>, O>,
  options: HandlerOptions<z.output<S>> = {},
): LambdaHandler<O> {
  return handlerWith(depsFromEnv, schema, step, options);
}
