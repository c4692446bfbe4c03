/** Path parameters, validated with zod before any record is read. */
import { ResourceName, Uuid } from "#shared/domain/values.js";
import { ApiError } from "../http.js";
import type { RouteContext } from "../router.js";

/** A value echoed in a message: bounded, and JSON-quoted so no control character reaches a terminal. */
export function echo(value: string): string {
  return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}...` : value);
}

/** A server id. Like nova, one that is not a UUID is simply not found (novaclient then searches by name). */
export function serverId(ctx: RouteContext, name = "id"): string {
  const raw = ctx.params[name]!;
  const r = Uuid.safeParse(raw);
  if (!r.success) throw new ApiError(404, `Instance ${echo(raw)} could not be found.`);
  return r.data;
}

export function hostName(ctx: RouteContext, name = "host"): string {
  const raw = ctx.params[name]!;
  const r = ResourceName.safeParse(raw);
  if (!r.success) throw new ApiError(400, `Invalid host name ${echo(raw)}: ${r.error.issues[0]?.message}.`);
  return r.data;
}
