/**
 * A Step Functions-compatible HTTP endpoint over a `LocalStepFunctions` (AWS JSON 1.0):
 *   POST /   X-Amz-Target: AWSStepFunctions.<Op>   Content-Type: application/x-amz-json-1.0
 * Errors: HTTP 400 `{"__type": "<Code>", "message": "..."}` (the SDK maps `__type` to its exception
 * class, e.g. `ExecutionAlreadyExists`). Dates are epoch seconds (fractional) as JSON numbers.
 * Callers use the real `@aws-sdk/client-sfn` with `AWS_ENDPOINT_URL_SFN` (or `endpoint`) set to `url`.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { ExecutionStatus } from "@aws-sdk/client-sfn";
import { closeServer, listenOnLoopback } from "../http/loopback.js";
import { type LocalStepFunctions, SfnApiError } from "./runner.js";

export interface SfnEndpoint {
  url: string;
  port: number;
  close(): Promise<void>;
}

type Body = Record<string, unknown>;

function str(body: Body, key: string, required = true): string | undefined {
  const value = body[key];
  if (value === undefined || value === null) {
    if (required)
      throw new SfnApiError("ValidationException", `1 validation error detected: '${key}' is required`);
    return undefined;
  }
  if (typeof value !== "string") throw new SfnApiError("ValidationException", `'${key}' must be a string`);
  return value;
}
function num(body: Body, key: string): number | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number") throw new SfnApiError("ValidationException", `'${key}' must be a number`);
  return value;
}
function opt<K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, V>);
}

export function dispatchSfn(runner: LocalStepFunctions, op: string, body: Body): Promise<unknown> | unknown {
  switch (op) {
    case "StartExecution":
      return runner.startExecution({
        stateMachineArn: str(body, "stateMachineArn")!,
        ...opt("name", str(body, "name", false)),
        ...opt("input", str(body, "input", false)),
      });
    case "DescribeExecution":
      return runner.describeExecution(str(body, "executionArn")!);
    case "GetExecutionHistory":
      return runner.getExecutionHistory({
        executionArn: str(body, "executionArn")!,
        ...opt("maxResults", num(body, "maxResults")),
        ...opt("nextToken", str(body, "nextToken", false)),
        ...opt("reverseOrder", body.reverseOrder === true ? true : undefined),
      });
    case "ListExecutions":
      return runner.listExecutions({
        stateMachineArn: str(body, "stateMachineArn")!,
        ...opt("statusFilter", str(body, "statusFilter", false) as ExecutionStatus | undefined),
        ...opt("maxResults", num(body, "maxResults")),
        ...opt("nextToken", str(body, "nextToken", false)),
      });
    case "StopExecution":
      return runner.stopExecution({
        executionArn: str(body, "executionArn")!,
        ...opt("error", str(body, "error", false)),
        ...opt("cause", str(body, "cause", false)),
      });
    case "ListStateMachines":
      return runner.listStateMachines({
        ...opt("maxResults", num(body, "maxResults")),
        ...opt("nextToken", str(body, "nextToken", false)),
      });
    case "DescribeStateMachine":
      return runner.describeStateMachine(str(body, "stateMachineArn")!);
    case "CreateStateMachine": {
      const stateMachineArn = runner.createStateMachine({
        name: str(body, "name")!,
        definition: str(body, "definition")!,
        ...opt("roleArn", str(body, "roleArn", false)),
      });
      return { stateMachineArn, creationDate: runner.describeStateMachine(stateMachineArn).creationDate };
    }
    default:
      throw Object.assign(
        new Error(`Operation ${op} is not supported by the local Step Functions endpoint`),
        {
          name: "UnknownOperationException",
        },
      );
  }
}

/** JSON with Dates as epoch seconds, as the AWS JSON protocols serialize timestamps. */
export function awsJson(value: unknown): string {
  return JSON.stringify(value, function (this: Record<string, unknown>, key, v) {
    const raw = this[key];
    return raw instanceof Date ? raw.getTime() / 1000 : v;
  });
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

function reply(res: ServerResponse, status: number, payload: unknown): void {
  const text = awsJson(payload);
  res.writeHead(status, {
    "content-type": "application/x-amz-json-1.0",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

export async function startSfnEndpoint(
  runner: LocalStepFunctions,
  options: { port?: number } = {},
): Promise<SfnEndpoint> {
  const server = createServer((req, res) => {
    void (async () => {
      try {
        const target = String(req.headers["x-amz-target"] ?? "");
        const [service, op = ""] = target.split(".");
        const text = await readBody(req);
        if (req.method !== "POST" || service !== "AWSStepFunctions") {
          reply(res, 400, { __type: "UnknownOperationException", message: `Unknown target '${target}'` });
          return;
        }
        let body: Body;
        try {
          body = text ? (JSON.parse(text) as Body) : {};
        } catch {
          reply(res, 400, { __type: "SerializationException", message: "Request body is not valid JSON" });
          return;
        }
        const result = await dispatchSfn(runner, op, body);
        reply(res, 200, result ?? {});
      } catch (err) {
        const e = err as Error;
        if (e instanceof SfnApiError || e.name === "UnknownOperationException") {
          reply(res, 400, { __type: e.name, message: e.message });
        } else {
          reply(res, 500, { __type: "InternalFailure", message: e.message });
        }
      }
    })();
  });
  const { port } = await listenOnLoopback(server, options.port);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () => closeServer(server),
  };
}
