/**
 * Waiting for a flow the API started until it has taken the instance (or was refused by its own first
 * step: a request that raced this one won), so the answer says what nova's would and a refusal keeps its
 * HTTP status: the execution's error name is mapped back to its error class.
 */
import type { LazarusError } from "#shared/domain/errors.js";
import * as domainErrors from "#shared/domain/errors.js";
import { causeMessage } from "#shared/flow/flow-state.js";
import * as storeErrors from "#shared/store/store-errors.js";
import { ApiError } from "./http.js";
import type { RouteContext } from "./router.js";

/**
 * Until `taken()` says the flow owns what it asked for (true), or the execution ended without it (its
 * error thrown as the class of the same name). After `acceptWaitMs` it returns false: the execution runs,
 * and the request is answered as accepted anyway.
 */
export async function waitForFlow(
  ctx: RouteContext,
  executionArn: string,
  taken: () => Promise<boolean>,
): Promise<boolean> {
  const { deps } = ctx;
  const deadline = Date.now() + deps.acceptWaitMs;
  let delay = 50;
  for (;;) {
    if (await taken()) return true;
    const execution = await deps.executions.describe(executionArn);
    if (execution && execution.status !== "RUNNING") {
      if (await taken()) return true;
      throw errorFromExecution(execution.error, execution.cause);
    }
    if (Date.now() > deadline) return false;
    await deps.sleep(delay);
    delay = Math.min(delay * 2, 500);
  }
}

type ErrorClass = new (message: string) => LazarusError;
const ERROR_CLASSES = new Map<string, ErrorClass>(
  ([...Object.values(domainErrors), ...Object.values(storeErrors)] as unknown[])
    .filter(
      (v): v is ErrorClass => typeof v === "function" && v.prototype instanceof domainErrors.LazarusError,
    )
    .map((c) => [c.name, c]),
);

/** The refusal an execution failed with, as the error class of the same name (its HTTP status with it). */
export function errorFromExecution(name: string | null, cause: string | null): Error {
  const message = causeMessage(cause) ?? name ?? "the flow was refused";
  const cls = name ? ERROR_CLASSES.get(name) : undefined;
  return cls ? new cls(message) : new ApiError(500, `The flow failed before it started: ${name}: ${message}`);
}
