/**
 * Outcome 1 of issue 30: the EventBridge rules and schedules the stack deploys are the ones the local cloud
 * installs (bus, pattern, target), read from the synthesized template on one side and from the local
 * EventBridge endpoint and scheduler on the other; and they route as they must: a "Lazarus Domain Stopped"
 * report to instance recovery only, a heartbeat alarm's changes to the host-failure trigger only.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { matchesPattern } from "#local/events/event-pattern.js";
import { type EventsEndpoint, startEventsEndpoint } from "#local/events/events-endpoint.js";
import { installEventRules } from "#local/events/install-rules.js";
import { startScheduler } from "#local/scheduler.js";
import { notificationBusName } from "#shared/definitions/events.js";
import { ALL_FUNCTIONS } from "#shared/definitions/functions.js";
import { heartbeatAlarmName } from "#shared/definitions/heartbeat.js";
import { DOMAIN_STOPPED_EVENT } from "#shared/definitions/instance-failure.js";
import { pageTopicArn } from "#shared/definitions/paging.js";
import { deployedName } from "#shared/definitions/state-machines.js";
import { flat, logicalIdOf, resourcesOfType, type Synthesized, synth } from "./synth.js";

/** A rule as both sides can say it: name, bus, pattern, targets (function names, or "page"), schedule. */
interface ComparableRule {
  name: string;
  bus: string;
  eventPattern: unknown;
  schedule: string | null;
  targets: string[];
}

let s: Synthesized;
let events: EventsEndpoint;
let local: ComparableRule[];

beforeAll(async () => {
  s = synth();
  events = await startEventsEndpoint();
  installEventRules(events, "lazarus", pageTopicArn("lazarus"));
  const scheduler = startScheduler({ lambdaUrl: "http://127.0.0.1:9", prefix: "lazarus", timers: false });
  scheduler.stop();
  local = [
    ...events.rules().map((r) => ({
      name: r.name,
      bus: r.eventBusName ?? "default",
      eventPattern: r.eventPattern,
      schedule: null,
      targets: r.targets.map((t) => ("functionName" in t ? t.functionName : "page")),
    })),
    ...scheduler.schedules.map((sch) => ({
      name: sch.name,
      bus: "default",
      eventPattern: null,
      schedule: sch.schedule,
      targets: [deployedName("lazarus", sch.functionId)],
    })),
  ];
});

afterAll(async () => {
  await events?.close();
});

/** The template's rules, with their targets resolved to function names or "page". */
function deployed(): ComparableRule[] {
  const fnByLogicalId = new Map(
    resourcesOfType(s, "AWS::Lambda::Function").map(([id, r]) => [id, String(r.Properties!.FunctionName)]),
  );
  const busId = logicalIdOf(s, s.stack.eventBus);
  const pageId = logicalIdOf(s, s.stack.page);
  return resourcesOfType(s, "AWS::Events::Rule").map(([, r]) => {
    const p = r.Properties!;
    const bus = p.EventBusName === undefined ? "default" : flat(p.EventBusName);
    return {
      name: String(p.Name),
      bus: bus === `<${busId}>` ? notificationBusName("lazarus") : bus,
      eventPattern: p.EventPattern ?? null,
      schedule: (p.ScheduleExpression as string | undefined) ?? null,
      targets: (p.Targets as { Arn: unknown }[]).map((t) => {
        const arn = flat(t.Arn);
        if (arn === `<${pageId}>`) return "page";
        const fn = fnByLogicalId.get(arn.replace(/^<|\.Arn>$/g, ""));
        if (!fn) throw new Error(`rule ${String(p.Name)} targets ${arn}`);
        return fn;
      }),
    };
  });
}

const byName = (a: ComparableRule, b: ComparableRule) => a.name.localeCompare(b.name);

describe("one definition of every rule and schedule", () => {
  it("the synthesized rules equal the ones the local cloud installs: bus, pattern, targets, schedule", () => {
    expect(deployed().sort(byName)).toEqual([...local].sort(byName));
  });

  it("every target is the function or the page its definition names; every trigger and timer has a rule", () => {
    const targeted = new Set(deployed().flatMap((r) => r.targets));
    for (const f of ALL_FUNCTIONS.filter((x) => x.role === "trigger" || x.role === "scheduled")) {
      expect(targeted, f.id).toContain(deployedName("lazarus", f.id));
    }
    for (const f of ALL_FUNCTIONS.filter((x) => x.role !== "trigger" && x.role !== "scheduled")) {
      expect(targeted, f.id).not.toContain(deployedName("lazarus", f.id));
    }
  });
});

describe("where events go (the deployed patterns, matched as EventBridge matches them)", () => {
  const envelope = (source: string, detailType: string, detail: Record<string, unknown>) => ({
    version: "0",
    id: "e1",
    "detail-type": detailType,
    source,
    account: "123456789012",
    time: "2026-01-01T00:00:00Z",
    region: "eu-west-1",
    resources: [],
    detail,
  });
  const targetsOf = (event: unknown, bus: string) =>
    deployed()
      .filter((r) => r.bus === bus && r.eventPattern && matchesPattern(r.eventPattern as never, event))
      .flatMap((r) => r.targets)
      .sort();

  it('a host\'s "Lazarus Domain Stopped" report starts instance recovery, and nothing else', () => {
    const report = envelope(DOMAIN_STOPPED_EVENT.source, DOMAIN_STOPPED_EVENT.detailType, {
      host: "kvm-a",
      instanceUuid: "6f1d2c1e-8a4b-4c1e-9d2a-0b1c2d3e4f50",
      domain: "instance-6f1d2c1e-8a4b-4c1e-9d2a-0b1c2d3e4f50",
      event: "Stopped",
      reason: "Crashed",
      stoppedAt: "2026-01-01T00:00:00.000Z",
    });
    expect(targetsOf(report, "default")).toEqual(["lazarus-instfail-on-domain-stopped"]);
  });

  it("a heartbeat alarm's ALARM, and its OK after an ALARM, go to the host-failure trigger only", () => {
    const change = (value: string, previous: string) =>
      envelope("aws.cloudwatch", "CloudWatch Alarm State Change", {
        alarmName: heartbeatAlarmName("kvm-a", "lazarus"),
        state: { value },
        previousState: { value: previous },
      });
    expect(targetsOf(change("ALARM", "OK"), "default")).toEqual(["lazarus-hostfail-on-alarm"]);
    expect(targetsOf(change("OK", "ALARM"), "default")).toEqual(["lazarus-hostfail-on-alarm"]);
    // A new alarm on a healthy host (INSUFFICIENT_DATA -> OK) is no recovery; another alarm is not ours.
    expect(targetsOf(change("OK", "INSUFFICIENT_DATA"), "default")).toEqual([]);
    const other = envelope("aws.cloudwatch", "CloudWatch Alarm State Change", {
      alarmName: "someone-elses-alarm",
      state: { value: "ALARM" },
      previousState: { value: "OK" },
    });
    expect(targetsOf(other, "default")).toEqual([]);
  });
});
