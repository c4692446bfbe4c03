import type { Host } from "./schemas.js";

/** nova's `service_down_time`: a compute service whose last heartbeat is older than this is down. */
export const DEFAULT_SERVICE_DOWN_SECONDS = 60;

/** Is the host's compute service up: reported up, not forced down, heartbeat fresh. */
export function isHostUp(host: Host, now: Date, serviceDownSeconds = DEFAULT_SERVICE_DOWN_SECONDS): boolean {
  if (host.forcedDown || host.status === "down" || host.lastHeartbeatAt === null) return false;
  const ageMs = now.getTime() - Date.parse(host.lastHeartbeatAt);
  return ageMs <= serviceDownSeconds * 1000;
}

/** Evacuation may start only when the source is down or forced down (nova API step 2). */
export function isHostDownForEvacuation(host: Host, now: Date, serviceDownSeconds?: number): boolean {
  return !isHostUp(host, now, serviceDownSeconds);
}
