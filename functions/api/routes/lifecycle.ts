/**
 * nova's server actions that only change the record or read from the host: `lock`/`unlock` (a locked
 * instance refuses rebuild, stop, start, reboot, delete to the caller, not evacuation), `os-resetState`
 * (an operator's word on vm_state: active or error, the task cleared), and `os-getConsoleOutput` (the
 * serial console's log, which every Lazarus domain writes to `<instance folder>/console.log`, read through
 * SSM on its host: the last `length` lines).
 *
 * `os-resetState` differs from nova in one way: it refuses (409) while a flow's task is held. nova clears
 * any task; here a flow whose task vanished could not end itself (its writes are conditional on owning the
 * task), so its claims would leak. An ERROR it sets carries a fault saying who set it (every ERROR has one).
 */
import { z } from "zod";
import { InstanceInvalidState } from "#shared/domain/errors.js";
import type { Instance } from "#shared/domain/schemas.js";
import { notifyFlow } from "#shared/flow/notify.js";
import { hostTarget } from "#shared/hosts/layout.js";
import { readConsoleLog } from "#shared/hosts/virsh.js";
import { ApiError, type ApiResponse, json, noContent, parseOr400 } from "../http.js";
import { atLeast } from "../microversion.js";
import type { RouteContext } from "../router.js";
import { echo } from "./params.js";

/** The instance the path names; 404 when it does not exist or is deleted. */
export async function requireInstance(ctx: RouteContext, id: string): Promise<Instance> {
  const instance = await ctx.deps.stores.instances.get(id);
  if (!instance || instance.vmState === "deleted")
    throw new ApiError(404, `Instance ${echo(id)} could not be found.`);
  return instance;
}

/** Records an action that is over as soon as it is asked (lock, unlock, resetState). */
async function recordAction(ctx: RouteContext, requestId: string, instance: Instance, action: string) {
  const at = ctx.deps.now().toISOString();
  await ctx.deps.stores.actions.open({
    id: requestId,
    instanceUuid: instance.uuid,
    action,
    startTime: at,
    message: null,
    events: [],
  });
}

export async function setLock(
  ctx: RouteContext,
  id: string,
  action: "lock" | "unlock",
  args: unknown,
): Promise<ApiResponse> {
  // 2.73: lock takes an optional locked_reason; before, and for unlock, null (or nothing).
  const schema =
    action === "lock" && atLeast(ctx.mv, "2.73")
      ? z.strictObject({ locked_reason: z.string().max(255).optional() }).nullable()
      : z.null();
  parseOr400(schema, args ?? null, action);
  return ctx.once(async (requestId) => {
    const instance = await requireInstance(ctx, id);
    const locked = action === "lock";
    if (instance.locked !== locked) {
      await ctx.deps.stores.instances.update(id, { set: { locked } });
    }
    await recordAction(ctx, requestId, instance, action);
    await notifyFlow(ctx.deps, { requestId, instanceUuid: id }, locked ? "instance.lock" : "instance.unlock");
    return noContent(202, { "x-openstack-request-id": `req-${requestId}` });
  });
}

export async function resetState(
  ctx: RouteContext,
  id: string,
  state: "active" | "error",
): Promise<ApiResponse> {
  return ctx.once(async (requestId) => {
    const instance = await requireInstance(ctx, id);
    if (instance.taskState !== null) {
      throw new InstanceInvalidState(
        `Cannot reset the state of instance ${id} while it is in task_state ${instance.taskState}: the flow that holds it must end first (it ends itself, or the sweeper ends it once its execution is gone; a stopped execution 15 minutes after its stop, when none of its invocations can still run).`,
      );
    }
    const at = ctx.deps.now().toISOString();
    const fault = {
      code: 500,
      error: "ResetState",
      message: "The operator set this instance to ERROR (os-resetState).",
      step: "resetState",
      details: { requestId },
      createdAt: at,
    };
    await ctx.deps.stores.instances.update(id, {
      expectTaskState: [null],
      set: state === "error" ? { vmState: "error", fault } : { vmState: "active", fault: null },
    });
    if (state === "error") await ctx.deps.stores.faults.record(id, fault);
    await recordAction(ctx, requestId, instance, "resetState");
    return noContent(202, { "x-openstack-request-id": `req-${requestId}` });
  });
}

export async function consoleOutput(
  ctx: RouteContext,
  id: string,
  body: { length?: number | null | undefined },
): Promise<ApiResponse> {
  const instance = await requireInstance(ctx, id);
  const host = await ctx.deps.stores.hosts.get(instance.host);
  if (!host) throw new ApiError(409, `Compute host ${instance.host} not found.`);
  const length = body.length ?? null;
  if (length !== null && length < -1)
    throw new ApiError(400, "Invalid input for field/attribute length: must be -1 or greater.");
  // The whole log (length absent, null or -1) or its last `length` lines, at most 20,000 bytes either way.
  const command = readConsoleLog(instance.uuid, host.storage.instancesPath, length === -1 ? null : length);
  const r = await ctx.deps.executor.run(hostTarget(host), command, { comment: `console log of ${id}` });
  return json(200, { output: r.stdout });
}
