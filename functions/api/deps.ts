/**
 * What the API's routes need from the outside world, and its one composition root (`apiDepsFromEnv`),
 * built once per Lambda container from the environment. Tests build ApiDeps over a local cloud.
 */

import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { LambdaClient } from "@aws-sdk/client-lambda";
import { SFNClient } from "@aws-sdk/client-sfn";
import { SSMClient } from "@aws-sdk/client-ssm";
import { stateMachineSpec } from "#shared/definitions/state-machines.js";
import { DEFAULT_SERVICE_DOWN_SECONDS } from "#shared/domain/host-liveness.js";
import type { HostExecutor } from "#shared/hosts/executor.js";
import { SsmHostExecutor } from "#shared/hosts/ssm-executor.js";
import { positiveFromEnv } from "#shared/lambda/env.js";
import { EventBridgeNotifier, type Notifier } from "#shared/notifications/notifier.js";
import { createDocumentClient } from "#shared/store/client.js";
import { createStores, type Stores } from "#shared/store/index.js";
import { tableNamesFromEnv } from "#shared/store/tables.js";
import { type Executions, SfnExecutions } from "./executions.js";
import { type InventoryOps, inventoryFunctionName, LambdaInventory } from "./inventory-client.js";

export type { InventoryOps };

export interface ApiDeps {
  stores: Stores;
  executions: Executions;
  /** State machine ARNs; null = not deployed here (the routes that need it answer 501). */
  machines: {
    rebuild: string | null;
    hostEvacuation: string | null;
    boot: string | null;
    delete: string | null;
  };
  inventory: InventoryOps | null;
  now: () => Date;
  serviceDownSeconds: number;
  /** How long an action waits for its flow to take the instance (Accept) before answering anyway. */
  acceptWaitMs: number;
  sleep: (ms: number) => Promise<void>;
  /** os-stop / os-start run `virsh` on the instance's host (SSM) and publish nova's power notifications. */
  executor: HostExecutor;
  notifier: Notifier;
  /** Seconds a clean shutdown may take before os-stop destroys the domain (nova's shutdown_timeout). */
  shutdownTimeoutSeconds: number;
}

/** Set by the host-failure issue's machine; read here by name so the API needs no change when it lands. */
export const HOST_EVACUATION_ARN_ENV = "LAZARUS_HOST_EVACUATION_STATE_MACHINE_ARN";

let cached: ApiDeps | undefined;

export function apiDepsFromEnv(env: NodeJS.ProcessEnv = process.env): ApiDeps {
  if (cached) return cached;
  const seconds = Number(env.LAZARUS_SERVICE_DOWN_SECONDS);
  cached = {
    stores: createStores({ doc: createDocumentClient(), tables: tableNamesFromEnv(env) }),
    executions: new SfnExecutions(new SFNClient({})),
    machines: {
      rebuild: env[stateMachineSpec("rebuild").arnEnv] || null,
      hostEvacuation: env[HOST_EVACUATION_ARN_ENV] || null,
      boot: env[stateMachineSpec("boot").arnEnv] || null,
      delete: env[stateMachineSpec("delete").arnEnv] || null,
    },
    inventory: new LambdaInventory(new LambdaClient({}), inventoryFunctionName(env)),
    now: () => new Date(),
    serviceDownSeconds: Number.isFinite(seconds) && seconds > 0 ? seconds : DEFAULT_SERVICE_DOWN_SECONDS,
    acceptWaitMs: 20_000,
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    executor: new SsmHostExecutor({ client: new SSMClient({}), defaultDeadlineMs: 25_000 }),
    notifier: new EventBridgeNotifier(new EventBridgeClient({}), env.LAZARUS_EVENT_BUS ?? "default"),
    // API Gateway answers within 29 s: the clean shutdown gets at most 15 of them.
    shutdownTimeoutSeconds: Math.min(15, positiveFromEnv(env.LAZARUS_SHUTDOWN_TIMEOUT_SECONDS, 15)),
  };
  return cached;
}

/** Forget the cached deps (the local cloud changes endpoints in the environment). */
export function resetApiDeps(): void {
  cached = undefined;
}
