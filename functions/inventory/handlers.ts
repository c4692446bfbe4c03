/**
 * The inventory Lambdas: host registration and adoption (API), fleet sync (scheduled). Each runs through
 * the Lambdas' one handler (zod-parsed, logged and measured with its correlation keys); clients come from
 * the container, as the flow steps' do.
 */
import type { Logger } from "@aws-lambda-powertools/logger";
import { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import { z } from "zod";
import { INVENTORY_FUNCTIONS } from "#shared/definitions/functions.js";
import { SsmHostDirectory } from "#shared/hosts/ssm-host-directory.js";
import { handlerWith } from "#shared/lambda/handler.js";
import type { InvocationTelemetry } from "#shared/lambda/observability.js";
import { depsFromEnv, perContainer } from "#shared/lambda/runtime.js";
import { isScheduledEvent, oneRunAtATime, type SkippedRun } from "#shared/lambda/schedule-lease.js";
import { CloudWatchHostAlarms } from "#shared/metrics/host-alarms.js";
import { type AdoptHostReport, AdoptHostRequest, adoptHost } from "./adopt.js";
import type { InventoryDeps } from "./deps.js";
import { type DeregisterHostReport, DeregisterHostRequest, deregisterHost } from "./deregister.js";
import { type RegisterHostReport, RegisterHostRequest, registerHost } from "./register.js";
import { type FleetSyncReport, SyncFleetRequest, syncFleet } from "./sync.js";

const directory = perContainer((c) => new SsmHostDirectory(c.ssm));
// The hosts' alarms (registration creates them, deregistration deletes them): one CloudWatch client per container.
const alarms = perContainer(
  (c) =>
    new CloudWatchHostAlarms(new CloudWatchClient({}), {
      prefix: c.settings.prefix,
      ...c.settings.heartbeatAlarm,
    }),
);
const settings = perContainer((c) => c.settings);

function inventoryDeps(
  env: NodeJS.ProcessEnv,
  telemetry: InvocationTelemetry,
): InventoryDeps & { logger: Logger } {
  const step = depsFromEnv(env, telemetry);
  return {
    stores: step.stores,
    executor: step.executor,
    directory: directory(env),
    alarms: alarms(env),
    deployment: { region: settings(env).region, prefix: settings(env).prefix },
    now: step.now,
    logger: telemetry.logger,
  };
}

/** An invocation without a payload is a request with every default. */
const orDefaults = <S extends z.ZodType>(schema: S) => z.preprocess((event) => event ?? {}, schema);

export const register = handlerWith(
  inventoryDeps,
  orDefaults(RegisterHostRequest),
  (deps, req): Promise<RegisterHostReport> => registerHost(deps, req),
  {
    name: "register",
    correlationKeys: (req) => ({ host: req.name, managedInstanceId: req.managedInstanceId }),
  },
);
export const deregister = handlerWith(
  inventoryDeps,
  DeregisterHostRequest,
  (deps, req): Promise<DeregisterHostReport> => deregisterHost(deps, req),
  { name: "deregister", correlationKeys: (req) => ({ host: req.host }) },
);
export const adopt = handlerWith(
  inventoryDeps,
  orDefaults(AdoptHostRequest),
  (deps, req): Promise<AdoptHostReport> => adoptHost(deps, req),
  { name: "adopt" },
);
const SYNC_FUNCTION = INVENTORY_FUNCTIONS.find((f) => f.role === "scheduled")!;

/** The timer's event (EventBridge's Scheduled Event) is a run with every default, one at a time. */
const SyncInvocation = z.preprocess(
  (event) =>
    isScheduledEvent(event) ? { scheduled: true, request: {} } : { scheduled: false, request: event ?? {} },
  z.object({ scheduled: z.boolean(), request: SyncFleetRequest }),
);

/** The timer's runs take the sync's lease (one at a time); an operator's direct invocation runs at once. */
export const sync = handlerWith(
  inventoryDeps,
  SyncInvocation,
  async (deps, { scheduled, request }): Promise<FleetSyncReport | SkippedRun> => {
    const run = async () => {
      const report = await syncFleet(deps, request);
      // The scheduled run's record of what it found (CloudWatch Logs in AWS).
      if (report.drift) deps.logger.warn({ message: "fleet drift", ...report });
      return report;
    };
    return scheduled ? oneRunAtATime(deps.stores.leases, SYNC_FUNCTION, run) : run();
  },
  { name: "sync", correlationKeys: ({ request }) => ({ hosts: request.hosts?.join(",") }) },
);
