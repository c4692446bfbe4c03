/**
 * Host incidents through the API: the timeline built from the executions' histories
 * (functions/api/incident-view.ts: phases with their one line, every fence round with its delegate and
 * answers, each instance's evacuation with its proof, the report, the Gantt rows without the instant
 * decision states, the markers), the two routes on a host-less local cloud, and the entity tags of every
 * GET answer (304 when unchanged).
 */
import type { HistoryEvent, HistoryEventType } from "@aws-sdk/client-sfn";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { incidentView } from "#functions/api/incident-view.js";
import type { Host, HostIncident } from "#shared/domain/schemas.js";
import type { ExecutionSummary } from "#shared/lambda/sfn-executions.js";
import { type ApiTestCloud, startApiTestCloud } from "../../support/api-cloud.js";
import { makeHost } from "../../support/fixtures.js";

const T0 = Date.parse("2026-03-01T10:00:00.000Z");
const at = (s: number) => new Date(T0 + s * 1000);
const A = "11111111-1111-4111-8111-111111111111";
const B = "22222222-2222-4222-8222-222222222222";
const REQ_A = "aaaaaaaa-0000-4000-8000-000000000001";
const REQ_B = "bbbbbbbb-0000-4000-8000-000000000002";

/** A history written as the states an execution passed: [type, name, entered s, exited s | null, output]. */
function history(
  states: [string, string, number, number | null, unknown?][],
  end?: [string, number],
): HistoryEvent[] {
  const event = (type: string, s: number, rest: Partial<HistoryEvent> = {}): HistoryEvent => ({
    id: 0,
    type: type as HistoryEventType,
    timestamp: at(s),
    ...rest,
  });
  const events: HistoryEvent[] = [event("ExecutionStarted", 0)];
  for (const [type, name, from, to, output] of states) {
    events.push(event(`${type}StateEntered`, from, { stateEnteredEventDetails: { name } }));
    if (to !== null)
      events.push(
        event(`${type}StateExited`, to, {
          stateExitedEventDetails: { name, output: JSON.stringify(output ?? {}) },
        }),
      );
  }
  if (end) events.push(event(end[0], end[1]));
  return events
    .sort((a, b) => a.timestamp!.getTime() - b.timestamp!.getTime())
    .map((e, i) => ({ ...e, id: i + 1 }));
}

const summary = (name: string, status: string, extra: Partial<ExecutionSummary> = {}): ExecutionSummary => ({
  executionArn: `arn:aws:states:us-east-1:000000000000:execution:m:${name}`,
  stateMachineArn: "arn:aws:states:us-east-1:000000000000:stateMachine:m",
  name,
  status,
  startDate: at(0),
  stopDate: status === "RUNNING" ? null : at(30),
  input: {},
  output: null,
  error: null,
  cause: null,
  ...extra,
});

const incident: HostIncident = {
  id: "alarm-1",
  status: "evacuated",
  source: "alarm",
  reason: "lazarus-heartbeat-h1 OK -> ALARM at 2026-03-01T10:00:00Z",
  executionName: "evacuate-h1-x",
  openedAt: at(0).toISOString(),
  updatedAt: at(30).toISOString(),
  summary: { evacuated: 2 },
};

const plan = {
  plan: {
    tiers: [
      {
        haPriority: 10,
        items: [
          {
            instanceUuid: A,
            name: "db-1",
            requestId: REQ_A,
            haPriority: 10,
            proof: "power",
            plannedHost: "h3",
          },
        ],
      },
      {
        haPriority: 0,
        items: [
          {
            instanceUuid: B,
            name: "web-1",
            requestId: REQ_B,
            haPriority: 0,
            proof: "power",
            plannedHost: "h2",
          },
        ],
      },
    ],
    skipped: [],
    maxConcurrency: 2,
  },
  awaitingProof: [],
};
const answers = [
  { delegate: "h2", step: "off", at: at(12).toISOString(), exitCode: 0, answer: "Success: Powered OFF" },
  { delegate: "h2", step: "status", at: at(13).toISOString(), exitCode: 2, answer: "Status: OFF" },
];
const parentEvents = history(
  [
    ["Task", "OpenIncident", 0, 0.1],
    ["Choice", "IsDuplicate", 0.1, 0.1],
    [
      "Task",
      "AssessHeartbeat",
      0.1,
      0.2,
      { heartbeat: { verdict: "wait", ageSeconds: 4, reason: "heartbeat 4 s old" } },
    ],
    ["Wait", "WaitGracePeriod", 0.2, 4.2],
    [
      "Task",
      "AssessHeartbeat",
      4.2,
      4.3,
      { heartbeat: { verdict: "probe", ageSeconds: 8, reason: "heartbeat 8 s old" } },
    ],
    ["Task", "ProbeHost", 4.3, 9, { death: { verdict: "dead", reason: "no answer to the probe" } }],
    [
      "Task",
      "CheckMassFailure",
      9,
      9.1,
      { massFailure: { verdict: "proceed", hosts: ["h1"], reason: "1 of 3" } },
    ],
    ["Task", "DisableHost", 9.1, 9.2],
    [
      "Task",
      "Fence",
      9.2,
      13.5,
      {
        fence: {
          round: 1,
          attempt: {
            outcome: "off",
            at: at(13).toISOString(),
            detail: "ipmi off of h1 through h2: off",
            method: "ipmi",
            delegate: "h2",
            answers,
          },
        },
        proof: { proof: "power", reason: "the fence powered h1 off" },
      },
    ],
    ["Task", "PlanEvacuation", 13.5, 13.6, plan],
    ["Map", "EvacuateByPriority", 13.6, 25],
    ["Task", "EvacuateInstance", 13.7, 20],
    [
      "Task",
      "ConfirmEvacuation",
      20,
      20.1,
      {
        instanceUuid: A,
        name: "db-1",
        outcome: "evacuated",
        host: "h3",
        vmState: "active",
        error: null,
        message: null,
      },
    ],
    ["Task", "EvacuateInstance", 20.2, 24.8],
    [
      "Task",
      "ConfirmEvacuation",
      24.8,
      24.9,
      {
        instanceUuid: B,
        name: "web-1",
        outcome: "evacuated",
        host: "h2",
        vmState: "active",
        error: null,
        message: null,
      },
    ],
    [
      "Task",
      "AwaitProof",
      25,
      25.1,
      { proofLook: { verdict: "done", reason: "no instance waits for proof" } },
    ],
    ["Task", "ReportEvacuation", 25.1, 25.3],
    ["Succeed", "Evacuated", 25.3, 25.3],
  ],
  ["ExecutionSucceeded", 25.3],
);
const report = {
  host: "h1",
  incidentId: "alarm-1",
  evacuated: [
    { instanceUuid: A, name: "db-1", host: "h3", vmState: "active", proof: "power" },
    { instanceUuid: B, name: "web-1", host: "h2", vmState: "active", proof: "operator" },
  ],
  failed: [],
  skipped: [],
  fencingRequired: [],
  hostProof: "power",
  complete: true,
};

describe("an incident's view, from its executions' histories", () => {
  const host = { ...makeHost({ name: "h1" }), incident } as Host & { incident: HostIncident };
  const children = new Map([
    [
      REQ_A,
      {
        summary: summary(REQ_A, "SUCCEEDED"),
        events: history(
          [
            ["Task", "Accept", 13.8, 14],
            ["Choice", "IsEvacuate", 14, 14],
            ["Task", "Spawn", 14, 19],
            ["Task", "Finish", 19, 19.5],
          ],
          ["ExecutionSucceeded", 19.5],
        ),
      },
    ],
    [
      REQ_B,
      {
        summary: summary(REQ_B, "RUNNING"),
        events: history([
          ["Task", "Accept", 20.3, 20.5],
          ["Task", "Spawn", 20.5, null],
        ]),
      },
    ],
  ]);
  const view = incidentView({
    host,
    parent: { summary: summary("evacuate-h1-x", "SUCCEEDED", { output: { report } }), events: parentEvents },
    children,
  });

  it("lists the phases an operator follows, each with its one line (no decisions, no Map states)", () => {
    expect(view.phases.map((p) => p.name)).toEqual([
      "OpenIncident",
      "AssessHeartbeat",
      "WaitGracePeriod",
      "AssessHeartbeat",
      "ProbeHost",
      "CheckMassFailure",
      "DisableHost",
      "Fence",
      "PlanEvacuation",
      "AwaitProof",
      "ReportEvacuation",
      "Evacuated",
    ]);
    const detail = Object.fromEntries(view.phases.map((p) => [p.name, p.detail]));
    expect(detail.WaitGracePeriod).toBe("waited 4 s");
    expect(detail.ProbeHost).toBe("dead: no answer to the probe");
    expect(detail.CheckMassFailure).toBe("proceed: 1 of 3");
    expect(detail.Fence).toBe("ipmi off of h1 through h2: off");
    expect(detail.PlanEvacuation).toBe("2 to evacuate");
  });

  it("keeps every fence round with its method, delegate, proof and the BMC's answers", () => {
    expect(view.fence).toEqual([
      {
        round: 1,
        at: at(13.5).toISOString(),
        outcome: "off",
        method: "ipmi",
        delegate: "h2",
        detail: "ipmi off of h1 through h2: off",
        proof: "power",
        answers: answers.map((a) => ({
          delegate: a.delegate,
          step: a.step,
          at: a.at,
          exit_code: a.exitCode,
          answer: a.answer,
        })),
      },
    ]);
  });

  it("gives each instance its evacuation: where it went, the proof the report names, the step a running one is in", () => {
    expect(view.instances).toMatchObject([
      {
        name: "db-1",
        round: 1,
        planned_host: "h3",
        proof: "power",
        execution_status: "SUCCEEDED",
        outcome: "evacuated",
        host: "h3",
      },
      {
        name: "web-1",
        proof: "operator",
        execution_status: "RUNNING",
        current_step: "Spawn",
        outcome: "evacuated",
        host: "h2",
      },
    ]);
    expect(view.report).toEqual(report);
  });

  it("draws the benchmark's Gantt: the parent, then one row per child, bars per state without instant decisions", () => {
    const rows = view.gantt!.rows;
    expect(rows.map((r) => [r.kind, r.label, r.status])).toEqual([
      ["incident", "host-evacuation", "SUCCEEDED"],
      ["instance", "db-1", "SUCCEEDED"],
      ["instance", "web-1", "RUNNING"],
    ]);
    const states = rows.flatMap((r) => r.bars.map((b) => b.state));
    expect(states).not.toContain("IsDuplicate");
    expect(states).not.toContain("IsEvacuate");
    expect(states).not.toContain("Evacuated");
    expect(states).not.toContain("EvacuateInstance");
    expect(rows[1]!.bars).toEqual([
      { state: "Accept", start: 13.8, end: 14 },
      { state: "Spawn", start: 14, end: 19 },
      { state: "Finish", start: 19, end: 19.5 },
    ]);
    // The running child's open bar lasts until its last event (the page grows it with the clock).
    expect(rows[2]!.bars.at(-1)).toEqual({ state: "Spawn", start: 20.5, end: 20.5 });
    expect(view.gantt!.markers).toEqual([
      { label: "last heartbeat", at: 0.2 - 4 },
      { label: "death proven", at: 9 },
      { label: "proof: power", at: 13.5 },
      { label: "report", at: 30 },
    ]);
  });

  it("is the incident alone when its execution is not found", () => {
    const alone = incidentView({ host, parent: null, children: new Map() });
    expect(alone).toMatchObject({
      id: "alarm-1",
      host: "h1",
      status: "evacuated",
      run: null,
      phases: [],
      gantt: null,
    });
  });
});

describe("the incident routes and entity tags, on the API", () => {
  let cloud: ApiTestCloud;
  beforeAll(async () => {
    cloud = await startApiTestCloud();
    await cloud.db.stores.hosts.put(makeHost({ name: "h1", incident }));
    await cloud.db.stores.hosts.put(makeHost({ name: "h2" }));
  }, 60_000);
  afterAll(async () => {
    await cloud?.stop();
  });

  it("lists the hosts' incidents and shows one; an unknown or malformed id is refused", async () => {
    const list = await cloud.call("GET", "/v2.1/os-incidents");
    expect(list.status).toBe(200);
    expect((list.json as { incidents: unknown[] }).incidents).toEqual([
      {
        id: "alarm-1",
        host: "h1",
        status: "evacuated",
        source: "alarm",
        reason: incident.reason,
        opened_at: incident.openedAt,
        updated_at: incident.updatedAt,
        execution: "evacuate-h1-x",
        summary: { evacuated: 2 },
      },
    ]);
    // No host-evacuation machine in this cloud: the incident is shown without its run.
    const one = await cloud.call("GET", "/v2.1/os-incidents/alarm-1");
    expect(one.status, one.text).toBe(200);
    expect((one.json as { incident: { run: unknown; host: string } }).incident).toMatchObject({
      host: "h1",
      run: null,
    });
    expect((await cloud.call("GET", "/v2.1/os-incidents/alarm-2")).status).toBe(404);
    expect((await cloud.call("GET", "/v2.1/os-incidents/a%20b")).status).toBe(400);
  });

  it("tags every GET answer; the same tag asked again is a 304 without a body; an action is never tagged", async () => {
    const first = await cloud.call("GET", "/v2.1/os-incidents");
    const tag = first.headers.get("etag");
    expect(tag).toMatch(/^W\/"[\w-]{27}"$/);
    expect(first.headers.get("cache-control")).toBe("private, no-cache");
    const again = await cloud.call("GET", "/v2.1/os-incidents", { headers: { "if-none-match": tag! } });
    expect(again.status).toBe(304);
    expect(again.text).toBe("");
    await cloud.db.stores.hosts.put(makeHost({ name: "h3", incident: { ...incident, id: "alarm-3" } }));
    const changed = await cloud.call("GET", "/v2.1/os-incidents", { headers: { "if-none-match": tag! } });
    expect(changed.status).toBe(200);
    expect(changed.headers.get("etag")).not.toBe(tag);
    const action = await cloud.call("POST", "/v2.1/os-hosts/h2/evacuate", { body: {} });
    expect(action.headers.get("etag")).toBeNull();
  });
});
