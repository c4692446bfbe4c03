/**
 * A Lambda-compatible HTTP endpoint (the `Invoke` operation of the Lambda API, restJson1) that runs
 * handlers registered in-process. The real `@aws-sdk/client-lambda` talks to it when
 * `AWS_ENDPOINT_URL_LAMBDA` (or the client's `endpoint`) points here; so do the local Step Functions
 * runner, Step Functions Local (`--lambda-endpoint`) and LocalStack.
 *
 *   POST /2015-03-31/functions/{FunctionName}/invocations[?Qualifier=...]
 *   X-Amz-Invocation-Type: RequestResponse (default, 200 + result) | Event (202, runs in background) | DryRun (204)
 *   GET /2015-03-31/functions/            ListFunctions (what `aws lambda list-functions` reads)
 *   GET /2015-03-31/functions/{FunctionName}   GetFunction
 *
 * An `Event` invocation whose handler fails is run again twice, as Lambda does for asynchronous invocations
 * (AWS waits about 1 and then 2 minutes; here `asyncRetryDelaysMs`, default 1 s and 2 s): an EventBridge
 * target (an alarm's trigger, a guest monitor's report) that met a transient fault is not lost. Each run is
 * an invocation record of its own.
 *
 * A thrown error is answered as AWS does: HTTP 200, `X-Amz-Function-Error: Unhandled`, body
 * `{"errorType": err.name, "errorMessage": err.message, "trace": [...]}` (so Step Functions' Retry/Catch
 * match on `err.name`). An unknown function is HTTP 404 `ResourceNotFoundException`.
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { BodyTooLargeError, readBody, sendJson } from "../http/aws-json.js";
import { closeServer, listenOnLoopback } from "../http/loopback.js";

export interface LambdaContext {
  functionName: string;
  /** `arn:aws:lambda:<region>:<account>:function:<name>` (with the qualifier, if one was invoked). */
  invokedFunctionArn: string;
  functionVersion: string;
  awsRequestId: string;
  getRemainingTimeInMillis(): number;
}

export type LocalLambdaHandler = (event: unknown, context: LambdaContext) => Promise<unknown>;

export interface LambdaFunctionError {
  errorType: string;
  errorMessage: string;
  trace: string[];
}

export interface LambdaInvocationRecord {
  requestId: string;
  functionName: string;
  invocationType: "RequestResponse" | "Event";
  event: unknown;
  startedAt: Date;
  endedAt?: Date;
  status: "running" | "succeeded" | "failed";
  result?: unknown;
  error?: LambdaFunctionError;
}

/**
 * Generic fault-injection hooks (e.g. to test a "crash mid-step"). Both run inside the invocation:
 * - `beforeInvoke` throwing answers the invocation as a function error WITHOUT running the handler;
 * - `afterInvoke` runs after the handler succeeded (its side effects happened); throwing answers a
 *   function error anyway, like a process that crashed before replying.
 */
export interface LambdaHooks {
  beforeInvoke?(functionName: string, event: unknown): void | Promise<void>;
  afterInvoke?(functionName: string, event: unknown, result: unknown): void | Promise<void>;
}

export interface LambdaEndpointOptions {
  handlers: Record<string, LocalLambdaHandler>;
  hooks?: LambdaHooks;
  /** Function timeout for `getRemainingTimeInMillis` and enforcement. Default 900_000 (Lambda's max). */
  timeoutMs?: number;
  /** Default 0 (an ephemeral port). Always binds 127.0.0.1. */
  port?: number;
  region?: string;
  accountId?: string;
  /** Called when an invocation ends (the local cloud counts Lambda's own metrics: Invocations, Errors). */
  onEnded?: (record: LambdaInvocationRecord) => void;
  /** Waits before the retries of a failed `Event` invocation, ms (default [1000, 2000]: two retries). */
  asyncRetryDelaysMs?: readonly number[];
  /** What ListFunctions/GetFunction say of a function: its handler (`module.export`) and description. */
  describe?: (name: string) => { handler: string; description: string } | undefined;
}

export interface LambdaEndpoint {
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** Every invocation, in arrival order; entries are updated in place when they end. */
  invocations: LambdaInvocationRecord[];
  register(name: string, handler: LocalLambdaHandler): void;
  setHooks(hooks: LambdaHooks | undefined): void;
  /** Resolves when all invocations in flight (including `Event` ones) have ended. */
  idle(): Promise<void>;
  /**
   * Stops taking invocations, then waits (at most `drainMs`, default 10 s) for those in flight (closeServer's
   * drain): one still running after its caller stopped must not write to a DynamoDB that closes right after.
   */
  close(options?: { drainMs?: number }): Promise<void>;
}

const INVOKE_PATH = /^\/2015-03-31\/functions\/([^/]+)\/invocations\/?$/;
const FUNCTIONS_PATH = /^\/2015-03-31\/functions\/?$/;
const FUNCTION_PATH = /^\/2015-03-31\/functions\/([^/]+)\/?$/;

/** `name`, `name:qualifier`, `123456789012:function:name[:q]`, `arn:aws:lambda:r:a:function:name[:q]` -> name, qualifier. */
export function parseFunctionName(raw: string): { name: string; qualifier?: string } {
  const parts = raw.split(":");
  const fnIndex = parts.indexOf("function");
  const rest = fnIndex >= 0 ? parts.slice(fnIndex + 1) : parts;
  const [name = "", qualifier] = rest;
  return qualifier === undefined ? { name } : { name, qualifier };
}

export function toFunctionError(err: unknown): LambdaFunctionError {
  if (err instanceof Error) {
    return {
      errorType: err.name || "Error",
      errorMessage: err.message,
      trace: (err.stack ?? "").split("\n").filter((line) => line.length > 0),
    };
  }
  return { errorType: typeof err, errorMessage: String(err), trace: [] };
}

class FunctionTimeout extends Error {
  constructor(requestId: string, timeoutMs: number) {
    super(`RequestId: ${requestId} Error: Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds`);
    this.name = "Sandbox.Timedout";
  }
}

/** Lambda's restJson1 error shape: the code in `x-amzn-errortype`, the body `{Type, message}`. */
function sendServiceError(res: ServerResponse, status: number, type: string, message: string): void {
  sendJson(res, status, { Type: "User", message }, { "x-amzn-errortype": type });
}

export async function startLambdaEndpoint(options: LambdaEndpointOptions): Promise<LambdaEndpoint> {
  const handlers = new Map<string, LocalLambdaHandler>(Object.entries(options.handlers));
  let hooks = options.hooks;
  const timeoutMs = options.timeoutMs ?? 900_000;
  const region = options.region ?? "us-east-1";
  const accountId = options.accountId ?? "000000000000";
  const invocations: LambdaInvocationRecord[] = [];
  const inFlight = new Set<Promise<unknown>>();
  const asyncRetryDelaysMs = options.asyncRetryDelaysMs ?? [1000, 2000];

  async function run(record: LambdaInvocationRecord, handler: LocalLambdaHandler, qualifier?: string) {
    const deadline = Date.now() + timeoutMs;
    const context: LambdaContext = {
      functionName: record.functionName,
      invokedFunctionArn: `arn:aws:lambda:${region}:${accountId}:function:${record.functionName}${qualifier ? `:${qualifier}` : ""}`,
      functionVersion: "$LATEST",
      awsRequestId: record.requestId,
      getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    };
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new FunctionTimeout(record.requestId, timeoutMs)), timeoutMs);
    });
    try {
      const work = (async () => {
        await hooks?.beforeInvoke?.(record.functionName, record.event);
        const result = await handler(record.event, context);
        await hooks?.afterInvoke?.(record.functionName, record.event, result);
        return result;
      })();
      work.catch(() => undefined); // a late failure after a timeout must not be an unhandled rejection
      const result = await Promise.race([work, timeout]);
      record.status = "succeeded";
      record.result = result;
      return { ok: true as const, result };
    } catch (err) {
      record.status = "failed";
      record.error = toFunctionError(err);
      return { ok: false as const, error: record.error };
    } finally {
      clearTimeout(timer);
      record.endedAt = new Date();
      options.onEnded?.(record);
    }
  }

  const startedAt = new Date().toISOString().replace("Z", "+0000");
  /** A function's configuration as ListFunctions and GetFunction show it. */
  const configuration = (name: string) => {
    const about = options.describe?.(name);
    return {
      FunctionName: name,
      FunctionArn: `arn:aws:lambda:${region}:${accountId}:function:${name}`,
      Runtime: "nodejs24.x",
      Role: `arn:aws:iam::${accountId}:role/${name}`,
      Handler: about?.handler ?? "index.handler",
      CodeSize: 0,
      Description: about?.description ?? "",
      Timeout: Math.round(timeoutMs / 1000),
      MemorySize: 512,
      LastModified: startedAt,
      Version: "$LATEST",
      State: "Active",
      PackageType: "Zip",
      Architectures: ["arm64"],
    };
  };

  function handleRead(url: URL, res: ServerResponse): boolean {
    if (FUNCTIONS_PATH.test(url.pathname)) {
      const names = [...handlers.keys()].sort();
      const max = Number(url.searchParams.get("MaxItems") ?? 50);
      const start = Number(url.searchParams.get("Marker") ?? 0);
      const page = names.slice(start, start + max);
      sendJson(res, 200, {
        Functions: page.map(configuration),
        ...(start + max < names.length ? { NextMarker: String(start + max) } : {}),
      });
      return true;
    }
    const one = FUNCTION_PATH.exec(url.pathname);
    if (!one?.[1]) return false;
    const { name } = parseFunctionName(decodeURIComponent(one[1]));
    if (!handlers.has(name)) {
      sendServiceError(
        res,
        404,
        "ResourceNotFoundException",
        `Function not found: arn:aws:lambda:${region}:${accountId}:function:${name}`,
      );
      return true;
    }
    sendJson(res, 200, {
      Configuration: configuration(name),
      Code: { RepositoryType: "S3", Location: "" },
      Tags: {},
    });
    return true;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    if (req.method === "GET" && handleRead(url, res)) return;
    const match = INVOKE_PATH.exec(url.pathname);
    if (req.method !== "POST" || !match?.[1]) {
      sendServiceError(res, 404, "UnknownOperationException", `No route for ${req.method} ${url.pathname}`);
      return;
    }
    const rawName = decodeURIComponent(match[1]);
    const { name, qualifier: q } = parseFunctionName(rawName);
    const qualifier = url.searchParams.get("Qualifier") ?? q;
    const handler = handlers.get(name);
    const body = await readBody(req);
    if (!handler) {
      sendServiceError(
        res,
        404,
        "ResourceNotFoundException",
        `Function not found: arn:aws:lambda:${region}:${accountId}:function:${name}${qualifier ? `:${qualifier}` : ""}`,
      );
      return;
    }
    let event: unknown = null;
    if (body.length > 0) {
      try {
        event = JSON.parse(body.toString("utf8"));
      } catch {
        sendServiceError(
          res,
          400,
          "InvalidRequestContentException",
          "Could not parse request body into json",
        );
        return;
      }
    }
    const invocationType = String(req.headers["x-amz-invocation-type"] ?? "RequestResponse");
    if (invocationType === "DryRun") {
      res.writeHead(204).end();
      return;
    }
    if (invocationType !== "RequestResponse" && invocationType !== "Event") {
      sendServiceError(
        res,
        400,
        "InvalidParameterValueException",
        `Unsupported invocation type ${invocationType}`,
      );
      return;
    }
    const newRecord = (): LambdaInvocationRecord => {
      const r: LambdaInvocationRecord = {
        requestId: randomUUID(),
        functionName: name,
        invocationType,
        event,
        startedAt: new Date(),
        status: "running",
      };
      invocations.push(r);
      return r;
    };
    const record = newRecord();
    const running =
      invocationType === "Event"
        ? (async () => {
            let outcome = await run(record, handler, qualifier);
            for (const delay of asyncRetryDelaysMs) {
              if (outcome.ok) break;
              await new Promise((r) => setTimeout(r, delay));
              outcome = await run(newRecord(), handler, qualifier);
            }
            return outcome;
          })()
        : run(record, handler, qualifier);
    inFlight.add(running);
    void running.finally(() => inFlight.delete(running));
    const headers = { "x-amzn-requestid": record.requestId, "x-amz-executed-version": "$LATEST" };
    if (invocationType === "Event") {
      sendJson(res, 202, undefined, headers);
      return;
    }
    const outcome = await running;
    if (outcome.ok) {
      sendJson(res, 200, outcome.result === undefined ? null : outcome.result, headers);
    } else {
      sendJson(res, 200, outcome.error, { ...headers, "x-amz-function-error": "Unhandled" });
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (err instanceof BodyTooLargeError)
        sendServiceError(res, 413, "RequestTooLargeException", err.message);
      else if (!res.headersSent) sendServiceError(res, 500, "ServiceException", String(err));
      else res.end();
    });
  });
  const { port } = await listenOnLoopback(server, options.port);
  const idle = async () => {
    while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
  };

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    invocations,
    register(name, handler) {
      handlers.set(name, handler);
    },
    setHooks(next) {
      hooks = next;
    },
    idle,
    close({ drainMs = 10_000 } = {}) {
      return closeServer(server, { drain: { inFlight: () => inFlight.size, maxMs: drainMs } });
    },
  };
}
