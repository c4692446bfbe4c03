/**
 * A Step Functions-compatible HTTP endpoint over a `LocalStepFunctions` (AWS JSON 1.0):
 *   POST /   X-Amz-Target: AWSStepFunctions.<Op>   Content-Type: application/x-amz-json-1.0
 * Errors: HTTP 400 `{"__type": "<Code>", "message": "..."}` (the SDK maps `__type` to its exception
 * class, e.g. `ExecutionAlreadyExists`). Dates are epoch seconds (fractional) as JSON numbers.
 * Callers use the real `@aws-sdk/client-sfn` with `AWS_ENDPOINT_URL_SFN` (or `endpoint`) set to `url`.
 */
import { createServer } from "node:http";
import type { ExecutionStatus } from "@aws-sdk/client-sfn";
import { type AwsJsonOperation, awsJsonHandler } from "../http/aws-json.js";
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

/** The Step Functions API operations the local runner answers. */
export function sfnOperations(runner: LocalStepFunctions): Record<string, AwsJsonOperation> {
  return {
    StartExecution: (body) =>
      runner.startExecution({
        stateMachineArn: str(body, "stateMachineArn")!,
        ...opt("name", str(body, "name", false)),
        ...opt("input", str(body, "input", false)),
      }),
    DescribeExecution: (body) => runner.describeExecution(str(body, "executionArn")!),
    GetExecutionHistory: (body) =>
      runner.getExecutionHistory({
        executionArn: str(body, "executionArn")!,
        ...opt("maxResults", num(body, "maxResults")),
        ...opt("nextToken", str(body, "nextToken", false)),
        ...opt("reverseOrder", body.reverseOrder === true ? true : undefined),
      }),
    ListExecutions: (body) =>
      runner.listExecutions({
        stateMachineArn: str(body, "stateMachineArn")!,
        ...opt("statusFilter", str(body, "statusFilter", false) as ExecutionStatus | undefined),
        ...opt("maxResults", num(body, "maxResults")),
        ...opt("nextToken", str(body, "nextToken", false)),
      }),
    StopExecution: (body) =>
      runner.stopExecution({
        executionArn: str(body, "executionArn")!,
        ...opt("error", str(body, "error", false)),
        ...opt("cause", str(body, "cause", false)),
      }),
    ListStateMachines: (body) =>
      runner.listStateMachines({
        ...opt("maxResults", num(body, "maxResults")),
        ...opt("nextToken", str(body, "nextToken", false)),
      }),
    DescribeStateMachine: (body) => runner.describeStateMachine(str(body, "stateMachineArn")!),
    CreateStateMachine: (body) => {
      const stateMachineArn = runner.createStateMachine({
        name: str(body, "name")!,
        definition: str(body, "definition")!,
        ...opt("roleArn", str(body, "roleArn", false)),
      });
      return { stateMachineArn, creationDate: runner.describeStateMachine(stateMachineArn).creationDate };
    },
  };
}

export async function startSfnEndpoint(
  runner: LocalStepFunctions,
  options: { port?: number } = {},
): Promise<SfnEndpoint> {
  const server = createServer(
    awsJsonHandler({ version: "1.0", targetPrefix: "AWSStepFunctions", operations: sfnOperations(runner) }),
  );
  const { port } = await listenOnLoopback(server, options.port);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () => closeServer(server),
  };
}
