/**
 * nova's migration server actions (issue 32), answered as nova answers them: `os-migrateLive` (202) and
 * `migrate` (202) start the migrate machine, `revertResize` (202) starts its revert, `confirmResize` (204)
 * confirms within the request (records only: the source's reserved claim released, the instance ACTIVE or
 * STOPPED, the migration confirmed). As for rebuild and evacuate, the API runs the flow's own admission
 * checks first (shared/flow/migration-admission.ts), so a refusal is synchronous and starts nothing, then
 * waits until the flow's Accept has taken the instance; the migration and execution ids go back as headers.
 */
import { z } from "zod";
import { MigrationPreCheckFailed } from "#shared/domain/errors.js";
import { ResourceName } from "#shared/domain/values.js";
import {
  assertMigratable,
  assertResizeFollowUp,
  finishedMigrationOf,
  readMigrationFacts,
} from "#shared/flow/migration-admission.js";
import { confirmResize } from "#shared/flow/migration-commit.js";
import type { MigrateRequest } from "#shared/flow/migration-contract.js";
import { waitForFlow } from "../flow-wait.js";
import { ApiError, type ApiResponse, badRequest, noContent, parseOr400 } from "../http.js";
import { atLeast } from "../microversion.js";
import type { RouteContext } from "../router.js";

interface MigrationAction {
  name: "os-migrateLive" | "migrate" | "confirmResize" | "revertResize";
}
export const MIGRATION_ACTIONS = {
  "os-migrateLive": { name: "os-migrateLive" },
  migrate: { name: "migrate" },
  confirmResize: { name: "confirmResize" },
  revertResize: { name: "revertResize" },
} as const satisfies Record<string, MigrationAction>;

/** nova's os-migrateLive body by microversion: disk_over_commit before 2.25, "auto" from 2.25, force 2.30-2.67. */
function liveBody(ctx: RouteContext) {
  const shape: Record<string, z.ZodType> = {
    host: ResourceName.nullable().optional(),
    block_migration: atLeast(ctx.mv, "2.25")
      ? z.union([z.boolean(), z.literal("auto")]).optional()
      : z.boolean().optional(),
  };
  if (!atLeast(ctx.mv, "2.25")) shape.disk_over_commit = z.boolean().optional();
  if (atLeast(ctx.mv, "2.30") && !atLeast(ctx.mv, "2.68")) shape.force = z.boolean().optional();
  return z.strictObject(shape);
}

/** nova's migrate body: null, or a host from 2.56. */
function coldBody(ctx: RouteContext) {
  return atLeast(ctx.mv, "2.56")
    ? z.strictObject({ host: ResourceName.nullable().optional() }).nullable()
    : z.null();
}

export function runMigrationAction(
  ctx: RouteContext,
  instanceUuid: string,
  action: MigrationAction,
  args: unknown,
): Promise<ApiResponse> {
  switch (action.name) {
    case "os-migrateLive": {
      const b = parseOr400(liveBody(ctx), args ?? {}, "os-migrateLive") as {
        host?: string | null;
        block_migration?: boolean | "auto";
      };
      if (b.block_migration === true) {
        throw new MigrationPreCheckFailed(
          "Migration pre-check error: block migration is not supported: Lazarus live-migrates only instances whose disk is on a pool shared with the target.",
        );
      }
      return startMigration(ctx, instanceUuid, { live: true, targetHost: b.host ?? null });
    }
    case "migrate": {
      const b = parseOr400(coldBody(ctx), args ?? null, "migrate") as { host?: string | null } | null;
      return startMigration(ctx, instanceUuid, { live: false, targetHost: b?.host ?? null });
    }
    case "confirmResize":
      if (args !== null) throw badRequest("confirmResize takes null");
      return confirm(ctx, instanceUuid);
    case "revertResize":
      if (args !== null) throw badRequest("revertResize takes null");
      return revert(ctx, instanceUuid);
  }
}

function machineOrUnavailable(ctx: RouteContext): string {
  const machine = ctx.deps.machines.migrate;
  if (!machine) {
    throw new ApiError(501, "Migration is not available: LAZARUS_MIGRATE_STATE_MACHINE_ARN is not set.");
  }
  return machine;
}

function headers(requestId: string, migrationId: string, executionArn: string) {
  return {
    "x-lazarus-migration-id": migrationId,
    "x-lazarus-execution-id": requestId,
    "x-lazarus-execution-arn": executionArn,
    "x-openstack-request-id": `req-${requestId}`,
  };
}

function startMigration(
  ctx: RouteContext,
  instanceUuid: string,
  ask: Pick<MigrateRequest, "live" | "targetHost">,
): Promise<ApiResponse> {
  return ctx.once(async (requestId) => {
    const { deps } = ctx;
    const instance = await deps.stores.instances.get(instanceUuid);
    if (!instance) throw new ApiError(404, `Instance ${instanceUuid} could not be found.`);
    if (!(await deps.stores.migrations.get(requestId))) {
      const clock = { now: deps.now(), serviceDownSeconds: deps.serviceDownSeconds };
      assertMigratable(ask, await readMigrationFacts(deps.stores, ask, instance, clock));
    }
    const machine = machineOrUnavailable(ctx);
    const input: MigrateRequest = {
      requestId,
      instanceUuid,
      action: "migrate",
      ...ask,
      plannedHost: null,
      autoConfirm: false,
      migrationId: null,
    };
    const { executionArn } = await deps.executions.start(machine, requestId, input);
    await waitForFlow(ctx, executionArn, async () => (await deps.stores.migrations.get(requestId)) !== null);
    return noContent(202, headers(requestId, requestId, executionArn));
  });
}

function revert(ctx: RouteContext, instanceUuid: string): Promise<ApiResponse> {
  return ctx.once(async (requestId) => {
    const { deps } = ctx;
    const instance = await deps.stores.instances.get(instanceUuid);
    if (!instance) throw new ApiError(404, `Instance ${instanceUuid} could not be found.`);
    const migration = assertResizeFollowUp(
      "revertResize",
      instance,
      await finishedMigrationOf(deps.stores, instanceUuid),
    );
    const machine = machineOrUnavailable(ctx);
    const input: MigrateRequest = {
      requestId,
      instanceUuid,
      action: "revert",
      live: false,
      targetHost: null,
      plannedHost: null,
      autoConfirm: false,
      migrationId: migration.id,
    };
    const { executionArn } = await deps.executions.start(machine, requestId, input);
    await waitForFlow(ctx, executionArn, async () => {
      const now = await deps.stores.migrations.get(migration.id);
      return now?.followUps.some((u) => u.requestId === requestId) ?? false;
    });
    return noContent(202, headers(requestId, migration.id, executionArn));
  });
}

function confirm(ctx: RouteContext, instanceUuid: string): Promise<ApiResponse> {
  return ctx.once(async (requestId) => {
    const { deps } = ctx;
    const instance = await deps.stores.instances.get(instanceUuid);
    if (!instance) throw new ApiError(404, `Instance ${instanceUuid} could not be found.`);
    const migration = assertResizeFollowUp(
      "confirmResize",
      instance,
      await finishedMigrationOf(deps.stores, instanceUuid),
    );
    await confirmResize(deps, { instanceUuid, migrationId: migration.id, requestId });
    return noContent(204, {
      "x-lazarus-migration-id": migration.id,
      "x-openstack-request-id": `req-${requestId}`,
    });
  });
}
