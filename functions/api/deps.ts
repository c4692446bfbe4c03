/**
 * What the API's routes need from the outside world, from the Lambdas' one composition root
 * (shared/lambda/runtime.ts): the container's stores, notifier and executions, the settings, and the
 * inventory functions' client. Built per invocation (cheaply: the clients are the container's), so its
 * host executor and logger carry the invocation's correlation keys.
 */
import type { Logger } from "@aws-lambda-powertools/logger";
import { LambdaClient } from "@aws-sdk/client-lambda";
import { API_TIMEOUT_SECONDS } from "#shared/definitions/functions.js";
import type { EvacuationPolicy } from "#shared/domain/host-failure.js";
import type { StepDeps } from "#shared/flow/deps.js";
import type { ExecutionStarter } from "#shared/flow/executions.js";
import type { InvocationTelemetry } from "#shared/lambda/observability.js";
import { containerFromEnv, hostExecutor, perContainer } from "#shared/lambda/runtime.js";
import type { ExecutionHistoryReader } from "#shared/lambda/sfn-executions.js";
import { type HostPowerOps, LambdaHostPower } from "./host-power-client.js";
import { type InventoryOps, LambdaInventory } from "./inventory-client.js";

export type { InventoryOps };

export interface ApiDeps extends Omit<StepDeps, "executions"> {
  executions: ExecutionStarter & ExecutionHistoryReader;
  /** State machine ARNs; null = not deployed here (the routes that need it answer 501). */
  machines: {
    rebuild: string | null;
    hostEvacuation: string | null;
    migrate: string | null;
    hostDrain: string | null;
    boot: string | null;
    delete: string | null;
  };
  inventory: InventoryOps | null;
  /** An operator's power actions on hosts (the host-power function); null answers 501. */
  hostPower: HostPowerOps | null;
  /** How long an action waits for its flow to take the instance (Accept) before answering anyway. */
  acceptWaitMs: number;
  /** The policy the host-evacuation flow runs with (a preview shows it unless the caller names another). */
  evacuationPolicy: EvacuationPolicy;
  /** The invocation's logger (its correlation keys appended). */
  logger: Logger;
}

/**
 * API Gateway answers within API_TIMEOUT_SECONDS (29 s): a host command the API runs (os-stop, os-start)
 * gets at most 25 of them, whatever LAZARUS_HOST_COMMAND_DEADLINE_MS says, and a clean shutdown at most
 * 15 of those before os-stop destroys the domain, whatever LAZARUS_SHUTDOWN_TIMEOUT_SECONDS says.
 */
const API_HOST_COMMAND_DEADLINE_MS = (API_TIMEOUT_SECONDS - 4) * 1000;
const API_SHUTDOWN_TIMEOUT_SECONDS = 15;

const inventoryClient = perContainer(
  (c) => new LambdaInventory(new LambdaClient({}), (id) => c.settings.functionName(id)),
);
const hostPowerClient = perContainer(
  (c) => new LambdaHostPower(new LambdaClient({}), (id) => c.settings.functionName(id)),
);

export function apiDepsFromEnv(env: NodeJS.ProcessEnv, telemetry: InvocationTelemetry): ApiDeps {
  const c = containerFromEnv(env);
  const { settings } = c;
  return {
    stores: c.stores,
    executions: c.executions,
    machines: {
      rebuild: settings.machineArns.rebuild ?? null,
      hostEvacuation: settings.machineArns["host-evacuation"] ?? null,
      migrate: settings.machineArns.migrate ?? null,
      hostDrain: settings.machineArns["host-drain"] ?? null,
      boot: settings.machineArns.boot ?? null,
      delete: settings.machineArns.delete ?? null,
    },
    inventory: inventoryClient(env),
    hostPower: hostPowerClient(env),
    now: c.now,
    sleep: c.sleep,
    serviceDownSeconds: settings.serviceDownSeconds,
    acceptWaitMs: 20_000,
    executor: hostExecutor(
      c,
      telemetry,
      Math.min(settings.hostCommandDeadlineMs, API_HOST_COMMAND_DEADLINE_MS),
    ),
    notifier: c.notifier,
    shutdownTimeoutSeconds: Math.min(API_SHUTDOWN_TIMEOUT_SECONDS, settings.shutdownTimeoutSeconds),
    evacuationPolicy: settings.hostFailure.policy,
    logger: telemetry.logger,
  };
}
