/**
 * API Gateway proxy events (REST API v1, and HTTP API v2 payloads) to the router's ApiRequest and back.
 * The local cloud's HTTP server builds the same v1 events from real requests (local/api).
 */
import type { CorrelationKeys } from "#shared/lambda/observability.js";
import type { ApiRequest, ApiResponse } from "./http.js";

export interface ProxyEvent {
  httpMethod?: string;
  path?: string;
  rawPath?: string;
  rawQueryString?: string;
  headers?: Record<string, string | undefined> | null;
  queryStringParameters?: Record<string, string | undefined> | null;
  body?: string | null;
  isBase64Encoded?: boolean;
  requestContext?: {
    /** API Gateway's id of the request. */
    requestId?: string;
    stage?: string;
    domainName?: string;
    path?: string;
    http?: { method?: string; path?: string };
    identity?: {
      userArn?: string | null;
      caller?: string | null;
      /** A Cognito identity pool's caller: `<provider>,<provider>:CognitoSignIn:<user sub>`. */
      cognitoAuthenticationProvider?: string | null;
    } | null;
  } | null;
}

export interface ProxyResult {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
  isBase64Encoded: false;
}

export function toApiRequest(event: ProxyEvent): ApiRequest {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(event.headers ?? {})) if (v !== undefined) headers[k.toLowerCase()] = v;
  const query: Record<string, string> = {};
  if (event.queryStringParameters) {
    for (const [k, v] of Object.entries(event.queryStringParameters)) if (v !== undefined) query[k] = v;
  } else if (event.rawQueryString) {
    for (const [k, v] of new URLSearchParams(event.rawQueryString)) query[k] = v;
  }
  const ctx = event.requestContext ?? {};
  const path = event.path ?? event.rawPath ?? ctx.http?.path ?? "/";
  const host = headers.host ?? ctx.domainName ?? "localhost";
  // On the execute-api domain the stage is part of every URL the client uses (`/prod/v2.1/...`).
  const stage = ctx.stage && ctx.path?.startsWith(`/${ctx.stage}/`) ? `/${ctx.stage}` : "";
  const proto = headers["x-forwarded-proto"] ?? "https";
  const body =
    event.body === undefined || event.body === null
      ? null
      : event.isBase64Encoded
        ? Buffer.from(event.body, "base64").toString("utf8")
        : event.body;
  return {
    method: event.httpMethod ?? ctx.http?.method ?? "GET",
    path,
    headers,
    query,
    body,
    baseUrl: `${proto}://${host}${stage}`,
    principal: principalOf(ctx.identity),
  };
}

/**
 * Who called, for the audit (the power log's `requestedBy`, idempotency keys): the IAM caller, and for a
 * console user (a Cognito identity pool's role session, whose ARN names only the role) the user pool user.
 */
function principalOf(identity: NonNullable<ProxyEvent["requestContext"]>["identity"]): string | null {
  const iam = identity?.userArn ?? identity?.caller ?? null;
  const user = /:CognitoSignIn:([\w-]+)$/.exec(identity?.cognitoAuthenticationProvider ?? "")?.[1];
  return iam && user ? `${iam} (cognito user ${user})` : iam;
}

/**
 * The correlation keys of one request: API Gateway's request id, the method and path, and the instance
 * (`/servers/{id}/...`) or host (`/os-hosts/{host}/...`) the path names.
 */
export function apiCorrelationKeys(event: ProxyEvent): CorrelationKeys {
  const ctx = event.requestContext ?? {};
  const path = event.path ?? event.rawPath ?? ctx.http?.path ?? "/";
  const segment = (pattern: RegExp) => {
    const m = pattern.exec(path);
    return m ? safeDecode(m[1]!) : undefined;
  };
  return {
    apiRequestId: ctx.requestId,
    method: event.httpMethod ?? ctx.http?.method,
    path: path.slice(0, 200),
    instanceUuid: segment(/\/servers\/([0-9a-fA-F-]{36})(?:\/|$)/),
    host: segment(/\/os-hosts\/([^/]+)/),
  };
}

function safeDecode(raw: string): string {
  try {
    return decodeURIComponent(raw).slice(0, 100);
  } catch {
    return raw.slice(0, 100);
  }
}

export function toProxyResult(res: ApiResponse): ProxyResult {
  return { statusCode: res.status, headers: res.headers, body: res.body, isBase64Encoded: false };
}
