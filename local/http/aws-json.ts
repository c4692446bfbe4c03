/**
 * The AWS JSON protocol (awsJson1_0 / awsJson1_1) as the real SDK clients speak it, for every local
 * endpoint that answers them (SSM, Step Functions, EventBridge, CloudWatch; DynamoDB's fault proxy
 * answers its errors through it too):
 *
 *   POST /   X-Amz-Target: <prefix>.<Operation>   Content-Type: application/x-amz-json-1.x
 *   200 with the operation's output as JSON (Dates as epoch seconds, as the protocol serializes
 *   timestamps), or an error: HTTP 4xx/5xx, body `{"__type": "<Code>", "message": "..."}`, header
 *   `x-amzn-ErrorType` (the SDK reads the error's name from either and strips any "ns#" prefix).
 *
 * Also the two pieces the other local servers (Lambda's restJson1, API Gateway's proxy) share with it:
 * reading a request body (size limit, gzip) and writing a JSON answer.
 */
import { randomUUID } from "node:crypto";
import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import { gunzipSync } from "node:zlib";

/** An error answered in the AWS JSON shape; `type` is the error code the SDK turns into an exception name. */
export class AwsJsonError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
    this.name = type;
  }
}

/** A request body over the reader's limit (AWS answers such requests before any operation runs). */
export class BodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`request body exceeds ${limit} bytes`);
    this.name = "BodyTooLargeError";
  }
}

/** 10 MiB: API Gateway's payload limit, and more than any request the SDK clients send here. */
export const DEFAULT_BODY_LIMIT = 10 * 1024 * 1024;

/** Reads a whole request (or upstream response) body, bytes as sent (a proxy forwards them unchanged). */
export async function readBody(req: IncomingMessage, limit = DEFAULT_BODY_LIMIT): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > limit) throw new BodyTooLargeError(limit);
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}

/** A request body as text; gzip-encoded bodies (PutMetricData over the SDK's threshold) are inflated. */
function bodyText(req: IncomingMessage, raw: Buffer): string {
  return (req.headers["content-encoding"] === "gzip" ? gunzipSync(raw) : raw).toString("utf8");
}

/** Writes one answer with its length; a no-op on a connection already gone (a killed long-poller). */
export function sendBody(
  res: ServerResponse,
  status: number,
  body: string | Buffer,
  headers: Record<string, string> = {},
): void {
  if (res.destroyed || res.writableEnded) return;
  res.writeHead(status, { ...headers, "content-length": String(Buffer.byteLength(body)) });
  res.end(body);
}

/** Writes `body` as JSON (`undefined`: an empty body), `application/json` unless `headers` say otherwise. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  sendBody(res, status, body === undefined ? "" : JSON.stringify(body), {
    "content-type": "application/json",
    ...headers,
  });
}

/** JSON with Dates as epoch seconds, as the AWS JSON protocols serialize timestamps. */
export function awsJson(value: unknown): string {
  return JSON.stringify(value, function (this: Record<string, unknown>, key, v) {
    const raw = this[key];
    return raw instanceof Date ? raw.getTime() / 1000 : v;
  });
}

export type AwsJsonVersion = "1.0" | "1.1";

const contentType = (version: AwsJsonVersion) => `application/x-amz-json-${version}`;

/** Writes an AWS JSON error answer (the one error shape of every local AWS JSON endpoint). */
export function sendAwsJsonError(
  res: ServerResponse,
  version: AwsJsonVersion,
  err: AwsJsonError,
  headers: Record<string, string> = {},
): void {
  sendBody(res, err.status, JSON.stringify({ __type: err.type, message: err.message }), {
    "content-type": contentType(version),
    "x-amzn-requestid": randomUUID(),
    "x-amzn-ErrorType": err.type,
    ...headers,
  });
}

/** Anything thrown by an operation, as the error the client gets (unexpected ones: 500 InternalFailure). */
export function asAwsJsonError(e: unknown): AwsJsonError {
  if (e instanceof AwsJsonError) return e;
  if (e instanceof BodyTooLargeError) return new AwsJsonError("ValidationException", e.message, 413);
  return new AwsJsonError("InternalFailure", e instanceof Error ? e.message : String(e), 500);
}

/** Who called: the principal of the credential that signed the request (when the service checks SigV4). */
export interface AwsJsonCaller {
  principal?: string;
}

export type AwsJsonOperation = (input: Record<string, unknown>, caller?: AwsJsonCaller) => unknown;

export interface AwsJsonService {
  version: AwsJsonVersion;
  /** The `X-Amz-Target` prefix before the operation's name, e.g. "AmazonSSM". */
  targetPrefix: string;
  operations: Readonly<Record<string, AwsJsonOperation>>;
  /**
   * Checks the caller (SigV4, local/http/sigv4.ts) before anything else: a throw is the answer. Returns
   * the caller's principal, handed to the operation. Without it every request is taken (no caller).
   */
  authenticate?(req: IncomingMessage, body: Buffer): Promise<string>;
  /** Called before each known operation runs (counters, settling delayed state). */
  beforeOperation?(operation: string): void;
  /**
   * awsQueryCompatible services (CloudWatch): errors also carry `x-amzn-query-error: <Code>;Sender`, from
   * which the SDK reads the query protocol's error code.
   */
  queryCompatible?: boolean;
  /**
   * Other paths on the same server that take a JSON body and answer it themselves (the SSM agent's
   * long poll). A thrown AwsJsonError is answered in the same error shape.
   */
  routes?: Readonly<
    Record<string, (body: Record<string, unknown>, res: ServerResponse) => void | Promise<void>>
  >;
}

function parseJsonObject(text: string): Record<string, unknown> {
  if (text === "") return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new AwsJsonError("SerializationException", "request body is not valid JSON");
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new AwsJsonError("SerializationException", "request body is not a JSON object");
  }
  return parsed as Record<string, unknown>;
}

/** The request listener of one AWS JSON service: dispatch on X-Amz-Target, JSON in, JSON or `__type` error out. */
export function awsJsonHandler(service: AwsJsonService): RequestListener {
  const prefix = `${service.targetPrefix}.`;
  const errorHeaders = (err: AwsJsonError): Record<string, string> =>
    service.queryCompatible ? { "x-amzn-query-error": `${err.type};Sender` } : {};
  return (req, res) => {
    void (async () => {
      try {
        const raw = await readBody(req);
        const principal = service.authenticate ? await service.authenticate(req, raw) : undefined;
        const body = parseJsonObject(bodyText(req, raw));
        if (req.method !== "POST")
          throw new AwsJsonError("UnknownOperationException", "only POST is supported");
        const path = (req.url ?? "/").split("?")[0] ?? "/";
        const route = service.routes?.[path];
        if (route) {
          await route(body, res);
          return;
        }
        if (path !== "/") throw new AwsJsonError("UnknownOperationException", `no route ${path}`, 404);
        const target = String(req.headers["x-amz-target"] ?? "");
        const name = target.startsWith(prefix) ? target.slice(prefix.length) : "";
        const operation = Object.hasOwn(service.operations, name) ? service.operations[name] : undefined;
        if (!operation) {
          throw new AwsJsonError("UnknownOperationException", `unsupported operation ${target || "(none)"}`);
        }
        service.beforeOperation?.(name);
        const output = await operation(body, principal === undefined ? {} : { principal });
        sendBody(res, 200, awsJson(output ?? {}), {
          "content-type": contentType(service.version),
          "x-amzn-requestid": randomUUID(),
        });
      } catch (e) {
        const err = asAwsJsonError(e);
        sendAwsJsonError(res, service.version, err, errorHeaders(err));
      }
    })();
  };
}
