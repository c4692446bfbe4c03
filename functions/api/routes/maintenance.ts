/**
 * Planned maintenance of a host (issue 32), Lazarus's routes:
 *  - `POST /os-hosts/{host}/drain` `{reason?}`: the host-drain machine (the host disabled and marked
 *    draining, its instances moved away, the host in maintenance once empty); refused (409) while the host
 *    is failing or another drain runs, checked here first so a refusal starts nothing. 202 with the
 *    execution.
 *  - `POST /os-hosts/{host}/undrain` `{return?}`: the host enabled again, its maintenance cleared; with
 *    `return: true` the instances the drain moved are brought back (the host-drain machine in return mode,
 *    the scheduler still deciding: capacity and server groups). 200 (202 with a return's execution).
 * Whether a host can be drained now is `GET /os-evacuation-capacity?drain=HOST` (routes/hosts.ts).
 */
import { z } from "zod";
import { stateMachineSpec } from "#shared/definitions/state-machines.js";
import { HostMaintenanceConflict } from "#shared/domain/errors.js";
import { drainDecision } from "#shared/domain/maintenance.js";
import type { HostDrainRequest } from "#shared/flow/drain-contract.js";
import { waitForFlow } from "../flow-wait.js";
import { ApiError, type ApiResponse, json, parseOr400 } from "../http.js";
import type { Route, RouteContext } from "../router.js";
import { hostView } from "../views.js";
import { hostName } from "./params.js";

const DrainBody = z.strictObject({ reason: z.string().min(1).max(255).optional() });
const UndrainBody = z.strictObject({ return: z.boolean().optional() });

function drainMachine(ctx: RouteContext): string {
  const machine = ctx.deps.machines.hostDrain;
  if (!machine) {
    throw new ApiError(
      501,
      `Host drain is not available here: the host-drain state machine is not deployed (${stateMachineSpec("host-drain").arnEnv} is not set).`,
    );
  }
  return machine;
}

function optionalBody(ctx: RouteContext): unknown {
  return ctx.req.body?.trim() ? ctx.body() : {};
}

async function drainHost(ctx: RouteContext): Promise<ApiResponse> {
  const name = hostName(ctx);
  const body = parseOr400(DrainBody, optionalBody(ctx), "drain");
  return ctx.once(async (requestId) => {
    const { deps } = ctx;
    const host = await deps.stores.hosts.require(name);
    const decision = drainDecision(host, requestId);
    if (decision.kind === "refuse") throw new HostMaintenanceConflict(decision.reason, { host: name });
    const machine = drainMachine(ctx);
    const input: HostDrainRequest = {
      host: name,
      mode: "drain",
      ...(body.reason ? { reason: body.reason } : {}),
    };
    const { executionArn } = await deps.executions.start(machine, requestId, input);
    // Until StartDrain took the host (or refused it: a drain that raced this one won).
    await waitForFlow(
      ctx,
      executionArn,
      async () => (await deps.stores.hosts.get(name))?.maintenance?.executionName === requestId,
    );
    return json(
      202,
      { execution: { id: requestId, arn: executionArn, host: name } },
      { "x-lazarus-execution-id": requestId, "x-lazarus-execution-arn": executionArn },
    );
  });
}

async function undrainHost(ctx: RouteContext): Promise<ApiResponse> {
  const name = hostName(ctx);
  const body = parseOr400(UndrainBody, optionalBody(ctx), "undrain");
  return ctx.once(async (requestId) => {
    const { deps } = ctx;
    if (body.return) drainMachine(ctx); // 501 before anything changes
    const { before, after } = await deps.stores.hostMaintenance.undrain(name);
    const moved = before.maintenance?.moved ?? [];
    const view = { host: hostView(after, ctx.view) };
    if (!body.return || moved.length === 0) return json(200, view);
    const input: HostDrainRequest = { host: name, mode: "return", instances: moved };
    const { executionArn } = await deps.executions.start(drainMachine(ctx), requestId, input);
    return json(
      202,
      { ...view, execution: { id: requestId, arn: executionArn, host: name } },
      { "x-lazarus-execution-id": requestId, "x-lazarus-execution-arn": executionArn },
    );
  });
}

export const maintenanceRoutes: Route[] = [
  { method: "POST", pattern: "/os-hosts/{host}/drain", handler: drainHost },
  { method: "POST", pattern: "/os-hosts/{host}/undrain", handler: undrainHost },
];
