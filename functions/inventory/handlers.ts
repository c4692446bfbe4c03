/**
 * The inventory Lambdas: host registration and adoption (API), fleet sync (scheduled). Each parses its
 * event with zod and calls the core; clients come from the environment, as the flow steps' do.
 */
import { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import { SSMClient } from "@aws-sdk/client-ssm";
import type { z } from "zod";
import { InvalidInput } from "#shared/domain/errors.js";
import { SsmHostDirectory } from "#shared/hosts/ssm-host-directory.js";
import { depsFromEnv } from "#shared/lambda/runtime.js";
import { CloudWatchHostAlarms, hostAlarmSettingsFromEnv } from "#shared/metrics/host-alarms.js";
import { type AdoptHostReport, AdoptHostRequest, adoptHost } from "./adopt.js";
import type { InventoryDeps } from "./deps.js";
import { type DeregisterHostReport, DeregisterHostRequest, deregisterHost } from "./deregister.js";
import { type RegisterHostReport, RegisterHostRequest, registerHost } from "./register.js";
import { type FleetSyncReport, SyncFleetRequest, syncFleet } from "./sync.js";

let clients: { directory: SsmHostDirectory; alarms: CloudWatchHostAlarms } | undefined;

function inventoryDeps(): InventoryDeps {
  const step = depsFromEnv();
  // One SSM and one CloudWatch client per container, like depsFromEnv's.
  clients ??= {
    directory: new SsmHostDirectory(new SSMClient({})),
    alarms: new CloudWatchHostAlarms(new CloudWatchClient({}), hostAlarmSettingsFromEnv(process.env)),
  };
  return {
    stores: step.stores,
    executor: step.executor,
    directory: clients.directory,
    alarms: clients.alarms,
    deployment: {
      region: process.env.AWS_REGION ?? "us-east-1",
      prefix: process.env.LAZARUS_TABLE_PREFIX || "lazarus",
    },
    now: step.now,
  };
}

function handler<S extends z.ZodType, O>(
  schema: S,
  run: (deps: InventoryDeps, input: z.output<S>) => Promise<O>,
) {
  return async (event: unknown): Promise<O> => {
    const parsed = schema.safeParse(event ?? {});
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
      throw new InvalidInput(`invalid request: ${issues.join("; ")}`, { issues });
    }
    return run(inventoryDeps(), parsed.data);
  };
}

export const register = handler(
  RegisterHostRequest,
  (deps, req): Promise<RegisterHostReport> => registerHost(deps, req),
);
export const deregister = handler(
  DeregisterHostRequest,
  (deps, req): Promise<DeregisterHostReport> => deregisterHost(deps, req),
);
export const adopt = handler(AdoptHostRequest, (deps, req): Promise<AdoptHostReport> => adoptHost(deps, req));
export const sync = handler(SyncFleetRequest, async (deps, req): Promise<FleetSyncReport> => {
  const report = await syncFleet(deps, req);
  // The scheduled run's record of what it found (CloudWatch Logs in AWS).
  if (report.drift) console.log(JSON.stringify({ message: "fleet drift", ...report }));
  return report;
});
