/**
 * What the ASL structure tests (test/unit/*-asl.test.ts) share: the definitions' shape, asl-validator, and
 * the graph of a machine's states (where each state may go, what is reachable from a state).
 */
import { createRequire } from "node:module";

type AslValidator = (
  definition: unknown,
  options?: { checkPaths?: boolean; checkArn?: boolean },
) => { isValid: boolean; errors: unknown[]; errorsText: (separator?: string) => string };
export const aslValidator = createRequire(import.meta.url)("asl-validator") as AslValidator;

export interface Retrier {
  ErrorEquals: string[];
}
export interface Catcher {
  ErrorEquals: string[];
  ResultPath?: string;
  Next: string;
}
export interface State {
  Type: string;
  Parameters?: unknown;
  ResultPath?: string;
  Choices?: { Next: string; Variable?: string; StringEquals?: string; BooleanEquals?: boolean }[];
  Resource?: string;
  Next?: string;
  End?: boolean;
  Default?: string;
  Retry?: Retrier[];
  Catch?: Catcher[];
  ItemProcessor?: { StartAt: string; States: Record<string, State> };
  [key: string]: unknown;
}
export interface Definition {
  StartAt: string;
  States: Record<string, State>;
}

/**
 * Errors every Lambda Task of the machines may be retried for: the Lambda service's, DynamoDB throttling and
 * its transient server errors, races.
 */
export const STEP_RETRY_ERRORS: readonly string[] = [
  "Lambda.ServiceException",
  "Lambda.AWSLambdaException",
  "Lambda.SdkClientException",
  "Lambda.TooManyRequestsException",
  "Lambda.Unknown",
  "ThrottlingException",
  "ProvisionedThroughputExceededException",
  "InternalServerError",
  "ServiceUnavailable",
  "ConcurrentUpdate",
];

/** Every state a state may move to: Next, Default, Choices[].Next, Catch[].Next. */
export function targets(state: State): string[] {
  return [
    ...(state.Next ? [state.Next] : []),
    ...(state.Default ? [state.Default] : []),
    ...(state.Choices ?? []).map((c) => c.Next),
    ...(state.Catch ?? []).map((c) => c.Next),
  ];
}

/** The states reachable from `start` (itself included) in one level of a definition. */
export function reachableFrom(def: Pick<Definition, "States">, start: string): Set<string> {
  const seen = new Set<string>();
  const queue = [start];
  while (queue.length) {
    const name = queue.shift()!;
    if (seen.has(name) || !def.States[name]) continue;
    seen.add(name);
    queue.push(...targets(def.States[name]));
  }
  return seen;
}

/** A retrier's error names that are not in `transient`, as `<state>: <error>` (none is the goal). */
export function nonTransientRetries(
  states: readonly [string, State][],
  transient: ReadonlySet<string>,
): string[] {
  return states.flatMap(([name, s]) =>
    (s.Retry ?? []).flatMap((r) =>
      r.ErrorEquals.filter((e) => !transient.has(e)).map((e) => `${name}: ${e}`),
    ),
  );
}
