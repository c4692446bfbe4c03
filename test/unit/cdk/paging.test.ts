/**
 * Paging (issue 30): the page topic with the configured subscriptions, one alarm per paging condition
 * (shared/definitions/paging.ts) notifying it, each operator alert routed to it by its rule and really put by
 * the code, the topic open to CloudWatch and EventBridge only, and a dashboard of the fleet. Then the same
 * definitions on the local endpoints: an operator alert reaches the page as the event, and its alarm goes
 * ALARM on EventBridge's own count and reaches the page too, naming the host.
 */
import { readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { CloudWatchClient, PutMetricAlarmCommand } from "@aws-sdk/client-cloudwatch";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CloudWatchEndpoint, startCloudWatchEndpoint } from "#local/cloudwatch/cloudwatch-endpoint.js";
import { type EventsEndpoint, startEventsEndpoint } from "#local/events/events-endpoint.js";
import { installEventRules } from "#local/events/install-rules.js";
import { listenOnLoopback } from "#local/http/loopback.js";
import { type LocalTopics, startLocalTopics } from "#local/sns/topics.js";
import { notificationBusName } from "#shared/definitions/events.js";
import { ALL_FUNCTIONS } from "#shared/definitions/functions.js";
import { ALERTS, pageTopicArn, pagingAlarmInput, pagingAlarms } from "#shared/definitions/paging.js";
import { PROJECT_ROOT, stateMachineArn } from "#shared/definitions/state-machines.js";
import { EventBridgeHostAlerts } from "#shared/notifications/host-alerts.js";
import { flat, logicalIdOf, resourcesOfType, type Synthesized, synth } from "./synth.js";

const root = fileURLToPath(PROJECT_ROOT);

let s: Synthesized;
beforeAll(() => {
  s = synth({
    config: { paging: { subscriptions: [{ protocol: "email", endpoint: "oncall@example.com" }] } },
  });
});

describe("the stack's paging", () => {
  it("every paging alarm of the definitions, notifying the page topic when it enters ALARM", () => {
    const topicRef = `<${logicalIdOf(s, s.stack.page)}>`;
    const alarms = new Map(
      resourcesOfType(s, "AWS::CloudWatch::Alarm").map(([, a]) => [
        String(a.Properties!.AlarmName),
        a.Properties!,
      ]),
    );
    const expected = pagingAlarms("lazarus", ALL_FUNCTIONS, {
      hostEvacuationArn: "evac",
      hostRecoveryArn: "recov",
      apiName: "lazarus-api",
    });
    expect(expected.length).toBeGreaterThan(Object.keys(ALERTS).length);
    for (const def of expected) {
      const a = alarms.get(def.id);
      expect(a, def.id).toBeDefined();
      expect((a!.AlarmActions as unknown[]).map(flat)).toEqual([topicRef]);
      expect(a).toMatchObject({
        AlarmDescription: def.description,
        Namespace: def.namespace,
        MetricName: def.metricName,
        Statistic: def.statistic,
        Threshold: 1,
        ComparisonOperator: "GreaterThanOrEqualToThreshold",
        TreatMissingData: "notBreaching",
      });
      // An on-call engineer reads what to do, not only what happened.
      expect(def.description.length, def.id).toBeGreaterThan(80);
    }
  });

  it("each operator alert has its page rule on the Lazarus bus and its alarm on that rule's matches", () => {
    const topicRef = `<${logicalIdOf(s, s.stack.page)}>`;
    const rules = resourcesOfType(s, "AWS::Events::Rule").map(([, r]) => r.Properties!);
    const alarms = resourcesOfType(s, "AWS::CloudWatch::Alarm").map(([, a]) => a.Properties!);
    for (const a of Object.values(ALERTS)) {
      const rule = rules.find((r) => r.Name === `lazarus-page-${a.id}`)!;
      expect(rule, a.id).toBeDefined();
      expect(rule.EventPattern).toEqual({ source: ["lazarus.hosts"], "detail-type": [a.detailType] });
      expect((rule.Targets as { Arn: unknown }[]).map((t) => flat(t.Arn))).toEqual([topicRef]);
      const alarm = alarms.find((x) => x.AlarmName === `lazarus-${a.id}`)!;
      expect(alarm.Dimensions).toEqual([
        { Name: "EventBusName", Value: notificationBusName("lazarus") },
        { Name: "RuleName", Value: `lazarus-page-${a.id}` },
      ]);
    }
  });

  it("every operator alert is put by the flows' code (else its alarm could never fire)", () => {
    const code = ["functions", "shared"]
      .flatMap((d) =>
        readdirSync(join(root, d), { recursive: true, withFileTypes: true })
          .filter((e) => e.isFile() && e.name.endsWith(".ts"))
          .map((e) => join(e.parentPath, e.name)),
      )
      .filter((f) => !relative(root, f).startsWith("shared/definitions/"))
      .map((f) => readFileSync(f, "utf8"))
      .join("\n");
    for (const key of Object.keys(ALERTS)) {
      expect(code, key).toMatch(new RegExp(`kind: ALERTS\\.${key}\\b`));
    }
  });

  it("the topic: the configured subscriptions; CloudWatch and EventBridge may publish, for this account", () => {
    const subs = resourcesOfType(s, "AWS::SNS::Subscription").map(([, x]) => x.Properties!);
    expect(subs).toEqual([expect.objectContaining({ Protocol: "email", Endpoint: "oncall@example.com" })]);
    const policy = resourcesOfType(s, "AWS::SNS::TopicPolicy")[0]![1].Properties!.PolicyDocument as {
      Statement: { Effect: string; Principal?: { Service?: string }; Action: string | string[] }[];
    };
    const publishers = policy.Statement.filter(
      (st) => st.Effect === "Allow" && [st.Action].flat().includes("sns:Publish"),
    ).map((st) => st.Principal?.Service);
    expect(publishers.sort()).toEqual(["cloudwatch.amazonaws.com", "events.amazonaws.com"]);
  });

  it("a dashboard of the fleet: hosts down, incidents, fencing required, evacuations, step failures", () => {
    const [, dashboard] = resourcesOfType(s, "AWS::CloudWatch::Dashboard")[0]!;
    const body = JSON.stringify(dashboard.Properties!.DashboardBody);
    for (const title of [
      "Hosts down",
      "Incidents",
      "fencing required",
      "Host evacuations",
      "Step failures",
    ]) {
      expect(body).toContain(title);
    }
    expect(body).toContain("StepFailures");
    expect(body).toContain("MatchedEvents");
  });
});

describe("the same paging on the local endpoints", () => {
  /** How far the local CloudWatch's clock is ahead of the real one, ms. */
  let clockAhead = 0;
  let events: EventsEndpoint;
  let cloudwatch: CloudWatchEndpoint;
  let topics: LocalTopics;
  let pager: { url: string; received: { subject?: string; message: string }[]; close: () => Promise<void> };

  beforeAll(async () => {
    // The page endpoint: an HTTP subscriber, as an on-call tool's webhook subscribes to SNS.
    const received: { subject?: string; message: string }[] = [];
    const server = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        const n = JSON.parse(body) as { Subject?: string; Message: string };
        received.push({ ...(n.Subject ? { subject: n.Subject } : {}), message: n.Message });
        res.end();
      });
    });
    const { port } = await listenOnLoopback(server);
    pager = {
      url: `http://127.0.0.1:${port}/`,
      received,
      close: () => new Promise((r) => server.close(() => r())),
    };
    topics = startLocalTopics();
    topics.createTopic(pageTopicArn("lazarus"), [{ protocol: "http", endpoint: pager.url }]);
    cloudwatch = await startCloudWatchEndpoint({
      evaluationIntervalMs: 200,
      // The alarms keep their 60 s periods (the endpoint takes no period AWS would not); the test moves
      // the endpoint's clock on instead of waiting minutes.
      now: () => Date.now() + clockAhead,
      onAlarmAction: async (arn, n) => {
        await topics.publish(arn, n.message, n.subject);
      },
    });
    events = await startEventsEndpoint({
      publish: async (arn, message) => {
        await topics.publish(arn, message);
      },
      onMatch: (rule) =>
        cloudwatch.recordServiceMetric(
          "AWS/Events",
          "MatchedEvents",
          { EventBusName: rule.eventBusName!, RuleName: rule.name },
          1,
        ),
    });
    installEventRules(events, "lazarus", pageTopicArn("lazarus"));
    const cw = new CloudWatchClient({
      endpoint: cloudwatch.url,
      region: "us-east-1",
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
    });
    for (const alarm of pagingAlarms("lazarus", ALL_FUNCTIONS, {
      hostEvacuationArn: stateMachineArn("lazarus-host-evacuation"),
      hostRecoveryArn: stateMachineArn("lazarus-host-recovery"),
      apiName: "lazarus-api",
    })) {
      await cw.send(new PutMetricAlarmCommand(pagingAlarmInput(alarm, [pageTopicArn("lazarus")])));
    }
    cw.destroy();
  });

  afterAll(async () => {
    await events?.close();
    await cloudwatch?.close();
    await pager?.close();
  });

  it("an operator alert reaches the page as its event (host named), and its alarm goes ALARM and pages", async () => {
    const until = async <T>(what: string, f: () => T | undefined, ms = 15_000): Promise<T> => {
      for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) {
        const v = f();
        if (v !== undefined) return v;
      }
      throw new Error(`no ${what} within ${ms} ms`);
    };
    // A new alarm judges only periods it saw whole: two periods later every one has judged one (OK).
    clockAhead += 120_000;
    await until("alarms evaluated", () =>
      cloudwatch.evaluator.list().every((a) => a.state === "OK") ? true : undefined,
    );
    const client = new EventBridgeClient({
      endpoint: events.url,
      region: "us-east-1",
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
    });
    await new EventBridgeHostAlerts(client, notificationBusName("lazarus")).alert({
      kind: ALERTS.evacuationIncomplete,
      hosts: ["kvm-7"],
      summary:
        "Host evacuation of kvm-7 incomplete: 1 instance(s) not started elsewhere: big-1 (NoValidHost)",
      detail: { host: "kvm-7" },
    });
    client.destroy();
    const event = await until("event page", () =>
      pager.received.find((m) => m.message.includes("Lazarus Host Evacuation Incomplete")),
    );
    expect(JSON.parse(event.message)).toMatchObject({
      "detail-type": "Lazarus Host Evacuation Incomplete",
      resources: ["kvm-7"],
      detail: { host: "kvm-7", whatToDo: ALERTS.evacuationIncomplete.whatToDo },
    });
    // The period holding the alert's data point ends a minute later.
    clockAhead += 60_000;
    const alarm = await until("alarm page", () =>
      pager.received.find((m) => m.subject?.startsWith('ALARM: "lazarus-host-evacuation-incomplete"')),
    );
    expect(JSON.parse(alarm.message)).toMatchObject({
      AlarmName: "lazarus-host-evacuation-incomplete",
      NewStateValue: "ALARM",
      AlarmDescription: expect.stringContaining("evacuate those instances by hand"),
    });
    // Only that alarm: the others saw nothing.
    expect(pager.received.filter((m) => m.subject?.startsWith("ALARM"))).toHaveLength(1);
  });
});
