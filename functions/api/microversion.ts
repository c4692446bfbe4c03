/**
 * nova's microversion negotiation. The client names a version with `OpenStack-API-Version: compute X.Y`
 * or the older `X-OpenStack-Nova-API-Version: X.Y` ("latest" = the newest); no header = the minimum.
 * A malformed value is 400, one outside [MIN, MAX] is 406. The answer echoes the version in both headers.
 */
import { ApiError } from "./http.js";

export interface Microversion {
  major: number;
  minor: number;
}

export const MIN_VERSION: Microversion = { major: 2, minor: 1 };
/** The newest behaviour implemented: 2.95 (an evacuated instance is left STOPPED). */
export const MAX_VERSION: Microversion = { major: 2, minor: 95 };

export const format = (v: Microversion) => `${v.major}.${v.minor}`;

export function compare(a: Microversion, b: Microversion): number {
  return a.major - b.major || a.minor - b.minor;
}

/** `v >= "2.14"`, the way route code asks. */
export function atLeast(v: Microversion, version: string): boolean {
  return compare(v, parse(version)!) >= 0;
}

function parse(text: string): Microversion | null {
  const m = /^(\d{1,3})\.(\d{1,4})$/.exec(text.trim());
  return m ? { major: Number(m[1]), minor: Number(m[2]) } : null;
}

/** The requested version from the headers (names in lower case). */
export function negotiate(headers: Record<string, string>): Microversion {
  let requested: string | undefined;
  const modern = headers["openstack-api-version"];
  if (modern !== undefined) {
    // A comma-separated list of "<service> <version>"; only ours counts.
    for (const part of modern.split(",")) {
      const [service, version, ...rest] = part.trim().split(/\s+/);
      if (service?.toLowerCase() === "compute" && version !== undefined && rest.length === 0)
        requested = version;
    }
  }
  requested ??= headers["x-openstack-nova-api-version"];
  if (requested === undefined || requested.trim() === "") return MIN_VERSION;
  if (requested.trim().toLowerCase() === "latest") return MAX_VERSION;
  const v = parse(requested);
  if (!v)
    throw new ApiError(
      400,
      `API Version String ${requested.slice(0, 40)} is of invalid format. Must be of format MajorNum.MinorNum.`,
    );
  if (compare(v, MIN_VERSION) < 0 || compare(v, MAX_VERSION) > 0) {
    throw new ApiError(
      406,
      `Version ${format(v)} is not supported by the API. Minimum is ${format(MIN_VERSION)} and maximum is ${format(MAX_VERSION)}.`,
      versionHeaders(MIN_VERSION),
    );
  }
  return v;
}

export function versionHeaders(v: Microversion): Record<string, string> {
  return {
    "openstack-api-version": `compute ${format(v)}`,
    "x-openstack-nova-api-version": format(v),
    vary: "OpenStack-API-Version, X-OpenStack-Nova-API-Version",
  };
}
