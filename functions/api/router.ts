/**
 * The API's core: route a request to its handler, negotiate the microversion, parse the body, apply
 * idempotency to mutating actions, and turn every error into nova's fault shape. No AWS types here:
 * `handlers.ts` converts API Gateway events, `local/api` real HTTP requests.
 */
import { createHash } from "node:crypto";
import type { z } from "zod";
import { errorName } from "#shared/lambda/observability.js";
import type { ApiDeps } from "./deps.js";
import {
  ApiError,
  type ApiRequest,
  type ApiResponse,
  badRequest,
  errorToResponse,
  json,
  parseOr400,
} from "./http.js";
import { idempotent } from "./idempotency.js";
import { format, type Microversion, negotiate, versionHeaders } from "./microversion.js";
import { versionDocument, versionsDocument } from "./versions.js";
import type { ViewContext } from "./views.js";

/** nova's default `osapi_max_request_body_size`: anything larger is 413 before it is read as JSON. */
export const MAX_BODY_BYTES = 114_688;

export interface RouteContext {
  req: ApiRequest;
  deps: ApiDeps;
  mv: Microversion;
  params: Record<string, string>;
  view: ViewContext;
  /** The JSON body (400 when absent or malformed). */
  body(): unknown;
  /** A query parameter validated with zod (400 naming the parameter). */
  query<S extends z.ZodType>(name: string, schema: S): z.output<S> | undefined;
  /**
   * Run `perform` once per request: a retry (same Idempotency-Key, or the same request within the
   * window) gets the first answer. `perform` gets the request id to use for what it starts.
   */
  once(perform: (requestId: string) => Promise<ApiResponse>): Promise<ApiResponse>;
}

export type RouteHandler = (ctx: RouteContext) => Promise<ApiResponse>;

export interface Route {
  method: "GET" | "POST" | "PUT" | "DELETE";
  /** e.g. `/servers/{id}/action`; a `{name}` segment matches one path segment. */
  pattern: string;
  handler: RouteHandler;
}

interface CompiledRoute extends Route {
  regex: RegExp;
  names: string[];
}

function compile(route: Route): CompiledRoute {
  const names: string[] = [];
  const source = route.pattern
    .split("/")
    .map((seg) => {
      const m = /^\{(\w+)\}$/.exec(seg);
      if (!m) return seg.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      names.push(m[1]!);
      return "([^/]+)";
    })
    .join("/");
  return { ...route, regex: new RegExp(`^${source}$`), names };
}

/** Split `/v2.1/...` (or `/v2/...`) into the version prefix and the resource path. */
function splitVersion(path: string): { prefixed: boolean; rest: string } {
  const trimmed = path.length > 1 ? path.replace(/\/+$/, "") : path;
  const m = /^\/v2(?:\.1)?(\/.*)?$/.exec(trimmed);
  if (m) return { prefixed: true, rest: m[1] ?? "" };
  return { prefixed: false, rest: trimmed || "/" };
}

function decodeSegment(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw badRequest("Malformed percent-encoding in the path.");
  }
}

export function createRouter(routes: readonly Route[]) {
  const compiled = routes.map(compile);

  return async function handle(req: ApiRequest, deps: ApiDeps): Promise<ApiResponse> {
    let headers: Record<string, string> = {};
    try {
      const method = req.method.toUpperCase();
      const { prefixed, rest } = splitVersion(req.path);
      if (method === "GET" && (rest === "/" || rest === "")) {
        return json(200, prefixed ? versionDocument(req.baseUrl) : versionsDocument(req.baseUrl));
      }
      const mv = negotiate(req.headers);
      headers = versionHeaders(mv);
      if (req.body !== null && Buffer.byteLength(req.body) > MAX_BODY_BYTES) {
        throw new ApiError(413, `Request is too large: the limit is ${MAX_BODY_BYTES} bytes.`);
      }
      const matches = compiled
        .map((r) => ({ r, m: r.regex.exec(rest) }))
        .filter((x): x is { r: CompiledRoute; m: RegExpExecArray } => x.m !== null);
      if (matches.length === 0) throw new ApiError(404, "The resource could not be found.");
      const match = matches.find((x) => x.r.method === method);
      if (!match) {
        const allowed = [...new Set(matches.map((x) => x.r.method))].join(", ");
        throw new ApiError(405, `The method ${method.slice(0, 10)} is not allowed here.`, { allow: allowed });
      }
      const params = Object.fromEntries(match.r.names.map((n, i) => [n, decodeSegment(match.m[i + 1]!)]));
      const ctx = context(req, deps, mv, params);
      const res = await match.r.handler(ctx);
      return withEntityTag(req, { ...res, headers: { ...res.headers, ...headers } });
    } catch (e) {
      if (!(e instanceof ApiError) && !isExpected(e)) {
        // A 5xx the request did not cause: a bug or an outage (the invocation's keys say which request).
        deps.logger.error(
          { message: "unhandled API error", errorName: errorName(e) },
          e instanceof Error ? e : String(e),
        );
      }
      const res = errorToResponse(e);
      return { ...res, headers: { ...res.headers, ...headers } };
    }
  };
}

/**
 * A GET's 200 answer carries a (weak) entity tag of its body, to be asked again each time (`private,
 * no-cache`: never kept by a shared cache); the same tag in `If-None-Match` is answered 304 without the
 * body: a console polling every second transfers only what changed.
 */
function withEntityTag(req: ApiRequest, res: ApiResponse): ApiResponse {
  if (req.method.toUpperCase() !== "GET" || res.status !== 200) return res;
  const tag = `W/"${createHash("sha256").update(res.body).digest("base64url").slice(0, 27)}"`;
  const headers: Record<string, string> = { ...res.headers, etag: tag, "cache-control": "private, no-cache" };
  const asked = req.headers["if-none-match"];
  if (asked?.split(",").some((t) => t.trim() === tag)) {
    const { "content-type": _type, ...rest } = headers;
    return { status: 304, headers: rest, body: "" };
  }
  return { ...res, headers };
}

function isExpected(e: unknown): boolean {
  return e instanceof Error && "httpStatus" in e && Number((e as { httpStatus: number }).httpStatus) < 500;
}

function context(
  req: ApiRequest,
  deps: ApiDeps,
  mv: Microversion,
  params: Record<string, string>,
): RouteContext {
  let parsed: { value: unknown } | undefined;
  const body = () => {
    if (parsed) return parsed.value;
    if (req.body === null || req.body.trim() === "") throw badRequest("The request has no body.");
    const type = req.headers["content-type"];
    if (type !== undefined && !/^application\/(.+\+)?json\b/i.test(type.trim())) {
      throw new ApiError(415, "The request body must be application/json.");
    }
    try {
      parsed = { value: JSON.parse(req.body) as unknown };
    } catch {
      throw badRequest("Malformed request body: not JSON.");
    }
    return parsed.value;
  };
  return {
    req,
    deps,
    mv,
    params,
    view: { mv, baseUrl: req.baseUrl, now: deps.now(), serviceDownSeconds: deps.serviceDownSeconds },
    body,
    query: (name, schema) => {
      const raw = req.query[name];
      return raw === undefined ? undefined : parseOr400(schema, raw, name);
    },
    once: (perform) =>
      idempotent(
        deps.stores.idempotency,
        {
          method: req.method.toUpperCase(),
          path: splitVersion(req.path).rest,
          version: format(mv),
          body: req.body === null || req.body.trim() === "" ? null : body(),
          key: req.headers["idempotency-key"],
          principal: req.principal,
        },
        perform,
      ),
  };
}
