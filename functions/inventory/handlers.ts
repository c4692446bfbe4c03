/**
 * The inventory Lambdas: host registration and adoption (API), fleet sync (scheduled). Each parses its
 * event with zod and calls the core; clients come from the environment, as the flow steps' do.
 */
import { SSMClient } from "@aws-sdk/client-ssm";
import type { z } from "zod";
import { INVENTORY_FUNCTIONS } from "#shared/definitions/functions.js";
import { InvalidInput } from "#shared/domain/errors.js";
import { SsmHostDirectory } from "#shared/hosts/ssm-host-directory.js";
import { depsFromEnv } from "#shared/lambda/runtime.js";
import { isScheduledEvent, oneRunAtATime, type SkippedRun } from "#shared/lambda/schedule-lease.js";
import { type AdoptHostReport, AdoptHostRequest, adoptHost } from "./adopt.js";
import type { InventoryDeps } from "./deps.js";
import { type RegisterHostReport, RegisterHostRequest, registerHost } from "./register.js";
import { type FleetSyncReport, SyncFleetRequest, syncFleet } from "./sync.js";

let directory: { client: SSMClient; directory: SsmHostDirectory } | undefined;

function inventoryDeps(): InventoryDeps {
  const step = depsFromEnv();
  // One SSM client per container, like depsFromEnv's (the local cloud resets those on endpoint changes).
  directory ??= (() => {
    const client = new SSMClient({});
    return { client, directory: new SsmHostDirectory(client) };
  })();
  return { stores: step.stores, executor: step.executor, directory: directory.directory, now: step.now };
}

function handler<S extends z.ZodType, O>(
  schema: S,
  run: (deps: InventoryDeps, input: z.output<S>, event: unknown) => Promise<O>,
) {
  return async (event: unknown): Promise<O> => {
    const parsed = schema.safeParse(event ?? {});
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
      throw new InvalidInput(`invalid request: ${issues.join("; ")}`, { issues });
    }
    return run(inventoryDeps(), parsed.data, event);
  };
}

const SYNC_FUNCTION = INVENTORY_FUNCTIONS.find((f) => f.role === "scheduled")!;

export const register = handler(
  RegisterHostRequest,
  (deps, req): Promise<RegisterHostReport> => registerHost(deps, req),
);
export const adopt = handler(AdoptHostRequest, (deps, req): Promise<AdoptHostReport> => adoptHost(deps, req));
/** The timer's runs take the sync's lease (one at a time); an operator's direct invocation runs at once. */
export const sync = handler(
  SyncFleetRequest,
  async (deps, req, event): Promise<FleetSyncReport | SkippedRun> => {
    const run = async () => {
      const report = await syncFleet(deps, req);
      // The scheduled run's record of what it found (CloudWatch Logs in AWS).
      if (report.drift) console.log(JSON.stringify({ message: "fleet drift", ...report }));
      return report;
    };
    if (!isScheduledEvent(event)) return run();
    return oneRunAtATime(deps.stores.leases, SYNC_FUNCTION, run);
  },
);
