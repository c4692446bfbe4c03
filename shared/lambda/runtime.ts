/**
 * Builds StepDeps from the environment. Clients are made once per Lambda container; the executor is
 * made per invocation, so its host-command log lines carry that invocation's correlation keys.
 * Endpoints come from the SDK's own `AWS_ENDPOINT_URL_<SERVICE>` variables, so the same code talks to
 * AWS or to the local cloud.
 */
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { SFNClient } from "@aws-sdk/client-sfn";
import { SSMClient } from "@aws-sdk/client-ssm";
import { DEFAULT_SERVICE_DOWN_SECONDS } from "../domain/host-liveness.js";
import type { StepDeps } from "../flow/deps.js";
import { SsmHostExecutor } from "../hosts/ssm-executor.js";
import { EventBridgeNotifier } from "../notifications/notifier.js";
import { createDocumentClient } from "../store/client.js";
import { createStores } from "../store/index.js";
import { tableNamesFromEnv } from "../store/tables.js";
import { positiveFromEnv } from "./env.js";
import { type InvocationTelemetry, resetTelemetry } from "./observability.js";
import { SfnExecutions } from "./sfn-executions.js";

interface Container {
  shared: Omit<StepDeps, "executor">;
  ssm: SSMClient;
  hostCommandDeadlineMs: number;
}

let cached: Container | undefined;

function container(env: NodeJS.ProcessEnv): Container {
  if (cached) return cached;
  const doc = createDocumentClient();
  cached = {
    shared: {
      stores: createStores({ doc, tables: tableNamesFromEnv(env) }),
      notifier: new EventBridgeNotifier(new EventBridgeClient({}), env.LAZARUS_EVENT_BUS ?? "default"),
      executions: new SfnExecutions(new SFNClient({})),
      now: () => new Date(),
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      serviceDownSeconds: positiveFromEnv(env.LAZARUS_SERVICE_DOWN_SECONDS, DEFAULT_SERVICE_DOWN_SECONDS),
      shutdownTimeoutSeconds: positiveFromEnv(env.LAZARUS_SHUTDOWN_TIMEOUT_SECONDS, 60),
    },
    ssm: new SSMClient({}),
    hostCommandDeadlineMs: positiveFromEnv(env.LAZARUS_HOST_COMMAND_DEADLINE_MS, 120_000),
  };
  return cached;
}

/** StepDeps for one invocation; host commands are logged and measured with `telemetry` when given. */
export function depsFromEnv(env: NodeJS.ProcessEnv = process.env, telemetry?: InvocationTelemetry): StepDeps {
  const c = container(env);
  return {
    ...c.shared,
    executor: new SsmHostExecutor({
      client: c.ssm,
      defaultDeadlineMs: c.hostCommandDeadlineMs,
      ...(telemetry ? { logger: telemetry.logger, metrics: telemetry.metrics } : {}),
    }),
  };
}

/**
 * Forget the cached clients, loggers and metrics: the local cloud calls this after it changes the
 * environment (endpoints, log settings).
 */
export function resetDeps(): void {
  cached = undefined;
  resetTelemetry();
}
