/**
 * Every Lambda of `ALL_FUNCTIONS` is operable on a failure: invoked as the runtime invokes it (its
 * handler from its entry module, with a Lambda context), with every AWS dependency refusing (each
 * `AWS_ENDPOINT_URL_<SERVICE>` is a server that resets every connection), it writes a structured log
 * line saying it failed, with its error's name and the correlation keys of its input, read from stdout
 * as CloudWatch Logs would read it. A function added to the definitions is invoked here too: its folder's
 * sample event serves it, or the test says which sample it lacks.
 */
import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ALL_FUNCTIONS, type FunctionSpec } from "#shared/definitions/functions.js";
import { heartbeatAlarmName } from "#shared/definitions/heartbeat.js";
import { PROJECT_ROOT, STATE_MACHINES, stateMachineArn } from "#shared/definitions/state-machines.js";
import { DOMAIN_STOPPED_EVENT } from "#shared/domain/instance-failure.js";
import { resetDeps } from "#shared/lambda/runtime.js";
import { makeInstance } from "#test/support/fixtures.js";
import { logAsInAws, useLogLines } from "#test/support/log-lines.js";
import { acceptedFlow } from "#test/support/step-harness.js";

const SERVICES = ["DYNAMODB", "SSM", "SFN", "EVENTBRIDGE", "CLOUDWATCH", "EC2", "LAMBDA"];

const host = "host-a";
const target = "host-b";
const instance = makeInstance({ host, node: host });
const flow = acceptedFlow(instance, { destHost: target, attemptedHosts: [target] });
const incidentId = "inc-0001";
const recoveryId = randomUUID();
const executionArn = `arn:aws:states:us-east-1:000000000000:execution:lazarus-x:${randomUUID()}`;
const report = {
  host,
  instanceUuid: instance.uuid,
  domain: `instance-${instance.uuid}`,
  event: "Stopped",
  reason: "Crashed",
  stoppedAt: "2026-01-01T00:00:00.000Z",
};

/** A sample event and the correlation keys its log line must carry. */
interface Sample {
  event: unknown;
  keys: Record<string, string>;
}

const FLOW: Sample = {
  event: flow,
  keys: {
    requestId: flow.requestId,
    migrationId: flow.migrationId,
    instanceUuid: instance.uuid,
    sourceHost: host,
    targetHost: target,
    execution: flow.executionArn,
  },
};
const HOST_EVACUATION: Sample = {
  event: {
    host,
    incidentId,
    source: "alarm",
    reason: null,
    openedAt: "2026-01-01T00:00:00.000Z",
    outcome: "opened",
    // What the later steps need of the earlier ones (probeHost the heartbeat, holdIncident the hold).
    heartbeat: { verdict: "probe", ageSeconds: 60, reason: "stale" },
    massFailure: { verdict: "hold", hosts: [host], reason: "test" },
  },
  keys: { host, incidentId },
};
const HOST_RECOVERY: Sample = { event: { host, incidentId }, keys: { host, incidentId } };
const INSTANCE_RECOVERY: Sample = {
  event: {
    recoveryId,
    report,
    executionArn,
    outcome: "recover",
    message: null,
    relocation: { requestId: flow.requestId, sourceHost: host },
  },
  keys: { recoveryId, instanceUuid: instance.uuid, host, execution: executionArn },
};

const migrationFlow = {
  requestId: flow.requestId,
  instanceUuid: instance.uuid,
  action: "migrate",
  live: true,
  targetHost: target,
  plannedHost: null,
  autoConfirm: false,
  migrationId: flow.requestId,
  executionArn,
  operation: "live-migration",
  sourceHost: host,
  originalVmState: "active",
  originalPowerState: "running",
  destHost: target,
  attemptedHosts: [],
};
const MIGRATION: Sample = {
  event: migrationFlow,
  keys: {
    requestId: flow.requestId,
    migrationId: flow.requestId,
    instanceUuid: instance.uuid,
    sourceHost: host,
    targetHost: target,
    execution: executionArn,
  },
};
const DRAIN: Sample = {
  event: { host, mode: "drain", reason: null, executionName: "drain-host-a-1" },
  keys: { host, execution: "drain-host-a-1" },
};
/** A boot's state once placed (the boot flow's steps), and a delete's (the delete flow's). */
const build = {
  instanceUuid: instance.uuid,
  name: instance.name,
  flavorId: "m1.nano",
  imageRef: "cirros-0.6",
  availabilityZone: null,
  host: null,
  ports: [{ network: "default" }],
  volumes: [],
  serverGroup: null,
  metadata: {},
  haEnabled: true,
  stopped: false,
};
const BOOT: Sample = {
  event: { requestId: flow.requestId, build, executionArn, host: target },
  keys: { requestId: flow.requestId, instanceUuid: instance.uuid, host: target, execution: executionArn },
};
const DELETE: Sample = {
  event: { requestId: flow.requestId, instanceUuid: instance.uuid, executionArn, host },
  keys: { requestId: flow.requestId, instanceUuid: instance.uuid, host, execution: executionArn },
};

/** The sample of each entry module (its handlers' usual input), and of handlers taking another. */
const BY_ENTRY: Record<string, Sample> = {
  "functions/conductor/handlers.ts": FLOW,
  "functions/compute-steps/handlers.ts": FLOW,
  "functions/host-failure/handlers.ts": HOST_EVACUATION,
  "functions/instance-failure/handlers.ts": INSTANCE_RECOVERY,
  "functions/sweeper/handlers.ts": { event: {}, keys: {} },
  "functions/migration/handlers.ts": MIGRATION,
  "functions/host-maintenance/handlers.ts": DRAIN,
  "functions/host-power/handlers.ts": {
    event: { host, action: "status", requestId: flow.requestId, requestedBy: "operator" },
    keys: { host, requestId: flow.requestId },
  },
};
const BY_HANDLER: Record<string, Sample> = {
  accept: {
    event: {
      request: { requestId: flow.requestId, instanceUuid: instance.uuid, recreate: true },
      executionArn,
    },
    keys: { requestId: flow.requestId, instanceUuid: instance.uuid, execution: executionArn },
  },
  acceptMigration: {
    event: { request: { requestId: flow.requestId, instanceUuid: instance.uuid, live: true }, executionArn },
    keys: { requestId: flow.requestId, instanceUuid: instance.uuid, execution: executionArn },
  },
  startDrain: {
    event: { request: { host, mode: "drain" }, executionName: "drain-host-a-1" },
    keys: { host, execution: "drain-host-a-1" },
  },
  confirmMove: {
    event: {
      host,
      mode: "drain",
      item: {
        instanceUuid: instance.uuid,
        name: instance.name,
        requestId: flow.requestId,
        haPriority: 0,
        vmState: "active",
        live: true,
        plannedHost: target,
        targetHost: null,
      },
    },
    keys: { host, instanceUuid: instance.uuid, requestId: flow.requestId },
  },
  // With a proof of the host's death: it then looks for migrations off the host.
  endMigrationsFromHost: {
    event: { ...(HOST_EVACUATION.event as object), proof: { proof: "power", reason: "powered off" } },
    keys: HOST_EVACUATION.keys,
  },
  onAlarmStateChange: {
    event: {
      source: "aws.cloudwatch",
      "detail-type": "CloudWatch Alarm State Change",
      detail: {
        alarmName: heartbeatAlarmName(host),
        state: { value: "ALARM", timestamp: "2026-01-01T00:00:00.000+0000" },
        previousState: { value: "OK", timestamp: "2025-12-31T23:59:00.000+0000" },
      },
    },
    keys: { host },
  },
  openIncident: {
    event: { request: { host, incidentId }, executionName: "evacuate-host-a-1" },
    keys: { host, incidentId, execution: "evacuate-host-a-1" },
  },
  confirmEvacuation: {
    event: {
      sourceHost: host,
      item: {
        instanceUuid: instance.uuid,
        name: instance.name,
        requestId: flow.requestId,
        haPriority: 0,
        vmState: "active",
      },
    },
    keys: { sourceHost: host, instanceUuid: instance.uuid, requestId: flow.requestId },
  },
  // With something to do: a root disk this flow made, instances waiting for proof.
  cleanUpTarget: { event: { ...flow, createdRootDisk: true }, keys: FLOW.keys },
  awaitProof: {
    event: {
      ...(HOST_EVACUATION.event as object),
      awaitingProof: [{ instanceUuid: instance.uuid, name: instance.name, reason: "no proof yet" }],
      proof: { proof: null, reason: "no proof yet" },
    },
    keys: HOST_EVACUATION.keys,
  },
  acceptBoot: {
    event: { request: { requestId: flow.requestId, build }, executionArn },
    keys: { requestId: flow.requestId, instanceUuid: instance.uuid, execution: executionArn },
  },
  scheduleBoot: BOOT,
  prepareBoot: BOOT,
  bootRootDisk: BOOT,
  spawnBoot: BOOT,
  finishBoot: BOOT,
  cleanUpBoot: BOOT,
  handleBootFailure: {
    event: { ...(BOOT.event as object), failure: { spawnBoot: { Error: "SpawnFailed", Cause: "no" } } },
    keys: BOOT.keys,
  },
  acceptDelete: {
    event: { request: { requestId: flow.requestId, instanceUuid: instance.uuid }, executionArn },
    keys: { requestId: flow.requestId, instanceUuid: instance.uuid, execution: executionArn },
  },
  destroyInstance: DELETE,
  finishDelete: DELETE,
  handleDeleteFailure: {
    event: {
      ...(DELETE.event as object),
      failure: { destroyInstance: { Error: "HostUnreachable", Cause: "no" } },
    },
    keys: DELETE.keys,
  },
  checkRecovery: HOST_RECOVERY,
  cleanStaleDomains: HOST_RECOVERY,
  releaseHostRecords: HOST_RECOVERY,
  finishRecovery: HOST_RECOVERY,
  onDomainStopped: {
    event: {
      source: DOMAIN_STOPPED_EVENT.source,
      "detail-type": DOMAIN_STOPPED_EVENT.detailType,
      detail: report,
    },
    keys: { host, instanceUuid: instance.uuid },
  },
  openRecovery: {
    event: { request: { recoveryId, report }, executionArn },
    keys: { recoveryId, host, instanceUuid: instance.uuid, execution: executionArn },
  },
  register: { event: { managedInstanceId: "mi-0123456789abcdef0", name: host }, keys: { host } },
  deregister: { event: { host }, keys: { host } },
  adopt: { event: { host }, keys: { host } },
  sync: { event: { hosts: [host] }, keys: { hosts: host } },
  api: {
    event: {
      httpMethod: "GET",
      path: `/v2.1/servers/${instance.uuid}`,
      headers: { host: "api.test" },
      body: null,
      requestContext: { requestId: "api-request-1", stage: "test" },
    },
    keys: { apiRequestId: "api-request-1", instanceUuid: instance.uuid, method: "GET" },
  },
};

function sampleOf(f: FunctionSpec): Sample | undefined {
  return BY_HANDLER[f.handler] ?? BY_ENTRY[f.entry];
}

let refusing: Server;
const savedEnv = { ...process.env };

beforeAll(async () => {
  // Accepts and resets every connection: every AWS call fails at once, as an unreachable service does.
  refusing = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => refusing.listen(0, "127.0.0.1", resolve));
  const { port } = refusing.address() as { port: number };
  for (const s of SERVICES) process.env[`AWS_ENDPOINT_URL_${s}`] = `http://127.0.0.1:${port}`;
  for (const m of STATE_MACHINES) process.env[m.arnEnv] = stateMachineArn(`lazarus-${m.id}`);
  Object.assign(process.env, {
    AWS_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: "test",
    AWS_SECRET_ACCESS_KEY: "test",
    // One attempt per call, and short host-command deadlines: each failure comes at once.
    AWS_MAX_ATTEMPTS: "1",
    LAZARUS_HOST_COMMAND_DEADLINE_MS: "500",
    LAZARUS_HOST_PROBE_DEADLINE_MS: "500",
  });
  logAsInAws();
  resetDeps();
});

afterAll(async () => {
  process.env = savedEnv;
  resetDeps();
  await new Promise<void>((resolve) => refusing.close(() => resolve()));
});

const logs = useLogLines();

describe("every Lambda logs its failure with its correlation keys", () => {
  it("has a sample event for every function of the definitions", () => {
    expect(ALL_FUNCTIONS.filter((f) => !sampleOf(f)).map((f) => `${f.id} (${f.entry} ${f.handler})`)).toEqual(
      [],
    );
    expect(ALL_FUNCTIONS.length).toBeGreaterThanOrEqual(50);
  });

  it.each(ALL_FUNCTIONS.map((f) => [f.id, f] as const))("%s", async (_id, f) => {
    const sample = sampleOf(f);
    if (!sample) throw new Error(`no sample event for ${f.id}`);
    const module = (await import(new URL(f.entry, PROJECT_ROOT).href)) as Record<string, unknown>;
    const handler = module[f.handler] as (event: unknown, context: unknown) => Promise<unknown>;
    const context = {
      functionName: `lazarus-${f.id}`,
      functionVersion: "$LATEST",
      invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:lazarus-${f.id}`,
      awsRequestId: randomUUID(),
    };

    const outcome = await handler(structuredClone(sample.event), context).then(
      (result) => ({ result }),
      (error: unknown) => ({ error }),
    );

    const mine = logs.lines.filter((l) => l.function_request_id === context.awsRequestId);
    const failure = mine.find((l) => l.message === "step failed" || l.message === "unhandled API error");
    expect(
      failure,
      `${f.id}: ${JSON.stringify(outcome)}\n${mine.map((l) => JSON.stringify(l)).join("\n")}`,
    ).toBeDefined();
    expect(["WARN", "ERROR"]).toContain(failure!.level);
    expect(failure).toMatchObject({ function_name: context.functionName, ...sample.keys });
    expect(typeof failure!.errorName).toBe("string");
    if (f.role === "api") {
      // The API answers every error itself: nova's fault, a 5xx here.
      expect((outcome as { result?: { statusCode: number } }).result?.statusCode).toBeGreaterThanOrEqual(500);
    } else {
      expect(outcome).toHaveProperty("error");
      expect(failure!.errorName).toBe((outcome as { error: Error }).error.name);
    }
  });
});
