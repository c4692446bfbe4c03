/**
 * The Lambdas' one composition root. A container (a Lambda execution environment) reads its settings and
 * makes its clients once (`containerFromEnv`); each invocation gets its dependencies from it, with a host
 * executor of its own, so its host-command log lines carry that invocation's correlation keys.
 * The flows' runtimes (host failure, instance failure), the API and inventory add what they need with
 * `perContainer`. Endpoints come from the SDK's own `AWS_ENDPOINT_URL_<SERVICE>` variables, so the same
 * code talks to AWS or to the local cloud.
 */
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { SFNClient } from "@aws-sdk/client-sfn";
import { SSMClient } from "@aws-sdk/client-ssm";
import { hostDocumentName } from "#ssm-documents/document.js";
import type { StepDeps } from "../flow/deps.js";
import { SsmHostExecutor } from "../hosts/ssm-executor.js";
import { EventBridgeNotifier } from "../notifications/notifier.js";
import { createDocumentClient } from "../store/client.js";
import { createStores, type Stores } from "../store/index.js";
import { type InvocationTelemetry, resetTelemetry } from "./observability.js";
import { type LambdaSettings, settingsFromEnv } from "./settings.js";
import { SfnExecutions } from "./sfn-executions.js";

/** What one Lambda container builds once. */
export interface Container {
  settings: LambdaSettings;
  stores: Stores;
  eventBridge: EventBridgeClient;
  notifier: EventBridgeNotifier;
  /** Step Functions: start by name, status, describe, history (one adapter, shared/lambda/sfn-executions.ts). */
  executions: SfnExecutions;
  ssm: SSMClient;
  now: () => Date;
  sleep: (ms: number) => Promise<void>;
}

let cached: Container | undefined;

export function containerFromEnv(env: NodeJS.ProcessEnv = process.env): Container {
  if (cached) return cached;
  const settings = settingsFromEnv(env);
  const eventBridge = new EventBridgeClient({});
  cached = {
    settings,
    stores: createStores({ doc: createDocumentClient(), tables: settings.tables }),
    eventBridge,
    notifier: new EventBridgeNotifier(eventBridge, settings.eventBus),
    executions: new SfnExecutions(new SFNClient({})),
    ssm: new SSMClient({}),
    now: () => new Date(),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  };
  return cached;
}

/**
 * `build` run once per container: what a runtime adds to the container (its own clients), made on its
 * first use and made again after `resetDeps`.
 */
export function perContainer<T>(build: (container: Container) => T): (env?: NodeJS.ProcessEnv) => T {
  const built = new WeakMap<Container, T>();
  return (env = process.env) => {
    const container = containerFromEnv(env);
    let value = built.get(container);
    if (value === undefined) {
      value = build(container);
      built.set(container, value);
    }
    return value;
  };
}

/** A host executor for one invocation: its log lines and metrics are the invocation's (`telemetry`). */
export function hostExecutor(
  container: Container,
  telemetry?: InvocationTelemetry,
  deadlineMs = container.settings.hostCommandDeadlineMs,
): SsmHostExecutor {
  return new SsmHostExecutor({
    client: container.ssm,
    documentName: (id) => hostDocumentName(container.settings.hostDocumentPrefix, id),
    defaultDeadlineMs: deadlineMs,
    ...(telemetry ? { logger: telemetry.logger, metrics: telemetry.metrics } : {}),
  });
}

/** StepDeps for one invocation; host commands are logged and measured with `telemetry` when given. */
export function depsFromEnv(env: NodeJS.ProcessEnv = process.env, telemetry?: InvocationTelemetry): StepDeps {
  const c = containerFromEnv(env);
  return {
    stores: c.stores,
    notifier: c.notifier,
    executions: c.executions,
    now: c.now,
    sleep: c.sleep,
    serviceDownSeconds: c.settings.serviceDownSeconds,
    shutdownTimeoutSeconds: c.settings.shutdownTimeoutSeconds,
    executor: hostExecutor(c, telemetry),
  };
}

/**
 * Forget the container (settings, clients), loggers and metrics: the local cloud calls this after it
 * changes the environment (endpoints, settings, log settings).
 */
export function resetDeps(): void {
  cached = undefined;
  resetTelemetry();
}
