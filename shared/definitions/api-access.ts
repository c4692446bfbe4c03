/**
 * Which API routes only read and which act: the one definition of the API's two roles.
 *  - `read`: shows records, plans, histories; changes nothing. The read-only role may call these.
 *  - `operate`: changes state or hardware (evacuate, rebuild, power, force-down, enable, adopt, register,
 *    sync). Only the operator role may.
 * Read by the API's router (every route it serves must be listed here: a unit test holds the two equal),
 * by the local API gateway (local/api/api-gateway-auth.ts: it refuses a read-only or unsigned request to an
 * operator route, as API Gateway's IAM authorization does in AWS), and by the CDK stack, whose IAM policies
 * for the two roles are `executeApiResources(access)` of this list. The console shows an action only to a
 * role that may call its route.
 */

export type ApiAccess = "read" | "operate";
export type ApiMethod = "GET" | "POST" | "PUT" | "DELETE";

export interface RouteAccess {
  method: ApiMethod;
  /** The router's pattern: `{name}` matches one path segment. `/` is the version documents. */
  pattern: string;
  access: ApiAccess;
}

export const API_ACCESS: readonly RouteAccess[] = [
  { method: "GET", pattern: "/", access: "read" },
  // nova's servers and their actions
  { method: "GET", pattern: "/servers", access: "read" },
  { method: "GET", pattern: "/servers/detail", access: "read" },
  { method: "GET", pattern: "/servers/{id}", access: "read" },
  { method: "POST", pattern: "/servers", access: "operate" },
  { method: "DELETE", pattern: "/servers/{id}", access: "operate" },
  // every server action (rebuild, evacuate, stop, start, reboot, lock, the console log, ...) is a POST here
  { method: "POST", pattern: "/servers/{id}/action", access: "operate" },
  { method: "GET", pattern: "/os-migrations", access: "read" },
  { method: "GET", pattern: "/servers/{id}/migrations", access: "read" },
  { method: "GET", pattern: "/servers/{id}/migrations/{migrationId}", access: "read" },
  { method: "GET", pattern: "/servers/{id}/os-instance-actions", access: "read" },
  { method: "GET", pattern: "/servers/{id}/os-instance-actions/{requestId}", access: "read" },
  // what servers are made of, and the project's view (the catalog, openstackclient's reads)
  { method: "GET", pattern: "/flavors", access: "read" },
  { method: "GET", pattern: "/flavors/detail", access: "read" },
  { method: "GET", pattern: "/flavors/{id}", access: "read" },
  { method: "GET", pattern: "/flavors/{id}/os-extra_specs", access: "read" },
  { method: "GET", pattern: "/flavors/{id}/os-flavor-access", access: "read" },
  { method: "GET", pattern: "/images", access: "read" },
  { method: "GET", pattern: "/images/detail", access: "read" },
  { method: "GET", pattern: "/images/{id}", access: "read" },
  { method: "GET", pattern: "/limits", access: "read" },
  { method: "GET", pattern: "/os-simple-tenant-usage", access: "read" },
  { method: "GET", pattern: "/os-simple-tenant-usage/{tenant}", access: "read" },
  { method: "GET", pattern: "/os-keypairs", access: "read" },
  { method: "GET", pattern: "/os-keypairs/{name}", access: "read" },
  { method: "POST", pattern: "/os-keypairs", access: "operate" },
  { method: "GET", pattern: "/os-availability-zone", access: "read" },
  { method: "GET", pattern: "/os-availability-zone/detail", access: "read" },
  { method: "GET", pattern: "/os-aggregates", access: "read" },
  { method: "GET", pattern: "/os-aggregates/{id}", access: "read" },
  { method: "GET", pattern: "/os-server-groups", access: "read" },
  { method: "GET", pattern: "/os-server-groups/{id}", access: "read" },
  // compute services, hypervisors, hosts
  { method: "GET", pattern: "/os-services", access: "read" },
  { method: "PUT", pattern: "/os-services/{id}", access: "operate" },
  { method: "GET", pattern: "/os-hypervisors", access: "read" },
  { method: "GET", pattern: "/os-hypervisors/detail", access: "read" },
  { method: "GET", pattern: "/os-hypervisors/statistics", access: "read" },
  { method: "GET", pattern: "/os-hypervisors/{id}", access: "read" },
  { method: "GET", pattern: "/os-hypervisors/{id}/servers", access: "read" },
  { method: "GET", pattern: "/os-hypervisors/{id}/uptime", access: "read" },
  { method: "GET", pattern: "/os-hosts", access: "read" },
  { method: "POST", pattern: "/os-hosts", access: "operate" },
  { method: "GET", pattern: "/os-hosts/{host}", access: "read" },
  { method: "DELETE", pattern: "/os-hosts/{host}", access: "operate" },
  { method: "POST", pattern: "/os-hosts/{host}/evacuate", access: "operate" },
  { method: "GET", pattern: "/os-hosts/{host}/evacuation-plan", access: "read" },
  { method: "GET", pattern: "/os-evacuation-capacity", access: "read" },
  { method: "POST", pattern: "/os-hosts/{host}/adopt", access: "operate" },
  { method: "POST", pattern: "/os-hosts/{host}/sync", access: "operate" },
  // planned maintenance: empty a live host (live or cold migrations), and bring it back
  { method: "POST", pattern: "/os-hosts/{host}/drain", access: "operate" },
  { method: "POST", pattern: "/os-hosts/{host}/undrain", access: "operate" },
  // a host's power through its fence (a fence test runs the fence agent against the BMC: an action)
  { method: "GET", pattern: "/os-hosts/{host}/power", access: "read" },
  { method: "POST", pattern: "/os-hosts/{host}/power", access: "operate" },
  { method: "POST", pattern: "/os-hosts/{host}/fence-test", access: "operate" },
  // flows
  { method: "GET", pattern: "/executions/{id}", access: "read" },
  { method: "GET", pattern: "/os-incidents", access: "read" },
  { method: "GET", pattern: "/os-incidents/{id}", access: "read" },
];

const key = (method: string, pattern: string) => `${method.toUpperCase()} ${pattern}`;
const BY_ROUTE = new Map(API_ACCESS.map((r) => [key(r.method, r.pattern), r.access]));

/** A route's access; a route not listed is `operate` (never open to the read-only role by omission). */
export function accessOf(method: string, pattern: string): ApiAccess {
  return BY_ROUTE.get(key(method, pattern)) ?? "operate";
}

/** What a role may call: the operator every route, the read-only role the `read` ones. */
export function allows(role: ApiAccess, access: ApiAccess): boolean {
  return role === "operate" || access === "read";
}

/** The user-pool groups of the console's two roles (a user in neither is refused credentials). */
export const CONSOLE_GROUPS: Readonly<Record<ApiAccess, string>> = { operate: "operator", read: "read-only" };

/** The IAM role of each console role (the stack's, cdk/console.ts, and its local stand-in's). */
export function consoleRoleName(prefix: string, role: ApiAccess): string {
  return `${prefix}-console-${CONSOLE_GROUPS[role]}`;
}

/** The role a user's groups give: operator wins over read-only; none, null. */
export function roleOfGroups(groups: readonly string[]): ApiAccess | null {
  if (groups.includes(CONSOLE_GROUPS.operate)) return "operate";
  if (groups.includes(CONSOLE_GROUPS.read)) return "read";
  return null;
}

/** The path prefixes the router accepts before a route (nova's `/v2.1`, `/v2`, and none). */
export const API_VERSION_PREFIXES = ["", "/v2", "/v2.1"] as const;

/** A request path (after the stage) against a pattern: `{name}` is one segment; the version prefix is optional. */
function compile(pattern: string): RegExp {
  const body =
    pattern === "/"
      ? "/?"
      : pattern
          .split("/")
          .map((seg) => (/^\{\w+\}$/.test(seg) ? "[^/]+" : seg.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))
          .join("/");
  return new RegExp(`^(?:/v2(?:\\.1)?)?${body}/?$`);
}
const COMPILED = API_ACCESS.map((r) => ({ ...r, regex: compile(r.pattern) }));

/**
 * The listed route a request names (method and path after the stage), or null: what API Gateway's IAM
 * authorization matches a request against, as `executeApiResources` writes it. The most specific listed
 * pattern wins (a literal segment before a `{param}`), as in the router.
 */
export function routeOf(method: string, path: string): RouteAccess | null {
  const m = method.toUpperCase();
  const found = COMPILED.filter((r) => r.method === m && r.regex.test(path));
  if (found.length === 0) return null;
  const literals = (p: string) => p.split("/").filter((s) => s && !s.startsWith("{")).length;
  return found.sort((a, b) => literals(b.pattern) - literals(a.pattern))[0]!;
}

/**
 * The `execute-api:Invoke` resource suffixes (`<METHOD>/<path>`, after `<api-id>/<stage>/`) that a role
 * may call: each route once, `{param}` segments as `*`, and a leading `*` for the version prefix the router
 * accepts before it (none, `v2/`, `v2.1/`: IAM's `*` matches any characters, `/` and none included): the
 * action route `POST /servers/{id}/action` is one resource for all three prefixes. The version documents
 * (`/`) are listed as their three paths. The `*` is broader than a segment (a path the router does not serve
 * matches too, and gets its 404): harmless for `read`, and the `operate` role may call every route anyway.
 * One resource per route keeps the operator role's policy well within IAM's inline policy size.
 */
export function executeApiResources(role: ApiAccess): string[] {
  const out: string[] = [];
  for (const r of API_ACCESS) {
    if (!allows(role, r.access)) continue;
    if (r.pattern === "/") {
      out.push(...API_VERSION_PREFIXES.map((p) => `${r.method}${p || "/"}`));
      continue;
    }
    const path = r.pattern
      .split("/")
      .filter(Boolean)
      .map((seg) => (/^\{\w+\}$/.test(seg) ? "*" : seg))
      .join("/");
    out.push(`${r.method}/*${path}`);
  }
  return out;
}

/**
 * The refusal of a request to a route the caller's role may not call: nova's policy wording, as the API's own
 * 403 fault (`{"forbidden": {"code": 403, "message": ...}}`). `path` is the request's path as the gateway
 * sees it (in AWS with the stage first).
 */
export function accessDeniedMessage(method: string, path: string): string {
  return `Policy doesn't allow ${method} ${path} to be performed: it needs the operator role.`;
}

/** The refusal of a request that no known caller signed (API Gateway's IAM authorization). */
export const MISSING_AUTHENTICATION_MESSAGE =
  "Missing Authentication Token: sign the request with SigV4 (service execute-api) as an operator or read-only caller.";

/** nova's 403 fault around a message (what the router answers for its own 403s, http.ts). */
export function forbiddenBody(message: string): string {
  return JSON.stringify({ forbidden: { code: 403, message } });
}

/**
 * The two refusals as API Gateway response templates (ACCESS_DENIED, MISSING_AUTHENTICATION_TOKEN): the same
 * words, with the method and path from API Gateway's `$context`.
 */
export const GATEWAY_REFUSAL_TEMPLATES = {
  accessDenied: forbiddenBody(accessDeniedMessage("$context.httpMethod", "$context.path")),
  missingAuthentication: forbiddenBody(MISSING_AUTHENTICATION_MESSAGE),
} as const;
