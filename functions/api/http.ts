/**
 * The API's own request/response model (what the router sees, independent of API Gateway), and nova's
 * error shapes: `{"<name>": {"code": <status>, "message": "..."}}` with nova's names per status.
 */
import type { z } from "zod";
import { isLazarusError, type LazarusError } from "#shared/domain/errors.js";

export interface ApiRequest {
  method: string;
  /** The path after the API's base (stage stripped), e.g. `/v2.1/servers/detail`. */
  path: string;
  /** Header names in lower case. */
  headers: Record<string, string>;
  query: Record<string, string>;
  /** The raw body, or null. */
  body: string | null;
  /** Scheme://host[/stage] the client used: the base of every link the API returns. */
  baseUrl: string;
  /** Who is calling (API Gateway's IAM caller); scopes idempotency keys. */
  principal: string | null;
}

export interface ApiResponse {
  status: number;
  headers: Record<string, string>;
  /** Serialized body ("" = none). */
  body: string;
}

/** nova's fault names (nova/api/openstack/wsgi.py `Fault._fault_names`); other codes are computeFault. */
const FAULT_NAMES: Record<number, string> = {
  400: "badRequest",
  401: "unauthorized",
  403: "forbidden",
  404: "itemNotFound",
  405: "badMethod",
  409: "conflictingRequest",
  413: "overLimit",
  415: "badMediaType",
  429: "overLimit",
  501: "notImplemented",
  503: "serviceUnavailable",
};

/** An error the API answers with as it is: status and message chosen where it is raised. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export const badRequest = (message: string) => new ApiError(400, message);
export const notFound = (message = "The resource could not be found.") => new ApiError(404, message);
export const conflict = (message: string) => new ApiError(409, message);
export const notImplemented = (message: string) => new ApiError(501, message);

export function json(status: number, payload: unknown, headers: Record<string, string> = {}): ApiResponse {
  return {
    status,
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(payload),
  };
}

export function noContent(status: number, headers: Record<string, string> = {}): ApiResponse {
  return { status, headers, body: "" };
}

export function faultResponse(status: number, message: string, headers: Record<string, string> = {}) {
  const name = FAULT_NAMES[status] ?? "computeFault";
  return json(status, { [name]: { code: status, message } }, headers);
}

/** Any thrown value as nova's fault. Only a bug (or an unreachable dependency) is a 5xx. */
export function errorToResponse(e: unknown): ApiResponse {
  if (e instanceof ApiError) return faultResponse(e.status, e.message, e.headers);
  if (isLazarusError(e)) return faultResponse(statusOf(e), e.message);
  return faultResponse(500, "Unexpected API Error. Please report this at the Lazarus issue tracker.");
}

function statusOf(e: LazarusError): number {
  return e.httpStatus;
}

/** zod issues as nova words them: "Invalid input for field/attribute X. ..." */
export function describeIssues(error: z.ZodError, root: string): string {
  return error.issues
    .map((i) => {
      const where = [root, ...i.path.map(String)].filter(Boolean).join(".");
      return `Invalid input for field/attribute ${where || "(body)"}: ${i.message}`;
    })
    .join("; ");
}

/** Parse with zod; a mismatch is a 400 naming the field. */
export function parseOr400<S extends z.ZodType>(schema: S, value: unknown, root: string): z.output<S> {
  const r = schema.safeParse(value);
  if (!r.success) throw badRequest(describeIssues(r.error, root));
  return r.data;
}
