import {
  DescribeExecutionCommand,
  DescribeStateMachineCommand,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  ListExecutionsCommand,
  ListStateMachinesCommand,
  SFNClient,
  StartExecutionCommand,
  StateMachineDoesNotExist,
  StopExecutionCommand,
} from "@aws-sdk/client-sfn";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  type LambdaEndpoint,
  type LocalLambdaHandler,
  startLambdaEndpoint,
} from "#local/lambda/lambda-endpoint.js";
import { type ExecutionEventNotice, LocalStepFunctions } from "#local/stepfunctions/runner.js";
import { type SfnEndpoint, startSfnEndpoint } from "#local/stepfunctions/sfn-endpoint.js";
import { fixture, gate, lambdaArn, NamedError, sfnClient, sleep } from "./support.js";

// Per-test behaviour of the functions served by the local Lambda endpoint.
let behaviour: Record<string, LocalLambdaHandler> = {};
const served =
  (name: string): LocalLambdaHandler =>
  async (event, context) => {
    const handler = behaviour[name];
    if (!handler) throw new NamedError("NotConfigured", `no behaviour for ${name}`);
    return handler(event, context);
  };

let lambda: LambdaEndpoint;
let runner: LocalStepFunctions;
let sfn: SfnEndpoint;
let client: SFNClient;
let twoStepArn: string;
let childArn: string;
let parentArn: string;
let mapArn: string;
let waitArn: string;
const ENV_KEYS = ["AWS_ENDPOINT_URL_LAMBDA", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] as const;
const previousEnv = Object.fromEntries(ENV_KEYS.map((k) => [k, process.env[k]]));

beforeAll(async () => {
  lambda = await startLambdaEndpoint({
    handlers: { prepare: served("prepare"), finish: served("finish"), rebuild: served("rebuild") },
  });
  // The runner's Lambda client is configured by the SDK's environment, as a deployed caller's would be.
  process.env.AWS_ENDPOINT_URL_LAMBDA = lambda.url;
  process.env.AWS_ACCESS_KEY_ID = "local";
  process.env.AWS_SECRET_ACCESS_KEY = "local";
  runner = new LocalStepFunctions({ retryIntervalScale: 0.01 });
  twoStepArn = runner.createStateMachine({
    name: "two-step",
    definition: fixture("two-step.asl.json"),
    substitutions: { PrepareFunctionArn: lambdaArn("prepare"), FinishFunctionArn: lambdaArn("finish") },
  });
  childArn = runner.createStateMachine({
    name: "child",
    definition: fixture("child.asl.json"),
    substitutions: { RebuildFunctionArn: lambdaArn("rebuild") },
  });
  parentArn = runner.createStateMachine({
    name: "parent",
    definition: fixture("parent.asl.json"),
    substitutions: { ChildStateMachineArn: childArn },
  });
  mapArn = runner.createStateMachine({
    name: "map",
    definition: fixture("map.asl.json"),
    substitutions: { RebuildFunctionArn: lambdaArn("rebuild") },
  });
  waitArn = runner.createStateMachine({ name: "wait", definition: fixture("wait.asl.json") });
  sfn = await startSfnEndpoint(runner);
  client = sfnClient(sfn.url);
});

afterAll(async () => {
  await runner.stopAll();
  client.destroy();
  await sfn.close();
  await lambda.close();
  for (const key of ENV_KEYS) {
    if (previousEnv[key] === undefined) delete process.env[key];
    else process.env[key] = previousEnv[key];
  }
});

beforeEach(() => {
  behaviour = {};
  lambda.invocations.length = 0;
});
afterEach(async () => {
  await runner.stopAll();
});

async function start(stateMachineArn: string, input: unknown, name?: string): Promise<string> {
  const out = await client.send(
    new StartExecutionCommand({ stateMachineArn, input: JSON.stringify(input), ...(name ? { name } : {}) }),
  );
  return out.executionArn!;
}

async function history(executionArn: string): Promise<HistoryEvent[]> {
  const out = await client.send(new GetExecutionHistoryCommand({ executionArn }));
  return out.events ?? [];
}

describe("createStateMachine", () => {
  it("fills the DefinitionSubstitutions placeholders and exposes the definition", async () => {
    const out = await client.send(new DescribeStateMachineCommand({ stateMachineArn: twoStepArn }));
    expect(out.stateMachineArn).toBe("arn:aws:states:us-east-1:000000000000:stateMachine:two-step");
    expect(out.definition).toContain(lambdaArn("prepare"));
    expect(out.definition).not.toContain("${");
    expect(out.creationDate).toBeInstanceOf(Date);
    const list = await client.send(new ListStateMachinesCommand({}));
    expect(list.stateMachines?.map((m) => m.name).sort()).toEqual([
      "child",
      "map",
      "parent",
      "two-step",
      "wait",
    ]);
  });

  it("serves a client configured only by AWS_ENDPOINT_URL_SFN", async () => {
    process.env.AWS_ENDPOINT_URL_SFN = sfn.url;
    const envClient = new SFNClient({ region: "us-east-1", maxAttempts: 1 });
    try {
      const out = await envClient.send(new DescribeStateMachineCommand({ stateMachineArn: waitArn }));
      expect(out.name).toBe("wait");
    } finally {
      envClient.destroy();
      delete process.env.AWS_ENDPOINT_URL_SFN;
    }
  });

  it("rejects a missing substitution and an invalid definition with the validator's messages", () => {
    expect(() =>
      runner.createStateMachine({
        name: "bad1",
        definition: fixture("two-step.asl.json"),
        substitutions: {},
      }),
    ).toThrow(/PrepareFunctionArn, FinishFunctionArn/);
    expect(() =>
      runner.createStateMachine({
        name: "bad2",
        definition: { StartAt: "A", States: { A: { Type: "Pass", Next: "Nowhere" } } },
      }),
    ).toThrow(/InvalidDefinition|Nowhere/);
    try {
      runner.createStateMachine({
        name: "bad3",
        definition: { StartAt: "A", States: { A: { Type: "Bogus" } } },
      });
      expect.unreachable();
    } catch (err) {
      expect((err as Error).name).toBe("InvalidDefinition");
    }
  });
});

describe("Lambda tasks, Retry and Catch", () => {
  it("runs two Lambda tasks through the Lambda endpoint, retrying HostBusy with backoff", async () => {
    let calls = 0;
    behaviour.prepare = async (event) => {
      calls++;
      if (calls < 3) throw new NamedError("HostBusy", `busy ${calls}`);
      return { host: "kvm-2", saw: (event as { vm: string }).vm };
    };
    behaviour.finish = async (event) => ({ done: true, from: event });

    const arn = await start(twoStepArn, { vm: "vm-1" });
    const done = await runner.waitForExecution(arn, 10_000);
    expect(done.status).toBe("SUCCEEDED");
    expect(JSON.parse(done.output!)).toEqual({
      done: true,
      from: { vm: "vm-1", prepared: { host: "kvm-2", saw: "vm-1" } },
    });

    const prepares = lambda.invocations.filter((i) => i.functionName === "prepare");
    expect(prepares.map((i) => i.status)).toEqual(["failed", "failed", "succeeded"]);
    // IntervalSeconds 2 * 0.01 = 20 ms, then BackoffRate 2 -> 40 ms.
    const gap1 = prepares[1]!.startedAt.getTime() - prepares[0]!.endedAt!.getTime();
    const gap2 = prepares[2]!.startedAt.getTime() - prepares[1]!.endedAt!.getTime();
    expect(gap1).toBeGreaterThanOrEqual(15);
    expect(gap2).toBeGreaterThanOrEqual(35);
    expect(gap2).toBeLessThan(2000);

    const events = await history(arn);
    const types = events.map((e) => e.type);
    expect(types).toEqual([
      "ExecutionStarted",
      "TaskStateEntered",
      "TaskFailed",
      "TaskFailed",
      "TaskStateExited",
      "TaskStateEntered",
      "TaskStateExited",
      "ExecutionSucceeded",
    ]);
    expect(events.map((e) => e.id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(events.map((e) => e.previousEventId)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    const times = events.map((e) => e.timestamp!.getTime());
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    expect(times.at(-1)! - times[0]!).toBeGreaterThanOrEqual(50);
    expect(events[1]!.stateEnteredEventDetails).toMatchObject({ name: "Prepare", input: '{"vm":"vm-1"}' });
    expect(events[2]!.taskFailedEventDetails).toMatchObject({
      error: "HostBusy",
      resourceType: "lambda",
      resource: lambdaArn("prepare"),
    });
    expect(JSON.parse(events[2]!.taskFailedEventDetails!.cause!)).toMatchObject({
      errorType: "HostBusy",
      errorMessage: "busy 1",
    });
    expect(events[6]!.stateExitedEventDetails?.name).toBe("Finish");
    expect(events[0]!.executionStartedEventDetails?.input).toBe('{"vm":"vm-1"}');
  });

  it("routes InstanceExists through Catch to the Fail state", async () => {
    behaviour.prepare = async () => {
      throw new NamedError("InstanceExists", "vm-9 is already on kvm-3");
    };
    behaviour.finish = async () => ({ unexpected: true });

    const arn = await start(twoStepArn, { vm: "vm-9" });
    await runner.waitForExecution(arn, 10_000);
    const described = await client.send(new DescribeExecutionCommand({ executionArn: arn }));
    expect(described.status).toBe("FAILED");
    expect(described.error).toBe("RebuildFailed");
    expect(described.cause).toBe("the instance already exists");
    expect(described.stopDate!.getTime()).toBeGreaterThanOrEqual(described.startDate!.getTime());
    expect(lambda.invocations.map((i) => i.functionName)).toEqual(["prepare"]); // no retry, Finish skipped

    const events = await history(arn);
    expect(events.map((e) => e.type)).toEqual([
      "ExecutionStarted",
      "TaskStateEntered",
      "TaskFailed",
      "TaskStateExited",
      "PassStateEntered",
      "PassStateExited",
      "FailStateEntered",
      "ExecutionFailed",
    ]);
    // The caught error reaches the next state as AWS passes it: Error = errorType, Cause = the payload JSON.
    const passInput = JSON.parse(events[4]!.stateEnteredEventDetails!.input!) as {
      error: { Error: string; Cause: string };
    };
    expect(passInput.error.Error).toBe("InstanceExists");
    expect(JSON.parse(passInput.error.Cause)).toMatchObject({
      errorType: "InstanceExists",
      errorMessage: "vm-9 is already on kvm-3",
    });
    expect(events.at(-1)!.executionFailedEventDetails).toEqual({
      error: "RebuildFailed",
      cause: "the instance already exists",
    });
  });

  it("fails the execution with the function's error when nothing catches it", async () => {
    behaviour.prepare = async () => ({ ok: true });
    behaviour.finish = async () => {
      throw new NamedError("DiskFull", "no space on /var/lib/libvirt");
    };
    const arn = await start(twoStepArn, {});
    const done = await runner.waitForExecution(arn, 10_000);
    expect(done.status).toBe("FAILED");
    expect(done.error).toBe("DiskFull");
    expect(JSON.parse(done.cause!)).toMatchObject({ errorMessage: "no space on /var/lib/libvirt" });
  });

  it("reports an unknown function as Lambda.ResourceNotFoundException", async () => {
    const arn = runner.createStateMachine({
      name: "missing-fn",
      definition: { StartAt: "T", States: { T: { Type: "Task", Resource: lambdaArn("nope"), End: true } } },
    });
    const done = await runner.waitForExecution(
      runner.startExecution({ stateMachineArn: arn }).executionArn!,
      10_000,
    );
    expect(done.status).toBe("FAILED");
    expect(done.error).toBe("Lambda.ResourceNotFoundException");
  });
});

describe("history pagination", () => {
  it("pages with maxResults/nextToken and reverses with reverseOrder", async () => {
    behaviour.prepare = async () => ({});
    behaviour.finish = async () => ({});
    const arn = await start(twoStepArn, {});
    await runner.waitForExecution(arn, 10_000);
    const all = await history(arn);
    expect(all).toHaveLength(6);
    const paged: number[] = [];
    let nextToken: string | undefined;
    let pages = 0;
    do {
      const out = await client.send(
        new GetExecutionHistoryCommand({ executionArn: arn, maxResults: 4, nextToken }),
      );
      paged.push(...(out.events ?? []).map((e) => e.id!));
      nextToken = out.nextToken;
      pages++;
    } while (nextToken);
    expect(pages).toBe(2);
    expect(paged).toEqual([1, 2, 3, 4, 5, 6]);
    const reversed = await client.send(
      new GetExecutionHistoryCommand({ executionArn: arn, reverseOrder: true }),
    );
    expect(reversed.events?.map((e) => e.id)).toEqual([6, 5, 4, 3, 2, 1]);
    expect(reversed.events?.[0]?.type).toBe("ExecutionSucceeded");
  });
});

describe("execution names", () => {
  it("is idempotent for the same name and input while running, and ExecutionAlreadyExists otherwise", async () => {
    const first = await start(waitArn, { vm: "a" }, "evacuate-kvm-1");
    expect(first).toBe("arn:aws:states:us-east-1:000000000000:execution:wait:evacuate-kvm-1");
    const again = await start(waitArn, { vm: "a" }, "evacuate-kvm-1");
    expect(again).toBe(first);
    await expect(start(waitArn, { vm: "b" }, "evacuate-kvm-1")).rejects.toBeInstanceOf(
      ExecutionAlreadyExists,
    );

    await client.send(new StopExecutionCommand({ executionArn: first }));
    const err = await start(waitArn, { vm: "a" }, "evacuate-kvm-1").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExecutionAlreadyExists);
    expect((err as Error).message).toContain("evacuate-kvm-1");

    // The name is per state machine.
    const other = await start(mapArn, { vms: [] }, "evacuate-kvm-1");
    expect(other).toBe("arn:aws:states:us-east-1:000000000000:execution:map:evacuate-kvm-1");
  });

  it("answers unknown state machines and executions with the SDK's named exceptions", async () => {
    await expect(
      client.send(new StartExecutionCommand({ stateMachineArn: `${waitArn}-nope`, input: "{}" })),
    ).rejects.toBeInstanceOf(StateMachineDoesNotExist);
    await expect(
      client.send(
        new DescribeExecutionCommand({ executionArn: `${waitArn.replace("stateMachine", "execution")}:x` }),
      ),
    ).rejects.toBeInstanceOf(ExecutionDoesNotExist);
  });
});

describe("StopExecution", () => {
  it("aborts a running execution", async () => {
    const arn = await start(waitArn, { vm: "z" });
    await sleep(20);
    expect((await client.send(new DescribeExecutionCommand({ executionArn: arn }))).status).toBe("RUNNING");
    const running = await client.send(
      new ListExecutionsCommand({ stateMachineArn: waitArn, statusFilter: "RUNNING" }),
    );
    expect(running.executions?.map((e) => e.executionArn)).toContain(arn);

    const stopped = await client.send(
      new StopExecutionCommand({ executionArn: arn, error: "Operator", cause: "cancelled by test" }),
    );
    expect(stopped.stopDate).toBeInstanceOf(Date);
    const described = await client.send(new DescribeExecutionCommand({ executionArn: arn }));
    expect(described.status).toBe("ABORTED");
    expect(described.error).toBe("Operator");
    const events = await history(arn);
    expect(events.map((e) => e.type)).toEqual(["ExecutionStarted", "WaitStateEntered", "ExecutionAborted"]);
    expect(events.at(-1)!.executionAbortedEventDetails).toEqual({
      error: "Operator",
      cause: "cancelled by test",
    });
    const aborted = await client.send(
      new ListExecutionsCommand({ stateMachineArn: waitArn, statusFilter: "ABORTED" }),
    );
    expect(aborted.executions?.find((e) => e.executionArn === arn)?.stopDate).toBeInstanceOf(Date);
  });
});

describe("startExecution.sync:2", () => {
  it("runs the child through the same runner and returns its output", async () => {
    behaviour.rebuild = async (event) => ({ rebuilt: (event as { vm: string }).vm, on: "kvm-7" });
    const arn = await start(parentArn, { vm: "vm-42", childName: "rebuild-vm-42" });
    const done = await runner.waitForExecution(arn, 10_000);
    expect(done.status).toBe("SUCCEEDED");
    const childExecutionArn = "arn:aws:states:us-east-1:000000000000:execution:child:rebuild-vm-42";
    expect(JSON.parse(done.output!)).toEqual({
      childOutput: { rebuilt: "vm-42", on: "kvm-7" },
      childStatus: "SUCCEEDED",
      childArn: childExecutionArn,
    });
    const child = await client.send(new DescribeExecutionCommand({ executionArn: childExecutionArn }));
    expect(child.status).toBe("SUCCEEDED");
    expect(JSON.parse(child.input!)).toEqual({
      vm: "vm-42",
      AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID: arn,
    });
  });

  it("fails the parent task with States.TaskFailed when the child fails", async () => {
    behaviour.rebuild = async () => {
      throw new NamedError("NoValidHost", "no host has room");
    };
    const arn = await start(parentArn, { vm: "vm-43", childName: "rebuild-vm-43" });
    const done = await runner.waitForExecution(arn, 10_000);
    expect(done.status).toBe("SUCCEEDED"); // the parent catches States.TaskFailed
    const output = JSON.parse(done.output!) as { childError: { Error: string; Cause: string } };
    expect(output.childError.Error).toBe("States.TaskFailed");
    expect(JSON.parse(output.childError.Cause)).toMatchObject({ Status: "FAILED", Error: "NoValidHost" });
  });

  it("stops a running child when the parent is stopped", async () => {
    const hold = gate();
    behaviour.rebuild = async () => {
      await hold.promise;
      return {};
    };
    const arn = await start(parentArn, { vm: "vm-44", childName: "rebuild-vm-44" });
    const childExecutionArn = "arn:aws:states:us-east-1:000000000000:execution:child:rebuild-vm-44";
    for (let i = 0; i < 100 && lambda.invocations.length === 0; i++) await sleep(10);
    await client.send(new StopExecutionCommand({ executionArn: arn }));
    hold.open();
    expect(runner.describeExecution(arn).status).toBe("ABORTED");
    expect(runner.describeExecution(childExecutionArn).status).toBe("ABORTED");
  });
});

describe("Map with MaxConcurrency", () => {
  it("never runs more than MaxConcurrency iterations at once and keeps result order", async () => {
    let active = 0;
    let peak = 0;
    behaviour.rebuild = async (event) => {
      active++;
      peak = Math.max(peak, active);
      await sleep(30);
      active--;
      return { vm: event };
    };
    const vms = ["a", "b", "c", "d", "e"];
    const arn = await start(mapArn, { vms });
    const done = await runner.waitForExecution(arn, 10_000);
    expect(done.status).toBe("SUCCEEDED");
    expect(JSON.parse(done.output!)).toEqual({ vms, results: vms.map((vm) => ({ vm })) });
    expect(peak).toBe(2);
    expect(lambda.invocations).toHaveLength(5);
    const types = (await history(arn)).map((e) => e.type);
    expect(types[0]).toBe("ExecutionStarted");
    expect(types.slice(0, 3)).toEqual(["ExecutionStarted", "MapStateEntered", "MapStateStarted"]);
    expect(types.filter((t) => t === "MapIterationStarted").length).toBeGreaterThanOrEqual(4);
    expect(types.slice(-3)).toEqual(["MapStateSucceeded", "MapStateExited", "ExecutionSucceeded"]);
  });
});

describe("live progress", () => {
  it("notifies listeners and watchers of every event in order", async () => {
    behaviour.prepare = async () => ({});
    behaviour.finish = async () => ({});
    const seen: ExecutionEventNotice[] = [];
    const unsubscribe = runner.onEvent((n) => seen.push(n));
    const arn = runner.startExecution({ stateMachineArn: twoStepArn, input: { vm: "w" } }).executionArn!;
    const watched: string[] = [];
    for await (const event of runner.watchExecution(arn)) watched.push(event.type!);
    unsubscribe();
    expect(watched).toEqual([
      "ExecutionStarted",
      "TaskStateEntered",
      "TaskStateExited",
      "TaskStateEntered",
      "TaskStateExited",
      "ExecutionSucceeded",
    ]);
    expect(seen.filter((n) => n.executionArn === arn).map((n) => n.event.type)).toEqual(watched);
    expect(seen.every((n) => n.stateMachineArn === twoStepArn)).toBe(true);
  });
});
