/**
 * The local detection chain, with the real SDK clients: heartbeats into the CloudWatch endpoint, an alarm
 * that goes OK then ALARM when they stop (missing data breaching), the state-change event routed by an
 * EventBridge rule to a Lambda target; and the local SSM at AWS's timings (PingStatus on the agent's 5-minute
 * health cadence, a command pending until its expiry), reached by moving SSM's clock: the liveness probe
 * judges a silent host by its own deadline.
 */
import {
  CloudWatchClient,
  DescribeAlarmsCommand,
  GetMetricDataCommand,
  PutMetricAlarmCommand,
  PutMetricDataCommand,
} from "@aws-sdk/client-cloudwatch";
import { EventBridgeClient, PutEventsCommand } from "@aws-sdk/client-eventbridge";
import { ListCommandInvocationsCommand, SSMClient } from "@aws-sdk/client-ssm";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { HostEvacuationState } from "#functions/host-failure/contract.js";
import { probeHost, sendProbe } from "#functions/host-failure/steps/detect.js";
import type { AlarmStateChange } from "#local/cloudwatch/alarm-evaluator.js";
import { type CloudWatchEndpoint, startCloudWatchEndpoint } from "#local/cloudwatch/cloudwatch-endpoint.js";
import { matchesPattern } from "#local/events/event-pattern.js";
import { type EventsEndpoint, eventEnvelope, startEventsEndpoint } from "#local/events/events-endpoint.js";
import { type LambdaEndpoint, startLambdaEndpoint } from "#local/lambda/lambda-endpoint.js";
import { deployHostDocuments } from "#local/ssm/host-documents.js";
import { type SsmCommandNotice, type SsmEndpoint, startSsmEndpoint } from "#local/ssm/ssm-endpoint.js";
import { CONNECTION_LOST_AFTER_MS } from "#local/ssm/ssm-state.js";
import { HOST_FAILURE_FUNCTIONS } from "#shared/definitions/functions.js";
import { fleetHeartbeatDatum, heartbeatAlarm, heartbeatDatum } from "#shared/definitions/heartbeat.js";
import { eventRules } from "#shared/definitions/rules.js";
import { HostCommandTimedOut } from "#shared/domain/errors.js";
import { AlarmStateChangeEvent } from "#shared/domain/host-failure.js";
import type { Host } from "#shared/domain/schemas.js";
import { hostTarget } from "#shared/hosts/layout.js";
import { livenessProbe } from "#shared/hosts/probes.js";
import { SsmHostExecutor } from "#shared/hosts/ssm-executor.js";
import type { HostFailureDeps } from "#shared/lambda/host-failure-runtime.js";
import { CloudWatchHeartbeatReader } from "#shared/metrics/heartbeat-reader.js";
import { makeHost } from "#test/support/fixtures.js";

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

  it("the fleet series: each second's heartbeat intervals summed over [from, to), one deployment's only", async () => {
    const client = new CloudWatchClient({ endpoint: cw.url, region: "us-east-1", credentials: creds });
    const base = Math.floor(Date.now() / 1000) * 1000 - 30_000;
    const at = (s: number, ms = 0) => new Date(base + s * 1000 + ms);
    const fleet = "/lazarus-fs/host-heartbeats";
    const put = (f: string, when: Date, interval: number) =>
      client.send(
        new PutMetricDataCommand({
          Namespace: "Lazarus",
          MetricData: [fleetHeartbeatDatum(f, when, interval)],
        }),
      );
    // Two hosts beating every second, a third every 5 s, and another deployment's host.
    for (let s = 0; s < 10; s++) {
      await put(fleet, at(s, 100), 1);
      await put(fleet, at(s, 700), 1);
      if (s % 5 === 0) await put(fleet, at(s, 300), 5);
      await put("/other/host-heartbeats", at(s, 500), 1);
    }
    const reader = new CloudWatchHeartbeatReader(client, () => at(12));
    expect(await reader.fleetBeatSeconds(fleet, at(0), at(10))).toBe(20 + 10);
    // `to` excluded, `from` included: seconds 5..7 are 3 x 2 + 5.
    expect(await reader.fleetBeatSeconds(fleet, at(5), at(8))).toBe(6 + 5);
    expect(await reader.fleetBeatSeconds("/nobody/host-heartbeats", at(0), at(10))).toBe(0);
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

describe("local SSM at AWS's timings, on a clock the test moves", () => {
  /** How far the local SSM's clock is ahead of the real one, ms. */
  let ssmAhead = 0;
  const ssmNow = () => Date.now() + ssmAhead;

  /**
   * A local SSM endpoint on the moved clock with the stack's documents and one managed host, whose agent
   * the test plays: `poll()` is one agent poll (a health report when one is due; it takes the work).
   */
  async function withSsmHost(
    name: string,
    test: (ctx: {
      ssm: SsmEndpoint;
      client: SSMClient;
      host: Host;
      sent: SsmCommandNotice[];
      executor: SsmHostExecutor;
      poll: () => Promise<{ commands: { commandId: string }[] }>;
    }) => Promise<void>,
  ): Promise<void> {
    const ssm = await startSsmEndpoint({ now: ssmNow, agentPollWaitMs: 50 });
    const client = new SSMClient({ endpoint: ssm.url, region: "us-east-1", credentials: creds });
    try {
      await deployHostDocuments(client, "lazarus");
      const host = makeHost({ name });
      ssm.registerInstance(host.managedInstanceId, host.name);
      const sent: SsmCommandNotice[] = [];
      ssm.onCommand((c) => sent.push(c));
      const poll = async () =>
        (await fetch(`${ssm.url}/agent/poll`, {
          method: "POST",
          body: JSON.stringify({ instanceId: host.managedInstanceId }),
        }).then((r) => r.json())) as { commands: { commandId: string }[] };
      const executor = new SsmHostExecutor({ client, pollInitialMs: 50, pollMaxMs: 200 });
      await test({ ssm, client, host, sent, executor, poll });
    } finally {
      client.destroy();
      await ssm.close();
    }
  }

  /** What the probe steps use of the host-failure deps: the host record and SSM (sender too). */
  const probeDeps = (host: Host, executor: SsmHostExecutor, probeDeadlineMs: number) =>
    ({
      stores: { hosts: { require: async () => host } },
      executor,
      probes: executor,
      probeDeadlineMs,
    }) as unknown as HostFailureDeps;
  const openedIncident = (host: Host, incidentId: string): HostEvacuationState => ({
    host: host.name,
    incidentId,
    source: "alarm",
    reason: null,
    openedAt: new Date().toISOString(),
    outcome: "opened",
  });
  /** The heartbeat assessed stale past the grace period: the flow probes. */
  const assessed = (s: HostEvacuationState): HostEvacuationState => ({
    ...s,
    heartbeat: { verdict: "probe", ageSeconds: 30, reason: "heartbeat 30.0 s old, past the grace period" },
  });

  const statusOf = async (client: SSMClient, commandId: string) =>
    (await client.send(new ListCommandInvocationsCommand({ CommandId: commandId }))).CommandInvocations?.[0];

  it("PingStatus follows the agent's 5-minute health reports: a silent agent stays Online for 10 minutes", () =>
    withSsmHost("host-p", async ({ ssm, host, poll }) => {
      const id = host.managedInstanceId;
      await poll();
      expect(ssm.pingStatus(id)).toBe("Online");
      ssmAhead += CONNECTION_LOST_AFTER_MS - 1000;
      expect(ssm.pingStatus(id)).toBe("Online");
      ssmAhead += 1000;
      expect(ssm.pingStatus(id)).toBe("ConnectionLost");
      await poll();
      expect(ssm.pingStatus(id)).toBe("Online");
    }));

  it("the liveness probe judges a silent host dead by its own deadline while SSM still says Online and Pending", () =>
    withSsmHost("host-a", async ({ ssm, client, host, sent, executor, poll }) => {
      // The agent polls once (a health report), then its host loses power: it never polls again.
      await poll();
      const deps = (probeDeadlineMs: number) => probeDeps(host, executor, probeDeadlineMs);
      const state = assessed(openedIncident(host, "inc-1"));

      // SSM gives nothing within the probe's deadline: the probe's own deadline is the proof.
      const t0 = Date.now();
      const judged = await probeHost(deps(1500), state);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(1500);
      expect(judged.death).toMatchObject({ verdict: "dead", reason: expect.stringContaining("timed out") });
      expect(sent.map((c) => c.documentName)).toEqual(["lazarus-probe-liveness"]);
      // Pending until the executor gave up and cancelled it: never DeliveryTimedOut or Undeliverable.
      expect((await statusOf(client, sent[0]!.commandId))?.Status).toBe("Cancelled");
      expect(ssm.pingStatus(host.managedInstanceId)).toBe("Online");

      // Ten minutes later SSM reads ConnectionLost; a probe to it ends Undeliverable at its expiry
      // (TimeoutSeconds 30 + executionTimeout 10), not sooner.
      ssmAhead += CONNECTION_LOST_AFTER_MS;
      expect(ssm.pingStatus(host.managedInstanceId)).toBe("ConnectionLost");
      const second = probeHost(deps(20_000), state);
      await vi.waitFor(() => expect(sent).toHaveLength(2));
      await sleep(300);
      expect((await statusOf(client, sent[1]!.commandId))?.Status).toBe("Pending");
      ssmAhead += 40_000;
      expect((await second).death).toMatchObject({
        verdict: "dead",
        reason: expect.stringContaining("could not be delivered"),
      });
      expect(await statusOf(client, sent[1]!.commandId)).toMatchObject({
        Status: "Failed",
        StatusDetails: "Undeliverable",
      });
    }));

  it("the probe sent when the incident opens: its silence past the deadline is read as death at once; its answer is asked again", () =>
    withSsmHost("host-s", async ({ ssm, client, host, sent, executor, poll }) => {
      const deps = probeDeps(host, executor, 300);
      const opened = openedIncident(host, "inc-2");

      // Sent when the incident opened: SendProbe returns at once, the command Pending on a silent host.
      const withProbe = await sendProbe(deps, opened);
      expect(withProbe.probe?.commandId).toBe(sent[0]!.commandId);
      await vi.waitFor(async () =>
        expect((await statusOf(client, sent[0]!.commandId))?.Status).toBe("Pending"),
      );
      // The waits of the flow (grace, settle) outlast its deadline; ProbeHost reads it once: dead, and
      // no second probe is sent (the deadline ran out during the waits).
      await vi.waitFor(() => expect(Date.now()).toBeGreaterThan(withProbe.probe!.sentAtMs + 300));
      const judged = await probeHost(deps, assessed(withProbe));
      expect(judged.death).toMatchObject({ verdict: "dead", reason: expect.stringContaining("timed out") });
      expect(sent).toHaveLength(1);
      expect((await statusOf(client, sent[0]!.commandId))?.Status).toBe("Cancelled");

      // The host answered the probe sent when the incident opened, then went silent (power lost): that
      // answer is older than its death, so ProbeHost probes again, and that probe's silence is the verdict.
      const again = await sendProbe(deps, opened);
      const work = await poll();
      expect(work.commands.map((c) => c.commandId)).toEqual([again.probe!.commandId]);
      await fetch(`${ssm.url}/agent/result`, {
        method: "POST",
        body: JSON.stringify({
          instanceId: host.managedInstanceId,
          commandId: again.probe!.commandId,
          exitCode: 0,
          stdout: "",
          stderr: "",
        }),
      });
      await vi.waitFor(async () =>
        expect((await statusOf(client, again.probe!.commandId))?.Status).toBe("Success"),
      );
      const rejudged = await probeHost(deps, assessed(again));
      expect(sent.map((c) => c.documentName)).toEqual([
        "lazarus-probe-liveness",
        "lazarus-probe-liveness",
        "lazarus-probe-liveness",
      ]);
      expect(rejudged.death).toMatchObject({ verdict: "dead", reason: expect.stringContaining("timed out") });
    }));

  it("ProbeHost run again after a crash past its work (a Lambda retry): the probe it cancelled at its deadline is still death, not a failure", () =>
    withSsmHost("host-r", async ({ client, host, sent, executor }) => {
      const deps = probeDeps(host, executor, 300);
      const withProbe = await sendProbe(deps, openedIncident(host, "inc-r"));
      await vi.waitFor(() => expect(Date.now()).toBeGreaterThan(withProbe.probe!.sentAtMs + 300));
      // The first attempt: unanswered past the deadline, so cancelled, and judged dead.
      const first = await probeHost(deps, assessed(withProbe));
      expect(first.death).toMatchObject({ verdict: "dead" });
      expect((await statusOf(client, sent[0]!.commandId))?.Status).toBe("Cancelled");
      // Its Lambda crashed after that work; Step Functions runs the step again on the same input. Chaos
      // found this aborting the incident (HostCommandFailed: cancelled) until 2026-12-07.
      const retried = await probeHost(deps, assessed(withProbe));
      expect(retried.death).toMatchObject({ verdict: "dead", reason: expect.stringContaining("timed out") });
      expect(sent).toHaveLength(1);
    }));

  it("a command whose agent took it and went silent expires DeliveryTimedOut: HostCommandTimedOut (it may have run)", () =>
    withSsmHost("host-b", async ({ host, sent, executor, poll }) => {
      const running = executor
        .run(hostTarget(host), livenessProbe(), { executionTimeoutSeconds: 5, deadlineMs: 20_000 })
        .catch((e: unknown) => e);
      await vi.waitFor(() => expect(sent).toHaveLength(1));
      // The agent takes the command (InProgress), then its host loses power before it reports.
      expect((await poll()).commands.map((c) => c.commandId)).toEqual([sent[0]!.commandId]);
      ssmAhead += 35_000; // TimeoutSeconds 30 + executionTimeout 5
      const err = await running;
      expect(err).toBeInstanceOf(HostCommandTimedOut);
      expect((err as HostCommandTimedOut).details).toMatchObject({
        status: "TimedOut",
        statusDetails: "DeliveryTimedOut",
      });
    }));
});
