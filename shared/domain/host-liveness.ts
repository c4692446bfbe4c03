import type { Host } from "./schemas.js";

/** nova's `service_down_time`: a compute service whose last heartbeat is older than this is down. */
export const DEFAULT_SERVICE_DOWN_SECONDS = 60;

/**
 * Is the host's compute service up: not forced down, reported up, and its heartbeat fresh where one is
 * recorded. In AWS the heartbeat lives in CloudWatch and its alarm sets `status` (the host-failure
 * trigger), so hosts carry no `lastHeartbeatAt` (null) and `status` decides; the local cloud also copies
 * each heartbeat's time onto the record, and a stale one counts as down.
 */
export function isHostUp(host: Host, now: Date, serviceDownSeconds = DEFAULT_SERVICE_DOWN_SECONDS): boolean {
  if (host.forcedDown || host.status === "down") return false;
  if (host.lastHeartbeatAt === null) return true;
  const ageMs = now.getTime() - Date.parse(host.lastHeartbeatAt);
  return ageMs <= serviceDownSeconds * 1000;
}

/** Evacuation may start only when the source is down or forced down (nova's `compute.api.API.evacuate`). */
export function isHostDownForEvacuation(host: Host, now: Date, serviceDownSeconds?: number): boolean {
  return !isHostUp(host, now, serviceDownSeconds);
}
