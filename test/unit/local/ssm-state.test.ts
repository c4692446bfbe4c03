/**
 * The local SSM service's state without HTTP, on a clock the test moves: each timeout SSM applies is
 * reached by moving time, not by waiting.
 */
import { describe, expect, it } from "vitest";
import { AGENT_HEALTH_INTERVAL_MS, CONNECTION_LOST_AFTER_MS, createSsmState } from "#local/ssm/ssm-state.js";
import { renderDocument } from "#ssm-documents/document.js";
import { START_DOMAIN } from "#ssm-documents/start-domain.js";
import { awsErrorType } from "#test/support/document-runner.js";

const ID = "mi-0123456789abcdef0";

function setup(opts: Parameters<typeof createSsmState>[0] = {}) {
  let now = 1_000_000;
  const woken: string[] = [];
  const state = createSsmState(
    // The shell document: this file tests SSM's own behaviour, not the stack's documents.
    { invocationVisibilityDelayMs: 50, allowShellDocument: true, ...opts },
    { now: () => now, onWork: (ids) => woken.push(...ids) },
  );
  state.registerInstance(ID, "host-a");
  /** A shell command; `timeouts`: SendCommand's TimeoutSeconds and the document's executionTimeout. */
  const send = (lines = ["true"], timeouts?: { timeoutSeconds: number; executionTimeout: number }) =>
    (
      state.operations.SendCommand!({
        DocumentName: "AWS-RunShellScript",
        InstanceIds: [ID],
        Parameters: {
          commands: lines,
          ...(timeouts ? { executionTimeout: [String(timeouts.executionTimeout)] } : {}),
        },
        ...(timeouts ? { TimeoutSeconds: timeouts.timeoutSeconds } : {}),
      }) as { Command: { CommandId: string } }
    ).Command.CommandId;
  const invocation = (commandId: string) =>
    state.operations.GetCommandInvocation!({ CommandId: commandId, InstanceId: ID }) as {
      Status: string;
      StatusDetails: string;
      ResponseCode: number;
      StandardOutputContent: string;
    };
  const advance = (ms: number) => (now += ms);
  /** The invocation swept 1 ms before its command expires (`expiresInMs` from now) and at the expiry. */
  const aroundExpiry = (commandId: string, expiresInMs: number) => {
    advance(expiresInMs - 1);
    state.sweep();
    const before = invocation(commandId);
    advance(1);
    state.sweep();
    return { before, after: invocation(commandId) };
  };
  return { state, send, invocation, woken, advance, aroundExpiry };
}

const errorType = awsErrorType;

describe("local SSM state", () => {
  it("hides a new invocation for the visibility delay, then runs it through the agent to Success", () => {
    const { state, send, invocation, woken, advance } = setup();
    state.notePing(ID);
    const id = send(["echo hi"]);
    expect(woken).toEqual([ID]);
    expect(errorType(() => invocation(id))).toBe("InvocationDoesNotExist");
    advance(50);
    expect(invocation(id).Status).toBe("Pending");
    expect(state.hasWork(ID)).toBe(true);
    const work = state.takeWork(ID);
    expect(work.commands.map((c) => c.script)).toEqual(["echo hi\n"]);
    expect(invocation(id).Status).toBe("InProgress");
    expect(
      state.agentResult({ instanceId: ID, commandId: id, exitCode: 0, stdout: "x".repeat(30_000) }),
    ).toEqual({ accepted: true, status: "Success" });
    expect(invocation(id).StandardOutputContent).toHaveLength(24_000);
    // A second report of the same command changes nothing.
    expect(state.agentResult({ instanceId: ID, commandId: id, exitCode: 1 }).accepted).toBe(false);
  });

  it("PingStatus follows health reports (every 5 minutes), not polls: ConnectionLost 10 minutes after the last", () => {
    const { state, advance } = setup();
    expect(AGENT_HEALTH_INTERVAL_MS).toBe(300_000);
    expect(CONNECTION_LOST_AFTER_MS).toBe(600_000);
    expect(state.pingStatus(ID)).toBe("ConnectionLost"); // registered, no report yet
    state.notePing(ID); // the first poll reports health
    expect(state.pingStatus(ID)).toBe("Online");
    advance(AGENT_HEALTH_INTERVAL_MS - 1);
    state.notePing(ID); // a poll inside the interval is no report
    advance(CONNECTION_LOST_AFTER_MS - AGENT_HEALTH_INTERVAL_MS);
    expect(state.pingStatus(ID)).toBe("Online");
    advance(1);
    expect(state.pingStatus(ID)).toBe("ConnectionLost");
    state.notePing(ID);
    expect(state.pingStatus(ID)).toBe("Online");
  });

  it("a command nobody picks up stays Pending until TimeoutSeconds + executionTimeout, then DeliveryTimedOut", () => {
    const { state, send, aroundExpiry } = setup();
    state.notePing(ID);
    const unpicked = send(["true"], { timeoutSeconds: 30, executionTimeout: 10 });
    // SSM's delivery timeout is the two together ("Understanding command timeout values"): 40 s here.
    const { before, after } = aroundExpiry(unpicked, 40_000);
    expect(before.Status).toBe("Pending");
    expect(after).toMatchObject({ Status: "TimedOut", StatusDetails: "DeliveryTimedOut" });
    const listed = state.operations.ListCommands!({ CommandId: unpicked }) as {
      Commands: { ExpiresAfter: number; RequestedDateTime: number }[];
    };
    expect(listed.Commands[0]!.ExpiresAfter - listed.Commands[0]!.RequestedDateTime).toBe(40);
  });

  it("an expired command is never handed to an agent that polls before the sweeper ends it", () => {
    const { state, send, advance } = setup();
    state.notePing(ID);
    send(["true"], { timeoutSeconds: 30, executionTimeout: 10 });
    advance(40_000);
    expect(state.hasWork(ID)).toBe(false);
    expect(state.takeWork(ID).commands).toEqual([]);
  });

  it("one to a ConnectionLost agent is Undeliverable no sooner than its expiry; delivered if the agent polls first", () => {
    const { state, send, invocation, advance, aroundExpiry } = setup();
    state.notePing(ID);
    advance(CONNECTION_LOST_AFTER_MS);
    expect(state.pingStatus(ID)).toBe("ConnectionLost");
    const lost = send(["true"], { timeoutSeconds: 30, executionTimeout: 10 });
    const { before, after } = aroundExpiry(lost, 40_000);
    expect(before.Status).toBe("Pending");
    expect(after).toMatchObject({ Status: "Failed", StatusDetails: "Undeliverable" });

    const queued = send(["true"], { timeoutSeconds: 30, executionTimeout: 10 });
    advance(20_000);
    state.notePing(ID); // the agent is back before the expiry: it gets the command
    expect(state.takeWork(ID).commands.map((c) => c.commandId)).toEqual([queued]);
    expect(invocation(queued).Status).toBe("InProgress");
  });

  it("a started command whose agent never reports stays InProgress until the expiry: DeliveryTimedOut, never ExecutionTimedOut", () => {
    const { state, send, aroundExpiry } = setup();
    state.notePing(ID);
    const id = send(["sleep 100"], { timeoutSeconds: 30, executionTimeout: 5 });
    expect(state.takeWork(ID).commands[0]?.executionTimeoutSeconds).toBe(5);
    // ExecutionTimedOut is the agent's own report; SSM itself only ever expires the command.
    const { before, after } = aroundExpiry(id, 35_000);
    expect(before.Status).toBe("InProgress");
    expect(after).toMatchObject({ Status: "TimedOut", StatusDetails: "DeliveryTimedOut" });
    expect(
      (state.operations.GetCommandInvocation!({ CommandId: id, InstanceId: ID }) as Record<string, string>)
        .ExecutionStartDateTime,
    ).not.toBe("");
  });

  it("a cancel the agent never acknowledges holds the invocation Cancelling until the expiry", () => {
    const { state, send, aroundExpiry } = setup();
    state.notePing(ID);
    const id = send(["sleep 100"], { timeoutSeconds: 30, executionTimeout: 5 });
    state.takeWork(ID);
    state.operations.CancelCommand!({ CommandId: id });
    const { before, after } = aroundExpiry(id, 35_000);
    expect(before.Status).toBe("Cancelling");
    expect(after.Status).toBe("Cancelled");
  });

  it("a reported result shows only after the status delay", () => {
    const { state, send, invocation, advance } = setup({ statusDelayMs: 400 });
    state.notePing(ID);
    const id = send();
    state.takeWork(ID);
    state.agentResult({ instanceId: ID, commandId: id, exitCode: 3 });
    advance(399);
    state.settleReported();
    expect(invocation(id).Status).toBe("InProgress");
    advance(1);
    state.settleReported();
    expect(invocation(id)).toMatchObject({ Status: "Failed", ResponseCode: 3 });
  });

  it("refuses what SSM refuses, with SSM's error codes", () => {
    const { state } = setup();
    const op = state.operations;
    expect(
      errorType(() => op.SendCommand!({ DocumentName: "AWS-RunPowerShellScript", InstanceIds: [ID] })),
    ).toBe("InvalidDocument");
    expect(
      errorType(() =>
        op.SendCommand!({
          DocumentName: "AWS-RunShellScript",
          InstanceIds: ["mi-00000000000000000"],
          Parameters: { commands: ["true"] },
        }),
      ),
    ).toBe("InvalidInstanceId");
    expect(errorType(() => op.CancelCommand!({ CommandId: "nope" }))).toBe("InvalidCommandId");
  });

  it("serves the stack's documents only: the shell document is refused unless a test allows it", () => {
    const { state } = setup({ allowShellDocument: false });
    state.notePing(ID);
    const op = state.operations;
    const shell = { DocumentName: "AWS-RunShellScript", InstanceIds: [ID], Parameters: { commands: ["id"] } };
    expect(errorType(() => op.SendCommand!(shell))).toBe("InvalidDocument");
    expect(state.hasWork(ID)).toBe(false);
  });

  it("checks a document's parameters as SSM does: a value outside its pattern runs nothing", () => {
    const { state, advance } = setup({ allowShellDocument: false });
    state.notePing(ID);
    const op = state.operations;
    op.CreateDocument!({
      Name: "lazarus-start-domain",
      Content: JSON.stringify(renderDocument(START_DOMAIN)),
    });
    expect(
      errorType(() =>
        op.CreateDocument!({
          Name: "lazarus-start-domain",
          Content: JSON.stringify(renderDocument(START_DOMAIN)),
        }),
      ),
    ).toBe("DocumentAlreadyExists");
    const send = (Parameters: Record<string, string[]>) => () =>
      op.SendCommand!({ DocumentName: "lazarus-start-domain", InstanceIds: [ID], Parameters });
    for (const uuid of [
      "$(reboot)",
      "0b6e8a7c-4d7e-4d59-9a43-6b1d5b8f0c11; id",
      "0B6E8A7C-4D7E-4D59-9A43-6B1D5B8F0C11",
      "",
    ]) {
      expect(errorType(send({ uuid: [uuid] })), uuid).toBe("InvalidParameters");
    }
    expect(errorType(send({}))).toBe("InvalidParameters");
    expect(errorType(send({ uuid: ["0b6e8a7c-4d7e-4d59-9a43-6b1d5b8f0c11"], commands: ["id"] }))).toBe(
      "InvalidParameters",
    );
    expect(errorType(send({ uuid: ["0b6e8a7c-4d7e-4d59-9a43-6b1d5b8f0c11"], executionTimeout: ["0"] }))).toBe(
      "InvalidParameters",
    );
    advance(100);
    expect(state.hasWork(ID)).toBe(false);
    // A good one: the script is the document's, the value travels in the environment only.
    send({ uuid: ["0b6e8a7c-4d7e-4d59-9a43-6b1d5b8f0c11"], executionTimeout: ["30"] })();
    const [work] = state.takeWork(ID).commands;
    expect(work!.environment).toEqual({ SSM_uuid: "0b6e8a7c-4d7e-4d59-9a43-6b1d5b8f0c11" });
    expect(work!.script).not.toContain("0b6e8a7c");
    expect(work!.executionTimeoutSeconds).toBe(30);
  });
});
