/** What a flow step needs from the outside world; handlers build it from the environment (`runtime.ts`). */
import type { HostExecutor } from "../hosts/executor.js";
import type { Notifier } from "../notifications/notifier.js";
import type { Stores } from "../store/index.js";
import type { ExecutionReader } from "./executions.js";

export interface StepDeps {
  stores: Stores;
  executor: HostExecutor;
  notifier: Notifier;
  /** Step Functions executions, for the sweeper (does a task's flow still run?). */
  executions: ExecutionReader;
  now: () => Date;
  /** Waits between in-step retries (tests pass a fast one). */
  sleep: (ms: number) => Promise<void>;
  /** nova's service_down_time, in seconds. */
  serviceDownSeconds: number;
  /** Seconds a clean shutdown may take before the domain is destroyed (nova's shutdown_timeout). */
  shutdownTimeoutSeconds: number;
}
