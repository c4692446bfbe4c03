/** Path parameters, validated with zod before any record is read. */
import { z } from "zod";
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

/** nova's `parameter_types.boolean`: JSON booleans and the strings oslo's strutils reads as one. */
const TRUE_WORDS = ["true", "1", "on", "yes"];
const FALSE_WORDS = ["false", "0", "off", "no"];
export const NovaBoolean = z.union([
  z.boolean(),
  z
    .string()
    .refine((s) => [...TRUE_WORDS, ...FALSE_WORDS].includes(s.toLowerCase()), "a boolean or its string")
    .transform((s) => TRUE_WORDS.includes(s.toLowerCase())),
]);

/** nova's server metadata: at most 128 string pairs, keys 1-255 characters, values up to 255. */
export const Metadata = z
  .record(z.string().min(1).max(255), z.string().max(255))
  .refine((m) => Object.keys(m).length <= 128, "at most 128 metadata items");

/** nova's admin password: a string; never stored, logged or passed to a flow (it goes nowhere here). */
export const AdminPass = z.string().max(255);

/** Why an admin password is never set: no guest agent to set it through (and no secret may travel). */
export const ADMIN_PASS_NOT_SET =
  "adminPass was not set: the domain has no guest agent channel (org.qemu.guest_agent.0) to set it through";

/** Fields nova's create and rebuild bodies share (schemas/servers.py), as Lazarus takes them. */
export const SERVER_BODY_FIELDS = {
  adminPass: AdminPass.optional(),
  metadata: Metadata.optional(),
  accessIPv4: z
    .union([z.ipv4(), z.literal("")])
    .nullable()
    .optional(),
  accessIPv6: z
    .union([z.ipv6(), z.literal("")])
    .nullable()
    .optional(),
  "OS-DCF:diskConfig": z.enum(["AUTO", "MANUAL"]).optional(),
};
