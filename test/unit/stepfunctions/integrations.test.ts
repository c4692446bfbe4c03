import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LambdaEndpoint, startLambdaEndpoint } from "#local/lambda/lambda-endpoint.js";
import { LocalStepFunctions } from "#local/stepfunctions/runner.js";
import { CREDENTIALS, lambdaArn, NamedError } from "./support.js";

// No AWS_ENDPOINT_URL_LAMBDA here: the endpoint is passed through the runner's options.
let lambda: LambdaEndpoint;
let runner: LocalStepFunctions;

beforeAll(async () => {
  lambda = await startLambdaEndpoint({
    handlers: {
      double: async (event) => ({ n: (event as { n: number }).n * 2 }),
      refuse: async () => {
        throw new NamedError("InstanceExists", "already there");
      },
    },
  });
  runner = new LocalStepFunctions({
    lambda: { endpoint: lambda.url, credentials: CREDENTIALS },
    waitTimeScale: 0,
  });
});
afterAll(async () => {
  await runner.stopAll();
  await lambda.close();
});

describe("other Task integrations", () => {
  it("serves arn:aws:states:::lambda:invoke with AWS's output shape and error names", async () => {
    const arn = runner.createStateMachine({
      name: "optimized",
      definition: {
        StartAt: "Double",
        States: {
          Double: {
            Type: "Task",
            Resource: "arn:aws:states:::lambda:invoke",
            Parameters: { FunctionName: lambdaArn("double"), "Payload.$": "$" },
            ResultSelector: { "value.$": "$.Payload", "code.$": "$.StatusCode" },
            Next: "Refuse",
          },
          Refuse: {
            Type: "Task",
            Resource: "arn:aws:states:::lambda:invoke",
            Parameters: { FunctionName: "refuse", "Payload.$": "$" },
            Catch: [{ ErrorEquals: ["InstanceExists"], ResultPath: "$.caught", Next: "Done" }],
            End: true,
          },
          Done: { Type: "Succeed" },
        },
      },
    });
    const started = runner.startExecution({ stateMachineArn: arn, input: { n: 21 } });
    const done = await runner.waitForExecution(started.executionArn!, 10_000);
    expect(done.status).toBe("SUCCEEDED");
    const output = JSON.parse(done.output!) as { value: unknown; code: number; caught: { Error: string } };
    expect(output.value).toEqual({ n: 42 });
    expect(output.code).toBe(200);
    expect(output.caught.Error).toBe("InstanceExists");
    const failed = runner
      .getExecutionHistory({ executionArn: started.executionArn! })
      .events!.find((e) => e.type === "TaskFailed");
    expect(failed?.taskFailedEventDetails).toMatchObject({ resourceType: "lambda", resource: "invoke" });
  });

  it("serves plain startExecution (no wait) and .sync (string Output)", async () => {
    const child = runner.createStateMachine({
      name: "child-pass",
      definition: {
        StartAt: "W",
        States: { W: { Type: "Wait", Seconds: 60, Next: "P" }, P: { Type: "Pass", End: true } },
      },
    });
    const parent = runner.createStateMachine({
      name: "fire-and-sync",
      definition: {
        StartAt: "Fire",
        States: {
          Fire: {
            Type: "Task",
            Resource: "arn:aws:states:::states:startExecution",
            Parameters: { StateMachineArn: child, Name: "fired", Input: { a: 1 } },
            ResultPath: "$.fired",
            Next: "Sync",
          },
          Sync: {
            Type: "Task",
            Resource: "arn:aws:states:::states:startExecution.sync",
            Parameters: { StateMachineArn: child, Name: "synced", Input: '{"b":2}' },
            ResultPath: "$.synced",
            End: true,
          },
        },
      },
    });
    const started = runner.startExecution({ stateMachineArn: parent, input: {} });
    const done = await runner.waitForExecution(started.executionArn!, 10_000);
    expect(done.status).toBe("SUCCEEDED");
    const output = JSON.parse(done.output!) as {
      fired: { ExecutionArn: string; StartDate: number };
      synced: { Output: string; Input: string; Status: string };
    };
    expect(output.fired.ExecutionArn).toBe(
      "arn:aws:states:us-east-1:000000000000:execution:child-pass:fired",
    );
    expect(typeof output.fired.StartDate).toBe("number");
    expect(output.synced.Status).toBe("SUCCEEDED");
    expect(output.synced.Output).toBe('{"b":2}');
    expect(output.synced.Input).toBe('{"b":2}');
    // waitTimeScale 0 made the child's 60 s Wait immediate.
    expect((await runner.waitForExecution(output.fired.ExecutionArn, 5_000)).status).toBe("SUCCEEDED");
  });

  it("times an execution out after its TimeoutSeconds (TIMED_OUT, ExecutionTimedOut)", async () => {
    const arn = runner.createStateMachine({
      name: "too-slow",
      definition: {
        TimeoutSeconds: 1,
        StartAt: "Hold",
        States: { Hold: { Type: "Wait", Seconds: 60, End: true } },
      },
      overrides: { waitTimeOverrides: { Hold: 5_000 } },
    });
    const started = runner.startExecution({ stateMachineArn: arn });
    const done = await runner.waitForExecution(started.executionArn!, 4_000);
    expect(done.status).toBe("TIMED_OUT");
    const events = runner.getExecutionHistory({ executionArn: started.executionArn! }).events!;
    expect(events.at(-1)?.type).toBe("ExecutionTimedOut");
  });

  it("records Parallel states and a caught Map failure as AWS does", async () => {
    const arn = runner.createStateMachine({
      name: "blocks",
      definition: {
        StartAt: "Both",
        States: {
          Both: {
            Type: "Parallel",
            Branches: [
              { StartAt: "One", States: { One: { Type: "Pass", Result: 1, End: true } } },
              { StartAt: "Two", States: { Two: { Type: "Pass", Result: 2, End: true } } },
            ],
            ResultPath: "$.both",
            Next: "Each",
          },
          Each: {
            Type: "Map",
            ItemsPath: "$.items",
            ItemProcessor: {
              StartAt: "Refuse",
              States: { Refuse: { Type: "Task", Resource: lambdaArn("refuse"), End: true } },
            },
            Catch: [{ ErrorEquals: ["States.ALL"], ResultPath: "$.mapError", Next: "After" }],
            Next: "After",
          },
          After: { Type: "Pass", End: true },
        },
      },
    });
    const started = runner.startExecution({ stateMachineArn: arn, input: { items: [1] } });
    const done = await runner.waitForExecution(started.executionArn!, 10_000);
    expect(done.status).toBe("SUCCEEDED");
    expect(JSON.parse(done.output!)).toMatchObject({ both: [1, 2], mapError: { Error: "InstanceExists" } });
    const types = runner
      .getExecutionHistory({ executionArn: started.executionArn! })
      .events!.map((e) => e.type);
    const parallel = types.slice(
      types.indexOf("ParallelStateEntered"),
      types.indexOf("ParallelStateExited") + 1,
    );
    expect(parallel[1]).toBe("ParallelStateStarted");
    expect(parallel.slice(-2)).toEqual(["ParallelStateSucceeded", "ParallelStateExited"]);
    const map = types.slice(types.indexOf("MapStateEntered"), types.indexOf("MapStateExited") + 1);
    expect(map).toContain("MapStateFailed");
    expect(map).not.toContain("MapStateSucceeded");
    expect(types.slice(-3)).toEqual(["PassStateEntered", "PassStateExited", "ExecutionSucceeded"]);
  });

  it("refuses what the local engine cannot run", () => {
    expect(() =>
      runner.createStateMachine({
        name: "jsonata",
        definition: { QueryLanguage: "JSONata", StartAt: "P", States: { P: { Type: "Pass", End: true } } },
      }),
    ).toThrow(/JSONata/);
  });
});
