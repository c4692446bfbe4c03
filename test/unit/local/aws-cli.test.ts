/**
 * The Debian AWS CLI v2 (2.9, `awscli`, installed by scripts/setup.sh) against the local endpoints, for the
 * operations Lazarus or an operator uses: CloudWatch in the query protocol this CLI speaks (describe-alarms,
 * put-metric-data, list-metrics, get-metric-statistics), SSM (send-command to tagged hosts by
 * `--targets`, list-commands), Lambda (list-functions, get-function), EventBridge (list-rules), EC2
 * (start-instances brings a stopped machine back). Each command's JSON output is parsed and checked.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { CloudWatchClient, PutMetricAlarmCommand } from "@aws-sdk/client-cloudwatch";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CloudWatchEndpoint, startCloudWatchEndpoint } from "#local/cloudwatch/cloudwatch-endpoint.js";
import { type Ec2Endpoint, startEc2Endpoint } from "#local/ec2/ec2-endpoint.js";
import { type EventsEndpoint, startEventsEndpoint } from "#local/events/events-endpoint.js";
import { type LambdaEndpoint, startLambdaEndpoint } from "#local/lambda/lambda-endpoint.js";
import { type SsmEndpoint, startSsmEndpoint } from "#local/ssm/ssm-endpoint.js";
import { HEARTBEAT_METRIC, heartbeatAlarm } from "#shared/definitions/heartbeat.js";
import { KVM_HOST_TAG } from "#shared/definitions/host-tag.js";

const AWS = "/usr/bin/aws";
let cloudwatch: CloudWatchEndpoint;
let ssm: SsmEndpoint;
let lambda: LambdaEndpoint;
let events: EventsEndpoint;
let ec2: Ec2Endpoint;
let machineOn = false;

beforeAll(async () => {
  [cloudwatch, ssm, lambda, events, ec2] = await Promise.all([
    startCloudWatchEndpoint(),
    startSsmEndpoint(),
    startLambdaEndpoint({
      handlers: { "lazarus-sweeper": async () => ({}) },
      describe: () => ({ handler: "functions/sweeper/handlers.sweep", description: "scheduled: sweeper" }),
    }),
    startEventsEndpoint(),
    startEc2Endpoint(),
  ]);
  ssm.registerInstance("mi-0000000000000000a", "host-a", { [KVM_HOST_TAG.key]: KVM_HOST_TAG.value });
  ssm.registerInstance("mi-0000000000000000b", "host-b", {});
  events.putRule({
    name: "lazarus-hostfail-on-alarm",
    eventPattern: { source: ["aws.cloudwatch"] },
    targets: [{ functionName: "lazarus-hostfail-on-alarm" }],
  });
  ec2.addInstance("i-0123456789abcdef0", {
    powerOff: async () => {
      machineOn = false;
    },
    powerOn: async () => {
      machineOn = true;
    },
    isOn: () => machineOn,
  });
  const cw = new CloudWatchClient({
    endpoint: cloudwatch.url,
    region: "us-east-1",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  });
  await cw.send(
    new PutMetricAlarmCommand(heartbeatAlarm("host-a", { periodSeconds: 10, evaluationPeriods: 2 })),
  );
  cw.destroy();
});

afterAll(async () => {
  await Promise.all([cloudwatch, ssm, lambda, events, ec2].map((e) => e?.close()));
});

/** `aws <args> --output json` against `url`, with the local credentials (or `secret`); its parsed output. */
function aws(url: string, ...args: string[]): Promise<Record<string, unknown>> {
  return awsSigned("local", url, ...args);
}

function awsSigned(secret: string, url: string, ...args: string[]): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    execFile(
      AWS,
      ["--endpoint-url", url, "--output", "json", ...args],
      {
        timeout: 60_000,
        env: {
          PATH: process.env.PATH ?? "/usr/bin:/bin",
          HOME: "/nonexistent",
          AWS_ACCESS_KEY_ID: "local",
          AWS_SECRET_ACCESS_KEY: secret,
          AWS_DEFAULT_REGION: "us-east-1",
          AWS_MAX_ATTEMPTS: "1",
          AWS_PAGER: "",
        },
      },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`aws ${args.join(" ")}: ${stderr || err.message}`));
        else resolve(stdout.trim() ? (JSON.parse(stdout) as Record<string, unknown>) : {});
      },
    );
  });
}

describe.skipIf(!existsSync(AWS))("the AWS CLI v2 of Debian against the local endpoints", () => {
  it("CloudWatch in the query protocol: put-metric-data, list-metrics, get-metric-statistics, describe-alarms", async () => {
    const at = new Date(Math.floor(Date.now() / 60_000) * 60_000 - 30_000).toISOString();
    await aws(
      cloudwatch.url,
      "cloudwatch",
      "put-metric-data",
      "--namespace",
      HEARTBEAT_METRIC.namespace,
      "--metric-name",
      HEARTBEAT_METRIC.metricName,
      "--dimensions",
      `${HEARTBEAT_METRIC.dimension}=host-7`,
      "--value",
      "2.5",
      "--timestamp",
      at,
    );
    const listed = await aws(
      cloudwatch.url,
      "cloudwatch",
      "list-metrics",
      "--namespace",
      HEARTBEAT_METRIC.namespace,
    );
    expect(listed.Metrics).toEqual([
      {
        Namespace: HEARTBEAT_METRIC.namespace,
        MetricName: HEARTBEAT_METRIC.metricName,
        Dimensions: [{ Name: HEARTBEAT_METRIC.dimension, Value: "host-7" }],
      },
    ]);
    const stats = await aws(
      cloudwatch.url,
      "cloudwatch",
      "get-metric-statistics",
      "--namespace",
      HEARTBEAT_METRIC.namespace,
      "--metric-name",
      HEARTBEAT_METRIC.metricName,
      "--dimensions",
      `Name=${HEARTBEAT_METRIC.dimension},Value=host-7`,
      "--start-time",
      new Date(Date.parse(at) - 60_000).toISOString(),
      "--end-time",
      new Date(Date.parse(at) + 60_000).toISOString(),
      "--period",
      "60",
      "--statistics",
      "SampleCount",
      "Maximum",
    );
    expect(stats.Datapoints).toEqual([expect.objectContaining({ SampleCount: 1, Maximum: 2.5 })]);
    const alarms = await aws(cloudwatch.url, "cloudwatch", "describe-alarms");
    expect(alarms.MetricAlarms).toEqual([
      expect.objectContaining({ AlarmName: "lazarus-heartbeat-host-a", Period: 10, EvaluationPeriods: 2 }),
    ]);
    // The query protocol is checked as the JSON one is: a request signed with the wrong secret is refused.
    await expect(awsSigned("wrong", cloudwatch.url, "cloudwatch", "describe-alarms")).rejects.toThrow(
      /SignatureDoesNotMatch/,
    );
    await expect(
      aws(
        cloudwatch.url,
        "cloudwatch",
        "get-metric-statistics",
        "--namespace",
        "N",
        "--metric-name",
        "M",
        "--start-time",
        at,
        "--end-time",
        at,
        "--period",
        "60",
      ),
    ).rejects.toThrow(/Statistics/);
  });

  it("SSM: send-command to the hosts tagged as KVM hosts (--targets), list-commands shows it", async () => {
    const sent = await aws(
      ssm.url,
      "ssm",
      "send-command",
      "--document-name",
      "AWS-RunShellScript",
      "--targets",
      `Key=tag:${KVM_HOST_TAG.key},Values=${KVM_HOST_TAG.value}`,
      "--parameters",
      "commands=virsh list --all",
    );
    const command = sent.Command as { CommandId: string; TargetCount: number };
    expect(command.TargetCount).toBe(1);
    const listed = await aws(ssm.url, "ssm", "list-commands", "--command-id", command.CommandId);
    expect(listed.Commands).toEqual([
      expect.objectContaining({
        CommandId: command.CommandId,
        Targets: [{ Key: `tag:${KVM_HOST_TAG.key}`, Values: [KVM_HOST_TAG.value] }],
      }),
    ]);
    const invocations = await aws(
      ssm.url,
      "ssm",
      "list-command-invocations",
      "--command-id",
      command.CommandId,
    );
    expect((invocations.CommandInvocations as { InstanceId: string }[]).map((i) => i.InstanceId)).toEqual([
      "mi-0000000000000000a",
    ]);
  });

  it("Lambda: list-functions and get-function; EventBridge: list-rules", async () => {
    const fns = await aws(lambda.url, "lambda", "list-functions");
    expect(fns.Functions).toEqual([
      expect.objectContaining({
        FunctionName: "lazarus-sweeper",
        Handler: "functions/sweeper/handlers.sweep",
      }),
    ]);
    const fn = await aws(lambda.url, "lambda", "get-function", "--function-name", "lazarus-sweeper");
    expect(fn.Configuration).toMatchObject({ FunctionName: "lazarus-sweeper", Runtime: "nodejs24.x" });
    await expect(aws(lambda.url, "lambda", "get-function", "--function-name", "nope")).rejects.toThrow(
      /ResourceNotFoundException/,
    );
    const rules = await aws(events.url, "events", "list-rules");
    expect(rules.Rules).toEqual([
      expect.objectContaining({ Name: "lazarus-hostfail-on-alarm", State: "ENABLED" }),
    ]);
  });

  it("EC2: a machine powered off is started again (start-instances), describe-instances sees it run", async () => {
    await aws(ec2.url, "ec2", "stop-instances", "--instance-ids", "i-0123456789abcdef0", "--force");
    expect(machineOn).toBe(false);
    const started = await aws(ec2.url, "ec2", "start-instances", "--instance-ids", "i-0123456789abcdef0");
    expect(started.StartingInstances).toEqual([
      expect.objectContaining({
        InstanceId: "i-0123456789abcdef0",
        PreviousState: { Code: 80, Name: "stopped" },
      }),
    ]);
    const described = await aws(
      ec2.url,
      "ec2",
      "describe-instances",
      "--instance-ids",
      "i-0123456789abcdef0",
    );
    const state = (described.Reservations as { Instances: { State: { Name: string } }[] }[])[0]!.Instances[0]!
      .State;
    expect(state.Name).toBe("running");
  });
});
