/** The Step Functions history recorder on its own: library events in, AWS history events out. */
import { describe, expect, it } from "vitest";
import {
  appendEvent,
  historyEntries,
  type LibraryEvent,
  type RecordedExecution,
  succeeded,
} from "#local/stepfunctions/execution-history.js";

function execution(): RecordedExecution {
  return {
    input: "{}",
    machine: {
      roleArn: "arn:aws:iam::000000000000:role/r",
      tasks: new Map([["Spawn", { resource: "arn:aws:states:::lambda:invoke" }]]),
    },
    status: "RUNNING",
    events: [],
    failedBlocks: new Set(),
  };
}

const record = (e: RecordedExecution, event: unknown) => {
  for (const entry of historyEntries(e, event as LibraryEvent)) appendEvent(e, entry, 1000);
};
const map = { name: "EachDisk", type: "Map", input: {}, output: {} };

describe("execution history", () => {
  it("a Map whose failure a Catch handled exits without MapStateSucceeded; one that succeeds has it", () => {
    const e = execution();
    record(e, { type: "StateEntered", state: map, timestamp: 1 });
    record(e, { type: "StateFailed", state: map, Error: "X", Cause: "c", timestamp: 2 });
    record(e, { type: "StateExited", state: map, timestamp: 3 });
    record(e, { type: "StateEntered", state: map, timestamp: 4 });
    record(e, { type: "StateExited", state: map, timestamp: 5 });
    expect(e.events.map((x) => x.type)).toEqual([
      "MapStateEntered",
      "MapStateStarted",
      "MapStateFailed",
      "MapStateExited",
      "MapStateEntered",
      "MapStateStarted",
      "MapStateSucceeded",
      "MapStateExited",
    ]);
    expect(e.events.map((x) => x.id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(e.events.at(-1)?.previousEventId).toBe(7);
  });

  it("a Task failure names the integration's resource; retries and catches leave no event", () => {
    const e = execution();
    const task = { name: "Spawn", type: "Task", input: {} };
    record(e, { type: "StateFailed", state: task, Error: "HostUnreachable", Cause: { m: 1 }, timestamp: 1 });
    record(e, { type: "StateRetried", state: task, timestamp: 2 });
    record(e, { type: "StateCaught", state: task, timestamp: 3 });
    expect(e.events).toHaveLength(1);
    expect(e.events[0]?.taskFailedEventDetails).toEqual({
      resourceType: "lambda",
      resource: "invoke",
      error: "HostUnreachable",
      cause: '{"m":1}',
    });
  });

  it("the terminal event sets status, output and stop date, and nothing is recorded after it", () => {
    const e = execution();
    appendEvent(e, succeeded({ ok: true }), 5000);
    expect(e).toMatchObject({ status: "SUCCEEDED", output: '{"ok":true}', stopDate: new Date(5000) });
    expect(appendEvent(e, succeeded({ again: true }))).toBeUndefined();
    expect(e.events).toHaveLength(1);
  });
});
