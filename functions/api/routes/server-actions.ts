/**
 * POST /servers/{id}/action with `rebuild` or `evacuate`, answered as nova answers at the requested
 * microversion. The API runs the same admission checks as the flow's Accept (so a refused request is
 * refused here and starts nothing), starts the rebuild state machine, and waits until the flow has taken
 * the instance (its migration record exists) or was refused by Accept (a lost race): so the answer
 * says what nova's would, and the migration and execution ids go back as headers.
 */
import { z } from "zod";
import { ImageRef, ResourceName } from "#shared/domain/values.js";
import { assertAdmissible, readAdmissionFacts } from "#shared/flow/admission.js";
import type { RebuildRequest } from "#shared/flow/contract.js";
import { ApiError, type ApiResponse, badRequest, json, noContent, parseOr400 } from "../http.js";
import { atLeast, type Microversion } from "../microversion.js";
import type { Route, RouteContext } from "../router.js";
import { serverDetail } from "../views.js";
import { waitForAccept } from "./flow-start.js";
import { MIGRATION_ACTIONS, runMigrationAction } from "./migration-actions.js";
import { echo, serverId } from "./params.js";
import { POWER_ACTIONS, runPowerAction } from "./power.js";

/** What a flow request asks, without its id and instance (those come from the request and the path). */
type Ask = Pick<
  RebuildRequest,
  "recreate" | "targetHost" | "force" | "onSharedStorage" | "imageRef" | "preserveEphemeral" | "targetState"
>;

const RebuildBody = z.strictObject({
  imageRef: ImageRef,
  preserve_ephemeral: z.boolean().optional(),
});

/** nova's evacuate body by microversion: `onSharedStorage` is Lazarus's at every version (the flow
 * checks it against what the target sees), `force` exists only in 2.29-2.67 as in nova. */
function evacuateBody(ctx: RouteContext) {
  const base = {
    host: ResourceName.nullable().optional(),
    onSharedStorage: z.boolean().optional(),
  };
  const withForce = atLeast(ctx.mv, "2.29") && !atLeast(ctx.mv, "2.68");
  return withForce ? z.strictObject({ ...base, force: z.boolean().optional() }) : z.strictObject(base);
}

type EvacuateBody = { host?: string | null; onSharedStorage?: boolean; force?: boolean };

/** What nova's evacuate body asks of the flow at a microversion (the simulator's operator asks the same). */
export function evacuateAsk(b: EvacuateBody, mv: Microversion): Ask {
  return {
    recreate: true,
    targetHost: b.host ?? null,
    force: b.force ?? false,
    onSharedStorage: b.onSharedStorage ?? null,
    imageRef: null,
    preserveEphemeral: false,
    // 2.95: the instance is left STOPPED at the destination for the operator to check.
    targetState: atLeast(mv, "2.95") ? "stopped" : null,
  };
}

function actionOf(body: unknown): [string, unknown] {
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw badRequest("The action body must be a JSON object naming one action.");
  }
  const keys = Object.keys(body);
  if (keys.length !== 1) throw badRequest("The action body must name exactly one action.");
  const name = keys[0]!;
  return [name, (body as Record<string, unknown>)[name]];
}

async function serverAction(ctx: RouteContext): Promise<ApiResponse> {
  const id = serverId(ctx);
  const [action, args] = actionOf(ctx.body());
  switch (action) {
    case "rebuild": {
      const b = parseOr400(RebuildBody, args, "rebuild");
      return runFlow(ctx, id, {
        recreate: false,
        targetHost: null,
        force: false,
        onSharedStorage: null,
        imageRef: b.imageRef,
        preserveEphemeral: b.preserve_ephemeral ?? false,
        targetState: null,
      });
    }
    case "evacuate": {
      const b = parseOr400(evacuateBody(ctx), args ?? {}, "evacuate") as EvacuateBody;
      return runFlow(ctx, id, evacuateAsk(b, ctx.mv));
    }
    case "os-migrateLive":
    case "migrate":
    case "confirmResize":
    case "revertResize":
      return runMigrationAction(ctx, id, MIGRATION_ACTIONS[action], args);
    case "os-stop":
    case "os-start":
      if (args !== null) throw badRequest(`${action} takes null`);
      return runPowerAction(ctx, id, POWER_ACTIONS[action]);
    default:
      throw badRequest(`There is no such action: ${echo(action)}`);
  }
}

function runFlow(ctx: RouteContext, instanceUuid: string, ask: Ask): Promise<ApiResponse> {
  return ctx.once(async (requestId) => {
    const { deps } = ctx;
    const { instances, migrations } = deps.stores;
    const instance = await instances.get(instanceUuid);
    if (!instance) throw new ApiError(404, `Instance ${instanceUuid} could not be found.`);
    // A retry that took over from a holder that died after starting the flow finds its migration.
    if (!(await migrations.get(requestId))) {
      const clock = { now: deps.now(), serviceDownSeconds: deps.serviceDownSeconds };
      assertAdmissible(ask, await readAdmissionFacts(deps.stores, ask, instance, clock));
    }
    const machine = deps.machines.rebuild;
    if (!machine) {
      throw new ApiError(501, "Rebuild is not available: LAZARUS_REBUILD_STATE_MACHINE_ARN is not set.");
    }
    // The API never relocates from a live host (only the instance-recovery flow does, with its proof).
    const input: RebuildRequest = {
      requestId,
      instanceUuid,
      ...ask,
      relocateFromLiveHost: null,
      plannedHost: null,
    };
    const { executionArn } = await deps.executions.start(machine, requestId, input);
    await waitForAccept(ctx, executionArn, async () => (await migrations.get(requestId)) !== null);
    const headers = {
      "x-lazarus-migration-id": requestId,
      "x-lazarus-execution-id": requestId,
      "x-lazarus-execution-arn": executionArn,
      "x-openstack-request-id": `req-${requestId}`,
    };
    if (!ask.recreate) {
      const now = await instances.require(instanceUuid);
      const host = (await deps.stores.hosts.get(now.host)) ?? undefined;
      return json(202, { server: serverDetail(now, ctx.view, host) }, headers);
    }
    // nova's evacuate: 200 with the admin password before 2.14, 200 without a body from 2.14.
    return atLeast(ctx.mv, "2.14") ? noContent(200, headers) : json(200, { adminPass: null }, headers);
  });
}

export const serverActionRoutes: Route[] = [
  { method: "POST", pattern: "/servers/{id}/action", handler: serverAction },
];
