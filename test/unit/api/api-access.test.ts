/**
 * The one definition of the API's two roles (shared/definitions/api-access.ts): every route the router
 * serves is listed, and only those; the read-only role gets GETs only; a request path finds the route the
 * router would run; the execute-api resources of each role cover exactly its routes.
 */
import { describe, expect, it } from "vitest";
import { ROUTES } from "#functions/api/routes/index.js";
import {
  API_ACCESS,
  accessDeniedMessage,
  accessOf,
  allows,
  executeApiResources,
  GATEWAY_REFUSAL_TEMPLATES,
  roleOfGroups,
  routeOf,
} from "#shared/definitions/api-access.js";

const key = (r: { method: string; pattern: string }) => `${r.method} ${r.pattern}`;

describe("API access per route", () => {
  it("lists every route the router serves, and nothing else (the version documents as /)", () => {
    const served = ROUTES.map(key).sort();
    const listed = API_ACCESS.filter((r) => r.pattern !== "/")
      .map(key)
      .sort();
    expect(listed).toEqual(served);
    expect(new Set(API_ACCESS.map(key)).size).toBe(API_ACCESS.length);
  });

  it("gives the read-only role only GETs, and every action to the operator only", () => {
    for (const r of API_ACCESS) {
      if (r.method !== "GET") expect(r.access, key(r)).toBe("operate");
      expect(allows("operate", r.access)).toBe(true);
    }
    expect(accessOf("POST", "/servers/{id}/action")).toBe("operate");
    expect(accessOf("GET", "/os-incidents/{id}")).toBe("read");
    // Not listed: never open to the read-only role by omission.
    expect(accessOf("GET", "/not-a-route")).toBe("operate");
    expect(allows("read", "operate")).toBe(false);
  });

  it("finds the route of a request path as the router does, with or without the version prefix", () => {
    expect(routeOf("GET", "/v2.1/servers/detail")?.pattern).toBe("/servers/detail");
    expect(routeOf("GET", "/servers/9b2d0c7e-3a2b-4f1e-9d5c-0a1b2c3d4e5f")?.pattern).toBe("/servers/{id}");
    expect(routeOf("post", "/v2/servers/x/action")?.access).toBe("operate");
    expect(routeOf("GET", "/v2.1")?.pattern).toBe("/");
    expect(routeOf("GET", "/")?.pattern).toBe("/");
    expect(routeOf("DELETE", "/v2.1/os-migrations")).toBeNull();
    expect(routeOf("GET", "/v2.1/servers/x/y/z")).toBeNull();
  });

  it("writes each role's execute-api resources from the list: read = the GETs, operate = every route", () => {
    const read = executeApiResources("read");
    const operate = executeApiResources("operate");
    expect(read.every((r) => r.startsWith("GET/"))).toBe(true);
    expect(read).toContain("GET/*servers/*/os-instance-actions/*");
    expect(read).toEqual(expect.arrayContaining(["GET/", "GET/v2", "GET/v2.1"]));
    expect(read).not.toContain("POST/*servers/*/action");
    expect(operate).toContain("POST/*servers/*/action");
    expect(operate).toContain("PUT/*os-services/*");
    for (const r of read) expect(operate).toContain(r);
    // One resource per route (the version documents: their three paths).
    expect(operate.length).toBe(API_ACCESS.length + 2);
    // Each resource, read as IAM reads it (`*` any characters), matches the route under every prefix.
    const iam = (resource: string) =>
      new RegExp(`^${resource.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replaceAll("*", ".*")}$`);
    for (const path of ["/servers/abc/action", "/v2/servers/abc/action", "/v2.1/servers/abc/action"])
      expect(
        operate.some((r) => iam(r).test(`POST${path}`)),
        path,
      ).toBe(true);
    expect(read.some((r) => iam(r).test("POST/v2.1/servers/abc/action"))).toBe(false);
  });

  it("names the refusal: the route and the role it needs, as nova's 403 fault locally and from API Gateway", () => {
    expect(accessDeniedMessage("POST", "/v2.1/os-hosts/host-1/evacuate")).toBe(
      "Policy doesn't allow POST /v2.1/os-hosts/host-1/evacuate to be performed: it needs the operator role.",
    );
    expect(JSON.parse(GATEWAY_REFUSAL_TEMPLATES.accessDenied)).toEqual({
      forbidden: { code: 403, message: accessDeniedMessage("$context.httpMethod", "$context.path") },
    });
    expect(roleOfGroups(["read-only", "operator"])).toBe("operate");
    expect(roleOfGroups(["read-only"])).toBe("read");
    expect(roleOfGroups(["admins"])).toBeNull();
  });
});
