/**
 * How long each function may run, and every duration derived from it, in one place: the CDK stack gives each
 * Lambda its `functionTimeoutSeconds`, the API's host commands and the sweeper's abandonment threshold are
 * computed from the API's, and a scheduled function's lease lasts as long as one of its invocations can.
 * Nothing here imports an AWS client.
 */
import type { FunctionSpec } from "./functions.js";

/** API Gateway's REST integration timeout: no API request is answered later than this. */
export const API_GATEWAY_TIMEOUT_SECONDS = 29;

/**
 * How long a probe of a host (is it alive, what state is a domain in) may take before it counts as timed
 * out, delivery included (`LAZARUS_HOST_PROBE_DEADLINE_MS`; the stack's `hostProbeDeadlineSeconds`).
 */
export const DEFAULT_HOST_PROBE_DEADLINE_MS = 45_000;

/** Lambda's own ceiling. */
export const LAMBDA_MAX_TIMEOUT_SECONDS = 900;

/**
 * Margin for the clocks of a Lambda and the control plane's records (`updatedAt`) to disagree, and for a
 * request to reach its function after API Gateway started counting.
 */
export const CLOCK_SKEW_SECONDS = 5;

/**
 * The API's host commands (os-stop, os-start) must end, SSM's delivery and polling included, before API
 * Gateway gives up on the request: the deadline leaves the function time to release the task and answer.
 */
export const API_HOST_COMMAND_DEADLINE_SECONDS = API_GATEWAY_TIMEOUT_SECONDS - 4;

/**
 * The longest a live migration's copy may run before it is aborted: the live-migrate step waits for the
 * command up to a minute longer (the abort and the delivery), within Lambda's maximum with a minute to spare.
 */
export const LIVE_MIGRATION_TIMEOUT_MAX_SECONDS = LAMBDA_MAX_TIMEOUT_SECONDS - 120;

/** The longest clean shutdown os-stop waits for before it destroys the domain (inside the deadline above). */
export const API_SHUTDOWN_TIMEOUT_MAX_SECONDS = 15;

/**
 * How long one invocation may run, by what the function does. The API answers within API Gateway's timeout
 * whatever it runs. A step that runs host commands waits up to the host-command deadline per command and may
 * run several: it gets Lambda's maximum, so its own deadlines, not Lambda's, decide when a host is given up
 * on. A scheduled function may outlast its period: its lease (`scheduleLeaseSeconds`) keeps two runs apart.
 */
export function functionTimeoutSeconds(spec: Pick<FunctionSpec, "role" | "access">): number {
  if (spec.role === "api") return API_GATEWAY_TIMEOUT_SECONDS;
  if (spec.access.hostDocuments?.length || spec.access.fence) return LAMBDA_MAX_TIMEOUT_SECONDS;
  switch (spec.role) {
    case "trigger":
      return 60;
    case "scheduled":
    case "invoked":
      return 300;
    case "step":
      return 30;
  }
}

/**
 * An API request's task (os-stop/os-start) older than this can no longer be held by a running request: the
 * function that took it has been stopped by Lambda by then. The sweeper releases it.
 */
export function apiTaskAbandonedAfterSeconds(apiSpec: Pick<FunctionSpec, "role" | "access">): number {
  return functionTimeoutSeconds(apiSpec) + CLOCK_SKEW_SECONDS;
}

/**
 * A scheduled function's run holds its lease this long: as long as the invocation can run (Lambda stops it
 * at its timeout), plus the clock margin. A run that crashed frees the lease when no invocation of it can
 * still be running; a run that finished releases it at once.
 */
export function scheduleLeaseSeconds(spec: Pick<FunctionSpec, "role" | "access">): number {
  return functionTimeoutSeconds(spec) + CLOCK_SKEW_SECONDS;
}
