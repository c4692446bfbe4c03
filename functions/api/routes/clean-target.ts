/**
 * `POST /servers/{id}/action {"lazarus:cleanTarget": {"host": H, "gone"?: true}}`: the operator's way to
 * end an instance's unclean target (`Instance.uncleanTargets`: a host a failed flow could not prove clean,
 * which keeps that flow's claim; the fault says TargetNotClean) without evacuating it again. nova has no
 * such action: its placement allocation would be deleted by hand (`openstack resource provider allocation
 * delete`), which trusts the operator blindly. Here:
 *  - by default Lazarus cleans the host itself, as Schedule does before another attempt: the domain
 *    destroyed and undefined through the host's agent (idempotent: a copy the operator already removed by
 *    hand is simply not there), and only then is the claim released and the target struck from the record;
 *  - a host that does not answer is refused (409) with what to do; `"gone": true` is the operator's word
 *    that the host will never run that copy again (reinstalled, its disks wiped, scrapped): the claim is
 *    released without asking it, and the instance's action records that statement, as an operator's
 *    force-down records proof `operator`.
 * The instance's state is not touched (its ERROR is reset with `os-resetState`, as in nova). Refused while a
 * flow holds the instance: the flow's own clean-up may be under way.
 */
import { z } from "zod";
import { errorMessage, InstanceInvalidState } from "#shared/domain/errors.js";
import { ResourceName } from "#shared/domain/values.js";
import { cleanTarget } from "#shared/flow/target-cleanup.js";
import { ApiError, type ApiResponse, json, parseOr400 } from "../http.js";
import type { RouteContext } from "../router.js";
import { requireInstance } from "./lifecycle.js";

export const CLEAN_TARGET_ACTION = "lazarus:cleanTarget";

const CleanTargetBody = z.strictObject({ host: ResourceName, gone: z.literal(true).optional() });

export async function cleanUncleanTarget(ctx: RouteContext, id: string, args: unknown): Promise<ApiResponse> {
  const body = parseOr400(CleanTargetBody, args, CLEAN_TARGET_ACTION);
  return ctx.once(async (requestId) => {
    const { stores } = ctx.deps;
    const instance = await requireInstance(ctx, id);
    if (instance.taskState !== null) {
      throw new InstanceInvalidState(
        `Cannot clean a target of instance ${id} while it is in task_state ${instance.taskState}: the flow that holds it cleans its own targets; ask again once it has ended.`,
      );
    }
    const target = instance.uncleanTargets.find((t) => t.host === body.host);
    if (!target) {
      const listed = instance.uncleanTargets.map((t) => t.host).join(", ") || "none";
      throw new ApiError(
        409,
        `Instance ${id} has no unclean target on host ${body.host} (its unclean targets: ${listed}).`,
      );
    }
    const host = await stores.hosts.get(body.host);
    let how: string;
    if (body.gone) {
      how = `the operator stated that host ${body.host} will never run this copy again (gone: true); the host was not asked`;
    } else if (!host) {
      throw new ApiError(
        409,
        `Host ${body.host} is no longer registered, so Lazarus cannot clean it: if it will never run instance ${id} again, say so with {"gone": true}.`,
      );
    } else {
      try {
        await cleanTarget(ctx.deps, host, instance, { removeInstanceDir: false });
      } catch (e) {
        throw new ApiError(
          409,
          `Host ${body.host} could not be cleaned (${errorMessage(e)}): nothing was released. Ask again once it answers (a copy destroyed and undefined there by hand is fine), or, if the host will never run instance ${id} again (reinstalled, its disks wiped), say so with {"gone": true}.`,
        );
      }
      how = `Lazarus destroyed and undefined the domain on ${body.host} (nothing of it is defined there now)`;
    }
    // The claim this target's flow kept there; a host deregistered since has none left.
    const released = host
      ? (await stores.hosts.release(host.name, id, { owner: target.requestId })).released !== null
      : false;
    const updated = await stores.instances.update(id, {
      expectTaskState: [null],
      set: { uncleanTargets: instance.uncleanTargets.filter((t) => t.host !== body.host) },
    });
    await stores.actions.open({
      id: requestId,
      instanceUuid: id,
      action: "cleanTarget",
      startTime: ctx.deps.now().toISOString(),
      message: `${how}; the claim kept by ${target.requestId} was ${released ? "released" : "already gone"}.`,
      events: [],
    });
    return json(
      200,
      {
        cleanTarget: {
          host: body.host,
          how: body.gone ? "operator-statement" : "cleaned",
          claimReleased: released,
          uncleanTargets: updated.uncleanTargets.map((t) => t.host),
        },
      },
      { "x-openstack-request-id": `req-${requestId}` },
    );
  });
}
