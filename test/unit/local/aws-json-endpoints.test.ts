/**
 * The local AWS JSON endpoints answer errors in the one shape (local/http/aws-json.ts): the real SDK
 * clients turn each into the exception AWS's would, and a raw request sees `__type` and `x-amzn-ErrorType`.
 */
import { CloudWatchClient, PutMetricDataCommand } from "@aws-sdk/client-cloudwatch";
import { EventBridgeClient, PutEventsCommand } from "@aws-sdk/client-eventbridge";
import { DescribeExecutionCommand, SFNClient } from "@aws-sdk/client-sfn";
import { GetCommandInvocationCommand, SSMClient } from "@aws-sdk/client-ssm";
import { SignatureV4 } from "@smithy/signature-v4";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCloudWatchEndpoint } from "#local/cloudwatch/cloudwatch-endpoint.js";
import { startEventsEndpoint } from "#local/events/events-endpoint.js";
import { startSsmEndpoint } from "#local/ssm/ssm-endpoint.js";
import { LocalStepFunctions } from "#local/stepfunctions/runner.js";
import { startSfnEndpoint } from "#local/stepfunctions/sfn-endpoint.js";
import { NodeSha256 } from "#shared/sigv4/node-sha256.js";

const client = { region: "us-east-1", credentials: { accessKeyId: "local", secretAccessKey: "local" } };
const servers: { url: string; close(): Promise<void> }[] = [];
let ssm: string;
let cloudwatch: string;
let events: string;
let sfn: string;

beforeAll(async () => {
  const started = await Promise.all([
    startSsmEndpoint(),
    startCloudWatchEndpoint(),
    startEventsEndpoint(),
    startSfnEndpoint(new LocalStepFunctions()),
  ]);
  servers.push(...started);
  [ssm, cloudwatch, events, sfn] = started.map((s) => s.url) as [string, string, string, string];
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

const nameOf = async (p: Promise<unknown>) =>
  p.then(
    () => "no error",
    (e: unknown) => ({
      name: (e as Error).name,
      status: (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode,
    }),
  );

describe("local AWS JSON endpoints", () => {
  it("each service's own errors reach the SDK as its exceptions", async () => {
    const s = new SSMClient({ ...client, endpoint: ssm });
    const c = new CloudWatchClient({ ...client, endpoint: cloudwatch });
    const e = new EventBridgeClient({ ...client, endpoint: events });
    const f = new SFNClient({ ...client, endpoint: sfn });
    try {
      expect(
        await nameOf(s.send(new GetCommandInvocationCommand({ CommandId: "x", InstanceId: "mi-0" }))),
      ).toEqual({
        name: "InvocationDoesNotExist",
        status: 400,
      });
      expect(
        await nameOf(
          c.send(
            new PutMetricDataCommand({ Namespace: "AWS/EC2", MetricData: [{ MetricName: "m", Value: 1 }] }),
          ),
        ),
      ).toEqual({ name: "InvalidParameterValueException", status: 400 });
      expect(await nameOf(e.send(new PutEventsCommand({ Entries: [] })))).toEqual({
        name: "ValidationException",
        status: 400,
      });
      expect(
        await nameOf(
          f.send(
            new DescribeExecutionCommand({
              executionArn: "arn:aws:states:us-east-1:000000000000:execution:m:x",
            }),
          ),
        ),
      ).toEqual({ name: "ExecutionDoesNotExist", status: 400 });
    } finally {
      for (const x of [s, c, e, f]) x.destroy();
    }
  });

  it("unknown operations and bodies that are not JSON get the same error shape from every endpoint", async () => {
    // CloudWatch and EventBridge check SigV4 first (their SigV4 service name given): those requests are signed.
    const targets: [string, string, string | null][] = [
      [ssm, "AmazonSSM", null],
      [cloudwatch, "GraniteServiceVersion20100801", "monitoring"],
      [events, "AWSEvents", "events"],
      [sfn, "AWSStepFunctions", null],
    ];
    for (const [url, prefix, service] of targets) {
      const fetch = (u: string, init: { method: string; headers: Record<string, string>; body: string }) =>
        signedFetch(u, init, service);
      const unknown = await fetch(url, {
        method: "POST",
        headers: { "x-amz-target": `${prefix}.Nope` },
        body: "{}",
      });
      expect(unknown.status).toBe(400);
      expect(unknown.headers.get("x-amzn-errortype")).toBe("UnknownOperationException");
      expect(unknown.headers.get("content-type")).toMatch(/^application\/x-amz-json-1\.[01]$/);
      expect(await unknown.json()).toMatchObject({ __type: "UnknownOperationException" });
      const garbled = await fetch(url, {
        method: "POST",
        headers: { "x-amz-target": `${prefix}.Nope` },
        body: "{",
      });
      expect(garbled.status).toBe(400);
      expect(await garbled.json()).toMatchObject({ __type: "SerializationException" });
      if (service) {
        // Unsigned, the same request is refused before anything else, in the same error shape.
        const unsigned = await globalThis.fetch(url, {
          method: "POST",
          headers: { "x-amz-target": `${prefix}.Nope` },
          body: "{}",
        });
        expect(unsigned.status).toBe(403);
        expect(await unsigned.json()).toMatchObject({ __type: "MissingAuthenticationToken" });
      }
    }
  });
});

/** fetch, SigV4-signed for `service` with the control plane's local key when a service is given. */
async function signedFetch(
  url: string,
  init: { method: string; headers: Record<string, string>; body: string },
  service: string | null,
): Promise<Response> {
  if (!service) return fetch(url, init);
  const u = new URL(url);
  const signer = new SignatureV4({ ...client, service, sha256: NodeSha256 });
  const signed = await signer.sign({
    method: init.method,
    protocol: u.protocol,
    hostname: u.hostname,
    port: Number(u.port),
    path: "/",
    query: {},
    headers: { ...init.headers, host: u.host },
    body: init.body,
  });
  const { host: _, ...headers } = signed.headers;
  return fetch(url, { method: init.method, headers, body: init.body });
}
