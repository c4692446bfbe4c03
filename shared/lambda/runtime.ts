/**
 * Builds StepDeps from the environment, once per Lambda container. Endpoints come from the SDK's own
 * `AWS_ENDPOINT_URL_<SERVICE>` variables, so the same code talks to AWS or to the local cloud.
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
import { SfnExecutions } from "./sfn-executions.js";

let cached: StepDeps | undefined;

function numberFromEnv(value: string | undefined, fallback: number): number {
  const n = value === undefined ? Number.NaN : Number(value);
  return Number.isFinite(n) && n > 0 ? n : fallback;
}

export function depsFromEnv(env: NodeJS.ProcessEnv = process.env): StepDeps {
  if (cached) return cached;
  const doc = createDocumentClient();
  cached = {
    stores: createStores({ doc, tables: tableNamesFromEnv(env) }),
    executor: new SsmHostExecutor({
      client: new SSMClient({}),
      defaultDeadlineMs: numberFromEnv(env.LAZARUS_HOST_COMMAND_DEADLINE_MS, 120_000),
    }),
    executions: new SfnExecutions(new SFNClient({})),
    notifier: new EventBridgeNotifier(new EventBridgeClient({}), env.LAZARUS_EVENT_BUS ?? "default"),
    now: () => new Date(),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    serviceDownSeconds: numberFromEnv(env.LAZARUS_SERVICE_DOWN_SECONDS, DEFAULT_SERVICE_DOWN_SECONDS),
    shutdownTimeoutSeconds: numberFromEnv(env.LAZARUS_SHUTDOWN_TIMEOUT_SECONDS, 60),
  };
  return cached;
}

/** Forget the cached clients: the local cloud calls this after it changes endpoints in the environment. */
export function resetDeps(): void {
  cached = undefined;
}
