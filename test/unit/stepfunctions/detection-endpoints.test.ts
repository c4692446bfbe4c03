/**
 * The local detection chain, with the real SDK clients: heartbeats into the CloudWatch endpoint, an alarm
 * that goes OK then ALARM when they stop (missing data breaching), the state-change event routed by an
 * EventBridge rule to a Lambda target; and SSM PingStatus following the agent's health cadence, not its polls.
 */
import {
  CloudWatchClient,
  DescribeAlarmsCommand,
  GetMetricDataCommand,
  PutMetricAlarmCommand,
  PutMetricDataCommand,
} from "@aws-sdk/client-cloudwatch";
import { EventBridgeClient, PutEventsCommand } from "@aws-sdk/client-eventbridge";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AlarmStateChange } from "#local/cloudwatch/alarm-evaluator.js";
import { type CloudWatchEndpoint, startCloudWatchEndpoint } from "#local/cloudwatch/cloudwatch-endpoint.js";
import { matchesPattern } from "#local/events/event-pattern.js";
import { type EventsEndpoint, eventEnvelope, startEventsEndpoint } from "#local/events/events-endpoint.js";
import { type LambdaEndpoint, startLambdaEndpoint } from "#local/lambda/lambda-endpoint.js";
import { startSsmEndpoint } from "#local/ssm/ssm-endpoint.js";
import { HOST_FAILURE_FUNCTIONS } from "#shared/definitions/functions.js";
import { heartbeatAlarm, heartbeatDatum } from "#shared/definitions/heartbeat.js";
import { eventRules } from "#shared/definitions/rules.js";
import { AlarmStateChangeEvent } from "#shared/domain/host-failure.js";
import { CloudWatchHeartbeatReader } from "#shared/metrics/heartbeat-reader.js";

const creds = { accessKeyId: "local", secretAccessKey: "local" };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let cw: CloudWatchEndpoint;
let events: EventsEndpoint;
let lambda: LambdaEndpoint;
const changes: AlarmStateChange[] = [];
const delivered: unknown[] = [];
/** How far the local CloudWatch's clock is ahead of the real one, ms. */
let clockAhead = 0;
const cwNow = () => Date.now() + clockAhead;

beforeAll(async () => {
  lambda = await startLambdaEndpoint({
    handlers: {
      "on-alarm": async (event) => {
        delivered.push(event);
        return {};
      },
    },
  });
  events = await startEventsEndpoint({ lambdaEndpoint: lambda.url });
  // The host-failure trigger's rules, as the stack and the local cloud install them.
  for (const rule of eventRules("lazarus", HOST_FAILURE_FUNCTIONS)) {
    if (rule.target.kind !== "function") continue;
    events.putRule({
      name: rule.name,
      eventPattern: rule.eventPattern,
      targets: [{ functionName: "on-alarm" }],
    });
  }
  const eb = new EventBridgeClient({ endpoint: events.url, region: "us-east-1", credentials: creds });
  cw = await startCloudWatchEndpoint({
    evaluationIntervalMs: 100,
    // The alarm keeps a period AWS takes (10 s); the test moves the endpoint's clock on instead of waiting.
    now: cwNow,
    onAlarmStateChange: async (c) => {
      changes.push(c);
      await eb.send(new PutEventsCommand({ Entries: [c.entry] }));
    },
  });
});

afterAll(async () => {
  await cw?.close();
  await events?.close();
  await lambda?.close();
});

describe("local CloudWatch, alarms and EventBridge rules", () => {
  it("heartbeats keep the alarm OK; silence turns it ALARM; the event reaches the rule's Lambda as CloudWatch sends it", async () => {
    const client = new CloudWatchClient({ endpoint: cw.url, region: "us-east-1", credentials: creds });
    await expect(
      client.send(
        new PutMetricAlarmCommand(heartbeatAlarm("h1", { periodSeconds: 5, evaluationPeriods: 2 })),
      ),
    ).rejects.toThrow(/Period is not valid: valid values are 10, 20, 30 and any multiple of 60/);
    await client.send(
      new PutMetricAlarmCommand(heartbeatAlarm("h1", { periodSeconds: 10, evaluationPeriods: 2 })),
    );
    /** The endpoint's clock moved on `seconds`, one at a time, the host beating each second while `beating`. */
    const pass = async (seconds: number, beating: boolean) => {
      for (let i = 0; i < seconds; i++) {
        clockAhead += 1000;
        if (beating)
          await client.send(
            new PutMetricDataCommand({
              Namespace: "Lazarus",
              MetricData: [heartbeatDatum("h1", new Date(cwNow()))],
            }),
          );
      }
    };
    await pass(25, true);
    for (let i = 0; i < 60 && changes.length === 0; i++) await sleep(100);
    expect(changes.map((c) => JSON.parse(c.entry.Detail).state.value)).toEqual(["OK"]);
    const data = await client.send(
      new GetMetricDataCommand({
        StartTime: new Date(cwNow() - 60_000),
        EndTime: new Date(cwNow() + 1000),
        MetricDataQueries: [
          {
            Id: "hb",
            MetricStat: {
              Metric: {
                Namespace: "Lazarus",
                MetricName: "Heartbeat",
                Dimensions: [{ Name: "Host", Value: "h1" }],
              },
              Period: 1,
              Stat: "SampleCount",
            },
          },
        ],
      }),
    );
    expect(data.MetricDataResults?.[0]?.Timestamps?.length).toBeGreaterThan(0);
    // Silence: two whole periods without a heartbeat.
    await pass(25, false);
    for (let i = 0; i < 60 && changes.length < 2; i++) await sleep(100);
    const alarm = JSON.parse(changes[1]!.entry.Detail);
    expect(alarm.state.value).toBe("ALARM");
    expect(alarm.previousState.value).toBe("OK");
    const described = await client.send(new DescribeAlarmsCommand({ AlarmNames: ["lazarus-heartbeat-h1"] }));
    expect(described.MetricAlarms?.[0]?.StateValue).toBe("ALARM");
    // Only the ALARM reached the trigger: OK from INSUFFICIENT_DATA (a new alarm on a healthy host) is no
    // recovery, and the rules deliver OK only after an ALARM. The trigger's schema accepts what arrived.
    const firstOk = events.events.find((e) => JSON.parse(e.detail).state.value === "OK")!;
    expect(events.rules().filter((r) => matchesPattern(r.eventPattern, eventEnvelope(firstOk)))).toEqual([]);
    for (let i = 0; i < 40 && delivered.length < 1; i++) await sleep(100);
    expect(delivered).toHaveLength(1);
    const parsed = AlarmStateChangeEvent.parse(delivered[0]);
    expect(parsed.detail.configuration?.metrics[0]?.metricStat?.metric.dimensions).toEqual({ Host: "h1" });
    expect(parsed.resources[0]).toMatch(/:alarm:lazarus-heartbeat-h1$/);
  });

  it("the heartbeat reader gets each second's count, smallest and largest watchdog timeout, as the lease reads them", async () => {
    const client = new CloudWatchClient({ endpoint: cw.url, region: "us-east-1", credentials: creds });
    const base = Math.floor(Date.now() / 1000) * 1000 - 20_000;
    const at = (s: number, ms = 0) => new Date(base + s * 1000 + ms);
    const put = (when: Date, value: number) =>
      client.send(
        new PutMetricDataCommand({
          Namespace: "Lazarus",
          MetricData: [heartbeatDatum("h-lease", when, value)],
        }),
      );
    await put(at(0), 10);
    await put(at(2, 100), 10);
    // Two heartbeats in one second, one saying nothing is armed: the period's Minimum is 0.
    await put(at(4, 100), 10);
    await put(at(4, 600), 0);
    await put(at(6), 30);
    const reader = new CloudWatchHeartbeatReader(client, () => at(10));
    const samples = await reader.samples("h-lease", at(0), at(10));
    expect(samples).toEqual([
      { at: at(0), count: 1, min: 10, max: 10 },
      { at: at(2), count: 1, min: 10, max: 10 },
      { at: at(4), count: 2, min: 0, max: 10 },
      { at: at(6), count: 1, min: 30, max: 30 },
    ]);
    expect(await reader.samples("h-lease", at(3), at(5))).toEqual([{ at: at(4), count: 2, min: 0, max: 10 }]);
    expect(await reader.lastHeartbeat("h-lease", 60)).toEqual(at(6));
    expect(await reader.samples("nobody", at(0), at(10))).toEqual([]);
  });

  it("event patterns: literal lists, prefix, nested detail, anything-but, exists", () => {
    const e = {
      source: "aws.cloudwatch",
      "detail-type": "X",
      detail: { alarmName: "lazarus-heartbeat-a", n: 1 },
    };
    expect(
      matchesPattern({ source: ["aws.cloudwatch"], detail: { alarmName: [{ prefix: "lazarus-" }] } }, e),
    ).toBe(true);
    expect(matchesPattern({ detail: { alarmName: [{ prefix: "other-" }] } }, e)).toBe(false);
    expect(matchesPattern({ source: [{ "anything-but": ["aws.cloudwatch"] }] }, e)).toBe(false);
    expect(matchesPattern({ detail: { missing: [{ exists: false }] } }, e)).toBe(true);
    expect(matchesPattern({ detail: { n: [2, 1] } }, e)).toBe(true);
  });
});

describe("local SSM PingStatus", () => {
  it("follows the agent's health reports: a silent agent stays Online until connectionLostAfterMs after its last report", async () => {
    const ssm = await startSsmEndpoint({
      agentHealthIntervalMs: 400,
      connectionLostAfterMs: 1200,
      agentPollWaitMs: 50,
    });
    try {
      const id = "mi-0123456789abcdef0";
      ssm.registerInstance(id, "h1");
      const poll = () =>
        fetch(`${ssm.url}/agent/poll`, { method: "POST", body: JSON.stringify({ instanceId: id }) }).then(
          (r) => r.text(),
        );
      await poll();
      expect(ssm.pingStatus(id)).toBe("Online");
      await sleep(600);
      expect(ssm.pingStatus(id)).toBe("Online");
      await sleep(700);
      expect(ssm.pingStatus(id)).toBe("ConnectionLost");
      await poll();
      expect(ssm.pingStatus(id)).toBe("Online");
      await expect(
        startSsmEndpoint({ agentHealthIntervalMs: 1000, connectionLostAfterMs: 1000 }),
      ).rejects.toThrow(/must exceed/);
    } finally {
      await ssm.close();
    }
  });
});
