/**
 * The Lambdas' logs and metrics, read as CloudWatch Logs would: a real step handler runs against
 * dynalite and the local SSM endpoint (real SDK clients, real SsmHostExecutor); this test answers the
 * host commands as the host's agent would (the agent protocol of local/ssm), and reads the JSON lines
 * the handler writes on stdout.
 */
import { randomUUID } from "node:crypto";
import { SSMClient } from "@aws-sdk/client-ssm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkInstanceNotOnTarget } from "#functions/compute-steps/handlers.js";
import { deployHostDocuments } from "#local/ssm/host-documents.js";
import { type SsmEndpoint, startSsmEndpoint } from "#local/ssm/ssm-endpoint.js";
import type { FlowState } from "#shared/flow/contract.js";
import { terminalLine } from "#shared/lambda/loggers.js";
import { resetDeps } from "#shared/lambda/runtime.js";
import { TABLE_IDS, tableEnvVar } from "#shared/store/tables.js";
import { startTestDynamo, type TestDynamo } from "#test/support/dynamo.js";
import { makeHost, makeInstance } from "#test/support/fixtures.js";
import { logAsInAws, useLogLines } from "#test/support/log-lines.js";
import { acceptedFlow } from "#test/support/step-harness.js";

let db: TestDynamo;
let ssm: SsmEndpoint;
let agentStopped = false;
let agentLoop: Promise<void>;
/** Exit code the "agent" answers every command with. */
let exitCode = 1;
/** What it prints (a target probe answers `domain=present|absent`). */
let stdout = "";
const savedEnv = { ...process.env };

const target = makeHost({ name: "host-b" });
const source = makeHost({ name: "host-a" });

/** Answers every command for `instanceId` with `exitCode`, as local/ssm/agent.ts reports a script's end. */
async function answerCommands(endpoint: string, instanceId: string): Promise<void> {
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${endpoint}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    return (await res.json()) as { commands?: { commandId: string }[] };
  };
  while (!agentStopped) {
    const work = await post("/agent/poll", { instanceId }).catch(() => ({ commands: [] }));
    for (const c of work.commands ?? []) {
      await post("/agent/result", { instanceId, commandId: c.commandId, exitCode, stdout, stderr: "" });
    }
  }
}

beforeAll(async () => {
  db = await startTestDynamo();
  ssm = await startSsmEndpoint({ agentPollWaitMs: 100, invocationVisibilityDelayMs: 10 });
  // The stack's host documents, as the local cloud deploys them.
  const client = new SSMClient({
    endpoint: ssm.url,
    region: "us-east-1",
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
  });
  await deployHostDocuments(client, "lazarus");
  client.destroy();
  ssm.registerInstance(target.managedInstanceId, target.name);
  agentLoop = answerCommands(ssm.url, target.managedInstanceId);
  await db.stores.hosts.put(target);
  await db.stores.hosts.put(source);

  // The handler builds its clients and its Logger from the environment, as in a Lambda container.
  for (const id of TABLE_IDS) process.env[tableEnvVar(id)] = db.tables[id];
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_DYNAMODB: db.endpoint,
    AWS_ENDPOINT_URL_SSM: ssm.url,
    AWS_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: "test",
    AWS_SECRET_ACCESS_KEY: "test",
  });
  logAsInAws();
  resetDeps();
});

afterAll(async () => {
  agentStopped = true;
  await agentLoop;
  await ssm.close();
  await db.close();
  process.env = savedEnv;
  resetDeps();
});

const logs = useLogLines();

async function evacuationState(): Promise<FlowState> {
  const instance = makeInstance({ host: source.name, node: source.name });
  await db.stores.instances.create(instance);
  return acceptedFlow(instance, { destHost: target.name, attemptedHosts: [target.name] });
}

const context = (name: string) => ({
  functionName: `lazarus-${name}`,
  functionVersion: "$LATEST",
  invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:lazarus-${name}`,
  awsRequestId: randomUUID(),
});

const logLines = () => logs.lines.filter((l) => typeof l.message === "string");
const emf = () => logs.lines.filter((l) => typeof l._aws === "object");

describe("step handler logs (Powertools, CloudWatch Logs JSON)", () => {
  it("every line of an invocation carries its correlation keys; one line per host command", async () => {
    exitCode = 0; // `instance-exists` probe: not defined on the target
    stdout = "domain=absent\ndisk=present\nimage=present\n";
    const state = await evacuationState();
    const ctx = context("check-instance-not-on-target");
    await expect(checkInstanceNotOnTarget(state, ctx)).resolves.toMatchObject({ requestId: state.requestId });

    const mine = logLines().filter((l) => l.function_request_id === ctx.awsRequestId);
    expect(mine.map((l) => l.message)).toEqual(["step started", "host command", "step finished"]);
    for (const l of mine) {
      expect(l).toMatchObject({
        level: "INFO",
        service: "lazarus",
        function_name: ctx.functionName,
        step: "checkInstanceNotOnTarget",
        requestId: state.requestId,
        migrationId: state.migrationId,
        instanceUuid: state.instanceUuid,
        sourceHost: source.name,
        targetHost: target.name,
      });
      expect(Number.isNaN(Date.parse(String(l.timestamp)))).toBe(false);
    }
    const command = mine[1]!;
    expect(command).toMatchObject({
      host: target.name,
      managedInstanceId: target.managedInstanceId,
      document: "probe-target",
      what: `instance-exists ${state.instanceUuid}`,
      exitCode: 0,
      probe: true,
    });
    expect(command.commandId).toMatch(/^[0-9a-f-]{36}$/);
    expect(command.durationMs).toEqual(expect.any(Number));
    expect(mine[2]!.durationMs).toEqual(expect.any(Number));

    // EMF: the step's duration and the command's latency, per step.
    const metrics = emf().find((m) => "StepDuration" in m);
    expect(metrics).toMatchObject({ service: "lazarus", step: "checkInstanceNotOnTarget" });
    expect(metrics!.HostCommandDuration).toEqual(expect.any(Number));
    const aws = metrics!._aws as { CloudWatchMetrics: { Namespace: string; Dimensions: string[][] }[] };
    expect(aws.CloudWatchMetrics[0]!.Namespace).toBe("Lazarus");
    expect(aws.CloudWatchMetrics[0]!.Dimensions[0]).toEqual(expect.arrayContaining(["service", "step"]));
  });

  it("a failing step logs its error name, and counts the failure by error name", async () => {
    exitCode = 0; // the instance is already defined on the target: InstanceExists
    stdout = "domain=present\ndisk=present\nimage=present\n";
    const state = await evacuationState();
    const ctx = context("check-instance-not-on-target");
    await expect(checkInstanceNotOnTarget(state, ctx)).rejects.toMatchObject({ name: "InstanceExists" });

    const failed = logLines().find(
      (l) => l.function_request_id === ctx.awsRequestId && l.message === "step failed",
    );
    expect(failed).toMatchObject({
      level: "WARN",
      errorName: "InstanceExists",
      requestId: state.requestId,
      instanceUuid: state.instanceUuid,
      targetHost: target.name,
    });
    // A LazarusError is logged as it serialises itself (the shape the Lambda runtime reports).
    expect(failed!.error).toMatchObject({ errorType: "InstanceExists", details: { host: target.name } });
    expect(emf().find((m) => "StepFailures" in m)).toMatchObject({
      errorName: "InstanceExists",
      step: "checkInstanceNotOnTarget",
      StepFailures: 1,
    });
  });

  it("an input that fails its schema is logged with the keys it has", async () => {
    const requestId = randomUUID();
    await expect(checkInstanceNotOnTarget({ requestId, recreate: "yes" })).rejects.toMatchObject({
      name: "InvalidInput",
    });
    expect(logLines().find((l) => l.requestId === requestId && l.message === "step failed")).toMatchObject({
      errorName: "InvalidInput",
      step: "checkInstanceNotOnTarget",
    });
  });

  it("the terminal rendering keeps the keys on one line", () => {
    const line = terminalLine({
      level: "WARN",
      message: "host command",
      timestamp: "2026-01-01T12:01:02.345Z",
      service: "lazarus",
      step: "spawn",
      host: "host-b",
      what: "define 1c0f",
      exitCode: 1,
      error: { errorType: "HostCommandFailed", errorMessage: "exited 1", details: {} },
      cause: { name: "TypeError", message: "x is undefined", stack: "..." },
    });
    expect(line).toBe(
      '12:01:02.345 WARN  spawn: host command  host=host-b what="define 1c0f" exitCode=1 error="HostCommandFailed: exited 1" cause="TypeError: x is undefined"',
    );
  });
});
