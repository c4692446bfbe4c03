/**
 * The API locally: a loopback HTTP server that turns each real request into the API Gateway (REST,
 * payload v1) proxy event the deployed API receives, runs the same handler, and writes its result back.
 * Like API Gateway, a body over 10 MB is refused before the handler sees it (with the gateway response
 * the stack sets, shared/definitions/api-gateway.ts: nova's 413), and a handler that throws is a 502
 * `{"message": "Internal server error"}`.
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage } from "node:http";
import { REQUEST_TOO_LARGE } from "#shared/definitions/api-gateway.js";
import { DEFAULT_BODY_LIMIT, sendBody, sendJson } from "../http/aws-json.js";
import { closeServer, listenOnLoopback } from "../http/loopback.js";

export interface ProxyResultLike {
  statusCode: number;
  headers?: Record<string, string>;
  body?: string;
  isBase64Encoded?: boolean;
}

export type ProxyHandler = (event: unknown) => Promise<unknown>;

/** An answer the gateway gives itself, before (or instead of) the API function. */
export interface GatewayAnswer {
  status: number;
  headers: Record<string, string>;
  body: string | Buffer;
}

/**
 * API Gateway's IAM authorization (local/api/api-callers.ts): the caller's identity for the event, or the
 * refusal the gateway answers with.
 */
export type Authorizer = (req: {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: Buffer;
}) => Promise<{ ok: true; identity: Record<string, string | null> } | ({ ok: false } & GatewayAnswer)>;

export interface ApiServer {
  url: string;
  close(): Promise<void>;
}

/**
 * The request body, or null past `limit` once the rest was read and dropped: the answer to an oversize
 * request is only sent after the client has finished sending.
 */
async function readWithin(req: IncomingMessage, limit: number): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const b = chunk as Buffer;
    size += b.length;
    if (size <= limit) chunks.push(b);
  }
  return size > limit ? null : Buffer.concat(chunks);
}

/** The v1 proxy event API Gateway would send for this request (resource `/{proxy+}`). */
export function proxyEvent(
  req: IncomingMessage,
  body: Buffer,
  stage: string,
  identity: Record<string, string | null> = { userArn: null, caller: null },
) {
  // Split by hand: `new URL` would read a path starting with "//" as a host.
  const raw = req.url ?? "/";
  const q = raw.indexOf("?");
  const url = {
    pathname: q < 0 ? raw : raw.slice(0, q),
    searchParams: new URLSearchParams(q < 0 ? "" : raw.slice(q + 1)),
  };
  const headers: Record<string, string> = {};
  const multiValueHeaders: Record<string, string[]> = {};
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!;
    const value = req.rawHeaders[i + 1]!;
    const values = [...(multiValueHeaders[name] ?? []), value];
    multiValueHeaders[name] = values;
    headers[name] = values.join(",");
  }
  headers["X-Forwarded-Proto"] ??= "http";
  const multiValueQueryStringParameters: Record<string, string[]> = {};
  for (const [k, v] of url.searchParams) {
    multiValueQueryStringParameters[k] = [...(multiValueQueryStringParameters[k] ?? []), v];
  }
  const queryStringParameters = Object.fromEntries(
    Object.entries(multiValueQueryStringParameters).map(([k, v]) => [k, v.at(-1)!]),
  );
  const hasQuery = Object.keys(queryStringParameters).length > 0;
  return {
    resource: "/{proxy+}",
    path: url.pathname,
    httpMethod: req.method ?? "GET",
    headers,
    multiValueHeaders,
    queryStringParameters: hasQuery ? queryStringParameters : null,
    multiValueQueryStringParameters: hasQuery ? multiValueQueryStringParameters : null,
    pathParameters: { proxy: url.pathname.replace(/^\//, "") },
    stageVariables: null,
    requestContext: {
      resourcePath: "/{proxy+}",
      httpMethod: req.method ?? "GET",
      path: url.pathname,
      stage,
      domainName: req.headers.host ?? "127.0.0.1",
      requestId: randomUUID(),
      requestTimeEpoch: Date.now(),
      identity: { sourceIp: req.socket.remoteAddress ?? "127.0.0.1", ...identity },
    },
    body: body.length > 0 ? body.toString("utf8") : null,
    isBase64Encoded: false,
  };
}

export async function startApiServer(opts: {
  handler: ProxyHandler;
  port?: number;
  stage?: string;
  /** Every request signed by a known caller whose role may call the route; none: every request passes. */
  authorize?: Authorizer;
  /**
   * Paths the gateway serves itself, unauthenticated, before any authorization (the console's static files,
   * as the stack's API serves them from S3); null: not one of them.
   */
  site?: (method: string, path: string) => GatewayAnswer | null;
}): Promise<ApiServer> {
  const server = createServer((req, res) => {
    void (async () => {
      const page = opts.site?.(req.method ?? "GET", (req.url ?? "/").split("?")[0] ?? "/");
      if (page) {
        sendBody(res, page.status, page.body, page.headers);
        return;
      }
      let body: Buffer | null;
      try {
        body = await readWithin(req, DEFAULT_BODY_LIMIT);
      } catch {
        sendJson(res, 400, { message: "Bad request" });
        return;
      }
      if (body === null) {
        // Like API Gateway, a body over its 10 MB payload limit never reaches the handler; the whole body
        // was read, so the client gets the answer rather than a reset while it is still sending.
        const tooLarge = REQUEST_TOO_LARGE;
        sendJson(res, tooLarge.status, tooLarge.body, { ...tooLarge.headers, connection: "close" });
        return;
      }
      let identity: Record<string, string | null> | undefined;
      if (opts.authorize) {
        const verdict = await opts.authorize({
          method: req.method ?? "GET",
          url: req.url ?? "/",
          headers: req.headers,
          body,
        });
        if (!verdict.ok) {
          sendBody(res, verdict.status, verdict.body, verdict.headers);
          return;
        }
        identity = verdict.identity;
      }
      try {
        const result = (await opts.handler(
          proxyEvent(req, body, opts.stage ?? "local", identity),
        )) as ProxyResultLike;
        const payload = result.isBase64Encoded
          ? Buffer.from(result.body ?? "", "base64")
          : (result.body ?? "");
        sendBody(res, result.statusCode, payload, result.headers ?? {});
      } catch (e) {
        console.error(`local API: handler threw: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
        sendJson(res, 502, { message: "Internal server error" });
      }
    })();
  });
  const { url } = await listenOnLoopback(server, opts.port);
  return { url, close: () => closeServer(server) };
}
