/**
 * The planned-maintenance flows' dependencies (issue 32: the migrate and host-drain machines): the rebuild
 * steps' (stores, host executor, notifier, clock) plus the maintenance settings, from the container
 * (`runtime.ts`) and its settings (`settings.ts`).
 */
import type { StepDeps } from "../flow/deps.js";
import type { InvocationTelemetry } from "./observability.js";
import { containerFromEnv, depsFromEnv } from "./runtime.js";
import type { MaintenanceConfig } from "./settings.js";

export interface MaintenanceDeps extends StepDeps {
  maintenance: MaintenanceConfig;
}

export function maintenanceDepsFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  telemetry?: InvocationTelemetry,
): MaintenanceDeps {
  return { ...depsFromEnv(env, telemetry), maintenance: containerFromEnv(env).settings.maintenance };
}
