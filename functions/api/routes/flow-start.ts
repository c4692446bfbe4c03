/**
 * What every action that starts a flow does after StartExecution: wait until the flow's Accept has taken
 * the instance, or answer with the refusal Accept ended the execution with (a racing request won).
 */
import type { LazarusError } from "#shared/domain/errors.js";
import * as domainErrors from "#shared/domain/errors.js";
import { causeMessage } from "#shared/flow/flow-state.js";
import * as storeErrors from "#shared/store/store-errors.js";
import { ApiError } from "../http.js";
import type { RouteContext } from "../router.js";

/**
 * Until the flow's Accept has taken the instance (the migration record exists) or the execution ended
 * without it (Accept refused: a request that raced this one won). After `acceptWaitMs` the request is
 * answered as accepted anyway: the execution runs, and its id is in the answer.
 */
export async function waitForAccept(
  ctx: RouteContext,
  executionArn: string,
  accepted: () => Promise<boolean>,
): Promise<void> {
  const { deps } = ctx;
  const deadline = Date.now() + deps.acceptWaitMs;
  let delay = 50;
  for (;;) {
    if (await accepted()) return;
    const execution = await deps.executions.describe(executionArn);
    if (execution && execution.status !== "RUNNING") {
      if (await accepted()) return;
      throw errorFromExecution(execution.error, execution.cause);
    }
    if (Date.now() > deadline) return;
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
function errorFromExecution(name: string | null, cause: string | null): Error {
  const message = causeMessage(cause) ?? name ?? "the flow was refused";
  const cls = name ? ERROR_CLASSES.get(name) : undefined;
  return cls ? new cls(message) : new ApiError(500, `The flow failed before it started: ${name}: ${message}`);
}
