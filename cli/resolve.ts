/**
 * How the CLI names things and says what happened: servers by id or exact name, hosts by name or service
 * id (an ambiguous name is an error listing the matches), and the exit code of a flow from how it ended.
 */
import type { LazarusClient } from "./client.js";
import type { ExecutionDoc } from "./render.js";

export type Server = Record<string, unknown> & { id: string; name: string; status: string };

async function getServer(c: LazarusClient, id: string): Promise<Server> {
  return (await c.get<{ server: Server }>(`/servers/${encodeURIComponent(id)}`)).server;
}

/** What the exit code says (also in GLOBAL_HELP): a script can tell these outcomes apart. */
export const EXIT = {
  ok: 0,
  /** The operation failed, or the API refused it or could not be reached. */
  failed: 1,
  usage: 2,
  /** `drift`: differences found. */
  drift: 3,
  /** `host-evacuate`: the host is alive (its heartbeat or a probe answered): nothing was evacuated. */
  notDead: 4,
  /** `host-evacuate`: held by the mass-failure guard for an operator: nothing was evacuated. */
  held: 5,
  /** `host-evacuate`: an evacuation of this host is already under way (this one did nothing). */
  duplicate: 6,
  /** `evacuate`: "fencing required": the old copy may still run; nothing was started elsewhere. */
  fencingRequired: 7,
} as const;

/** A name (or id) that names no record, or more than one: the message lists what it could mean. */
export class NotFoundError extends Error {}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A server by id or by exact name (as openstackclient finds one); several with the name is an error. */
export async function resolveServer(c: LazarusClient, ref: string): Promise<Server> {
  if (UUID.test(ref)) return getServer(c, ref);
  const { servers } = await c.get<{ servers: Server[] }>(`/servers/detail?name=${encodeURIComponent(ref)}`);
  const matches = servers.filter((s) => s.name === ref);
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0) throw new NotFoundError(`no server with the name or id ${JSON.stringify(ref)}`);
  const list = matches
    .map((s) => `  ${s.id}  ${s.status}  ${String(s["OS-EXT-SRV-ATTR:host"] ?? "-")}`)
    .join("\n");
  throw new NotFoundError(
    `${matches.length} servers are named ${JSON.stringify(ref)}; give one of their ids:\n${list}`,
  );
}

/** A compute host by name, or by its service id (a UUID from 2.53, as `openstack compute service list` shows). */
export async function resolveHost(c: LazarusClient, ref: string): Promise<string> {
  const { services } = await c.get<{ services: { id: string | number; host: string }[] }>("/os-services");
  const matches = services.filter((s) => s.host === ref || String(s.id) === ref);
  if (matches.length === 0)
    throw new NotFoundError(`no compute host with the name or id ${JSON.stringify(ref)}`);
  return matches[0]!.host;
}

/**
 * A flow's exit code from how it ended: its error name (FencingRequired) or, for a flow that SUCCEEDED
 * without doing its job, the terminal state it ended in (host-evacuation's NotDead, HeldForOperator,
 * Duplicate are Succeed states: the flow worked, the host was not evacuated).
 */
export function exitCodeOf(execution: ExecutionDoc): number {
  if (execution.status !== "SUCCEEDED") {
    return execution.error === "FencingRequired" ? EXIT.fencingRequired : EXIT.failed;
  }
  const last = execution.steps.at(-1)?.name;
  if (last === "NotDead") return EXIT.notDead;
  if (last === "HeldForOperator") return EXIT.held;
  if (last === "Duplicate") return EXIT.duplicate;
  return EXIT.ok;
}

export const OUTCOME_NOTES: Record<number, string> = {
  [EXIT.notDead]: "the host is not dead (its heartbeat or a probe answered): nothing was evacuated",
  [EXIT.held]:
    "held for an operator: too much of the fleet looks dead at once (mass-failure guard); nothing was evacuated",
  [EXIT.duplicate]: "an evacuation of this host is already under way: this one did nothing",
  [EXIT.fencingRequired]:
    "fencing required: the instance's old copy may still run; power its host off, then evacuate again",
};
