import { InvokeCommand, LambdaClient, ResourceNotFoundException } from "@aws-sdk/client-lambda";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  type LambdaEndpoint,
  parseFunctionName,
  startLambdaEndpoint,
} from "#local/lambda/lambda-endpoint.js";
import { CREDENTIALS, lambdaArn, NamedError, REGION, sleep } from "./support.js";

let endpoint: LambdaEndpoint;
let client: LambdaClient;
const sideEffects: string[] = [];

beforeAll(async () => {
  endpoint = await startLambdaEndpoint({
    handlers: {
      echo: async (event, context) => ({
        event,
        functionName: context.functionName,
        requestId: context.awsRequestId,
        remaining: context.getRemainingTimeInMillis(),
      }),
      fail: async () => {
        throw new NamedError("InstanceExists", "vm-1 exists");
      },
      write: async (event) => {
        sideEffects.push(String((event as { id: string }).id));
        return { written: true };
      },
      nothing: async () => undefined,
    },
    timeoutMs: 5_000,
  });
  client = new LambdaClient({
    endpoint: endpoint.url,
    region: REGION,
    credentials: CREDENTIALS,
    maxAttempts: 1,
  });
});

afterAll(async () => {
  client.destroy();
  await endpoint.close();
});

beforeEach(() => {
  endpoint.setHooks(undefined);
  endpoint.invocations.length = 0;
  sideEffects.length = 0;
});

async function invoke(name: string, payload: unknown) {
  const out = await client.send(
    new InvokeCommand({ FunctionName: name, Payload: Buffer.from(JSON.stringify(payload)) }),
  );
  return {
    statusCode: out.StatusCode,
    functionError: out.FunctionError,
    body: JSON.parse(Buffer.from(out.Payload ?? []).toString("utf8") || "null") as Record<
      string,
      unknown
    > | null,
  };
}

describe("Lambda endpoint", () => {
  it("invokes by plain name and by full ARN with a qualifier", async () => {
    const byName = await invoke("echo", { a: 1 });
    expect(byName.statusCode).toBe(200);
    expect(byName.functionError).toBeUndefined();
    expect(byName.body).toMatchObject({ event: { a: 1 }, functionName: "echo" });
    expect(byName.body?.remaining).toBeGreaterThan(4_000);
    expect(byName.body?.remaining).toBeLessThanOrEqual(5_000);
    const byArn = await invoke(`${lambdaArn("echo")}:$LATEST`, [1, 2]);
    expect(byArn.body).toMatchObject({ event: [1, 2], functionName: "echo" });
    expect(endpoint.invocations.map((i) => [i.functionName, i.status])).toEqual([
      ["echo", "succeeded"],
      ["echo", "succeeded"],
    ]);
    expect(endpoint.invocations[0]!.requestId).toBe(byName.body?.requestId);
  });

  it("answers a thrown error as AWS does", async () => {
    const out = await invoke("fail", {});
    expect(out.statusCode).toBe(200);
    expect(out.functionError).toBe("Unhandled");
    expect(out.body).toMatchObject({ errorType: "InstanceExists", errorMessage: "vm-1 exists" });
    expect(Array.isArray(out.body?.trace)).toBe(true);
    expect(endpoint.invocations[0]!.error?.errorType).toBe("InstanceExists");
  });

  it("answers null for a handler returning nothing", async () => {
    const out = await invoke("nothing", {});
    expect(out.functionError).toBeUndefined();
    expect(out.body).toBeNull();
  });

  it("answers an unknown function with 404 ResourceNotFoundException", async () => {
    const err = await invoke("ghost", {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ResourceNotFoundException);
    expect((err as ResourceNotFoundException).$metadata.httpStatusCode).toBe(404);
    expect((err as Error).message).toContain("function:ghost");
  });

  it("supports Event invocations (202, runs in the background)", async () => {
    const out = await client.send(
      new InvokeCommand({
        FunctionName: "write",
        InvocationType: "Event",
        Payload: Buffer.from('{"id":"e1"}'),
      }),
    );
    expect(out.StatusCode).toBe(202);
    await endpoint.idle();
    expect(sideEffects).toEqual(["e1"]);
  });

  it("beforeInvoke throwing crashes the invocation before the handler runs", async () => {
    endpoint.setHooks({
      beforeInvoke(name) {
        if (name === "write") throw new NamedError("Runtime.ExitError", "simulated crash");
      },
    });
    const out = await invoke("write", { id: "x" });
    expect(out.functionError).toBe("Unhandled");
    expect(out.body).toMatchObject({ errorType: "Runtime.ExitError" });
    expect(sideEffects).toEqual([]);
    expect((await invoke("echo", 1)).functionError).toBeUndefined();
  });

  it("afterInvoke throwing loses the reply after the side effect happened", async () => {
    endpoint.setHooks({
      afterInvoke(name, _event, result) {
        expect(result).toEqual({ written: true });
        throw new NamedError("Runtime.ExitError", `crashed after ${name}`);
      },
    });
    const out = await invoke("write", { id: "y" });
    expect(out.functionError).toBe("Unhandled");
    expect(sideEffects).toEqual(["y"]);
  });

  it("times out a handler past timeoutMs like Lambda", async () => {
    const short = await startLambdaEndpoint({
      handlers: { slow: () => sleep(500).then(() => "late") },
      timeoutMs: 50,
    });
    const c = new LambdaClient({ endpoint: short.url, region: REGION, credentials: CREDENTIALS });
    try {
      const out = await c.send(new InvokeCommand({ FunctionName: "slow" }));
      expect(out.FunctionError).toBe("Unhandled");
      expect(JSON.parse(Buffer.from(out.Payload!).toString())).toMatchObject({
        errorType: "Sandbox.Timedout",
      });
    } finally {
      c.destroy();
      await short.close();
    }
  });

  it("close lets an invocation in flight finish and answers its caller", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const finished: string[] = [];
    const draining = await startLambdaEndpoint({
      handlers: {
        slow: async () => {
          await gate;
          finished.push("slow");
          return "late";
        },
      },
    });
    const c = new LambdaClient({
      endpoint: draining.url,
      region: REGION,
      credentials: CREDENTIALS,
      maxAttempts: 1,
    });
    try {
      const reply = c.send(new InvokeCommand({ FunctionName: "slow" }));
      while (draining.invocations.length === 0) await sleep(10);
      const closing = draining.close();
      await sleep(50);
      expect(finished).toEqual([]);
      release();
      await closing;
      expect(finished).toEqual(["slow"]);
      expect(JSON.parse(Buffer.from((await reply).Payload!).toString())).toBe("late");
    } finally {
      c.destroy();
    }
  });

  it("parses every FunctionName form", () => {
    expect(parseFunctionName("f")).toEqual({ name: "f" });
    expect(parseFunctionName("f:live")).toEqual({ name: "f", qualifier: "live" });
    expect(parseFunctionName("123456789012:function:f")).toEqual({ name: "f" });
    expect(parseFunctionName("arn:aws:lambda:us-east-1:123456789012:function:f:7")).toEqual({
      name: "f",
      qualifier: "7",
    });
  });
});
