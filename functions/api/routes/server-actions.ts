/**
 * POST /servers/{id}/action with `rebuild` or `evacuate`, answered as nova answers at the requested
 * microversion. The API runs the same admission checks as the flow's Accept (so a refused request is
 * refused here and starts nothing), starts the rebuild state machine, and waits until the flow has taken
 * the instance (its migration record exists) or was refused by Accept (a lost race): so the answer
 * says what nova's would, and the migration and execution ids go back as headers.
 */
import { z } from "zod";
import { findImage } from "#shared/domain/catalog.js";
import type { Instance } from "#shared/domain/schemas.js";
import { ImageRef, ResourceName } from "#shared/domain/values.js";
import { assertAdmissible, readAdmissionFacts } from "#shared/flow/admission.js";
import type { RebuildRequest } from "#shared/flow/contract.js";
import { waitForFlow } from "../flow-wait.js";
import { ApiError, type ApiResponse, badRequest, json, noContent, parseOr400 } from "../http.js";
import { atLeast, type Microversion } from "../microversion.js";
import type { Route, RouteContext } from "../router.js";
import { serverDetail } from "../views.js";
import { CLEAN_TARGET_ACTION, cleanUncleanTarget } from "./clean-target.js";
import { consoleOutput, resetState, setLock } from "./lifecycle.js";
import { MIGRATION_ACTIONS, runMigrationAction } from "./migration-actions.js";
import { ADMIN_PASS_NOT_SET, AdminPass, echo, NovaBoolean, SERVER_BODY_FIELDS, serverId } from "./params.js";
import { POWER_ACTIONS, runPowerAction } from "./power.js";

/** What a flow request asks, without its id and instance (those come from the request and the path). */
type Ask = Pick<
  RebuildRequest,
  "recreate" | "targetHost" | "force" | "onSharedStorage" | "imageRef" | "preserveEphemeral" | "targetState"
>;

/**
 * nova's rebuild body by microversion (`schemas/servers.py` base_rebuild and its versions). Fields that
 * would reach the guest through an agent or a config drive (personality, user_data, certificates) have no
 * path to the guest here and are refused by name rather than dropped; `adminPass` is taken and the action
 * records that it was not set (no Lazarus domain has a guest agent channel).
 */
function rebuildBody(ctx: RouteContext) {
  const { mv } = ctx;
  return z.strictObject({
    imageRef: ImageRef,
    preserve_ephemeral: NovaBoolean.optional(),
    name: ResourceName.optional(),
    ...SERVER_BODY_FIELDS,
    ...(atLeast(mv, "2.19") ? { description: z.string().max(255).nullable().optional() } : {}),
    // No keypairs exist (GET /os-keypairs is empty): only "no key" can be asked for.
    ...(atLeast(mv, "2.54") ? { key_name: z.null().optional() } : {}),
    ...(atLeast(mv, "2.90") ? { hostname: ResourceName.optional() } : {}),
  });
}

/** nova's evacuate body by microversion: `onSharedStorage` is Lazarus's at every version (the flow
 * checks it against what the target sees; nova's boolean strings such as "False" too), `force` exists
 * only in 2.29-2.67 as in nova, `adminPass` at every version. */
function evacuateBody(ctx: RouteContext) {
  const base = {
    host: ResourceName.nullable().optional(),
    onSharedStorage: NovaBoolean.optional(),
    adminPass: AdminPass.optional(),
  };
  const withForce = atLeast(ctx.mv, "2.29") && !atLeast(ctx.mv, "2.68");
  return withForce ? z.strictObject({ ...base, force: NovaBoolean.optional() }) : z.strictObject(base);
}

/** The image a rebuild asks for, from the catalog: an unknown one is nova's 400, before anything starts. */
function catalogImage(imageRef: string): string {
  const image = findImage(imageRef);
  if (!image) throw badRequest(`Image ${echo(imageRef)} could not be found.`);
  return image.id;
}

const RebootBody = z.strictObject({ type: z.enum(["SOFT", "HARD"]) });
const ResetStateBody = z.strictObject({ state: z.enum(["active", "error"]) });
/** nova takes `length` as an integer, a numeric string, or null/absent (the whole log). */
const ConsoleOutputBody = z.strictObject({
  length: z
    .union([
      z.number().int(),
      z
        .string()
        .regex(/^-?\d+$/)
        .transform(Number),
      z.null(),
    ])
    .optional(),
});

type EvacuateBody = {
  host?: string | null;
  onSharedStorage?: boolean;
  force?: boolean;
  adminPass?: string;
};

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
      const b = parseOr400(rebuildBody(ctx), args, "rebuild");
      return runFlow(
        ctx,
        id,
        {
          recreate: false,
          targetHost: null,
          force: false,
          onSharedStorage: null,
          imageRef: catalogImage(b.imageRef),
          preserveEphemeral: b.preserve_ephemeral ?? false,
          targetState: null,
        },
        {
          adminPass: b.adminPass !== undefined,
          set: {
            ...(b.name !== undefined ? { name: b.name } : {}),
            ...(b.metadata !== undefined ? { metadata: b.metadata } : {}),
          },
        },
      );
    }
    case "evacuate": {
      const b = parseOr400(evacuateBody(ctx), args ?? {}, "evacuate") as EvacuateBody;
      return runFlow(ctx, id, evacuateAsk(b, ctx.mv), { adminPass: b.adminPass !== undefined, set: {} });
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
    case "reboot": {
      const b = parseOr400(RebootBody, args, "reboot");
      return runPowerAction(ctx, id, POWER_ACTIONS[b.type === "HARD" ? "reboot-hard" : "reboot-soft"]);
    }
    case "lock":
    case "unlock":
      return setLock(ctx, id, action, args);
    case "os-resetState":
      return resetState(ctx, id, parseOr400(ResetStateBody, args, "os-resetState").state);
    case "os-getConsoleOutput":
      return consoleOutput(ctx, id, parseOr400(ConsoleOutputBody, args ?? {}, "os-getConsoleOutput"));
    case CLEAN_TARGET_ACTION:
      return cleanUncleanTarget(ctx, id, args);
    default:
      throw badRequest(`There is no such action: ${echo(action)}`);
  }
}

/** What a rebuild or evacuation asks beyond the flow: nova applies these at the API. */
interface Extras {
  /** An admin password was given: recorded as not set (the secret itself goes nowhere). */
  adminPass: boolean;
  /** Rebuild's `name` and `metadata`, written once the flow owns the instance. */
  set: Partial<Pick<Instance, "name" | "metadata">>;
}

function runFlow(ctx: RouteContext, instanceUuid: string, ask: Ask, extras: Extras): Promise<ApiResponse> {
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
    const accepted = await waitForFlow(ctx, executionArn, async () =>
      Boolean(await deps.stores.migrations.get(requestId)),
    );
    if (accepted) await applyExtras(ctx, instanceUuid, requestId, ask.recreate, extras);
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

/** Rebuild's name and metadata (nova saves them at the API), and the admin password's note in the action. */
async function applyExtras(
  ctx: RouteContext,
  instanceUuid: string,
  requestId: string,
  recreate: boolean,
  extras: Extras,
): Promise<void> {
  const { instances, actions } = ctx.deps.stores;
  if (Object.keys(extras.set).length > 0) {
    await instances.update(instanceUuid, { expectTaskRequestId: requestId, set: extras.set });
  }
  if (!extras.adminPass) return;
  const at = ctx.deps.now().toISOString();
  await actions.open({
    id: requestId,
    instanceUuid,
    action: recreate ? "evacuate" : "rebuild",
    startTime: at,
    message: null,
    events: [
      {
        event: "compute_set_admin_password",
        startTime: at,
        finishTime: at,
        result: "Error",
        traceback: ADMIN_PASS_NOT_SET,
        host: null,
      },
    ],
  });
}

export const serverActionRoutes: Route[] = [
  { method: "POST", pattern: "/servers/{id}/action", handler: serverAction },
];
