/**
 * The local SSM service's state without HTTP, on a clock the test moves: each timeout SSM applies is
 * reached by moving time, not by waiting.
 */
import { describe, expect, it } from "vitest";
import { AwsJsonError } from "#local/http/aws-json.js";
import { createSsmState } from "#local/ssm/ssm-state.js";

const ID = "mi-0123456789abcdef0";

function setup(opts: Parameters<typeof createSsmState>[0] = {}) {
  let now = 1_000_000;
  const woken: string[] = [];
  const state = createSsmState(
    { agentHealthIntervalMs: 1000, invocationVisibilityDelayMs: 50, maxDeliveryMs: 5000, ...opts },
    { now: () => now, onWork: (ids) => woken.push(...ids) },
  );
  state.registerInstance(ID, "host-a");
  const send = (lines = ["true"]) =>
    (
      state.operations.SendCommand!({
        DocumentName: "AWS-RunShellScript",
        InstanceIds: [ID],
        Parameters: { commands: lines },
      }) as { Command: { CommandId: string } }
    ).Command.CommandId;
  const invocation = (commandId: string) =>
    state.operations.GetCommandInvocation!({ CommandId: commandId, InstanceId: ID }) as {
      Status: string;
      StatusDetails: string;
      ResponseCode: number;
      StandardOutputContent: string;
    };
  return { state, send, invocation, woken, advance: (ms: number) => (now += ms) };
}

const errorType = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return e instanceof AwsJsonError ? e.type : `not an AwsJsonError: ${String(e)}`;
  }
  return "no error";
};

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
    expect(work.commands.map((c) => c.script)).toEqual(["echo hi"]);
    expect(invocation(id).Status).toBe("InProgress");
    expect(
      state.agentResult({ instanceId: ID, commandId: id, exitCode: 0, stdout: "x".repeat(30_000) }),
    ).toEqual({ accepted: true, status: "Success" });
    expect(invocation(id).StandardOutputContent).toHaveLength(24_000);
    // A second report of the same command changes nothing.
    expect(state.agentResult({ instanceId: ID, commandId: id, exitCode: 1 }).accepted).toBe(false);
  });

  it("PingStatus follows health reports, not polls: ConnectionLost only after connectionLostAfterMs", () => {
    const { state, advance } = setup();
    expect(state.pingStatus(ID)).toBe("ConnectionLost");
    state.notePing(ID);
    expect(state.pingStatus(ID)).toBe("Online");
    advance(1500);
    expect(state.pingStatus(ID)).toBe("Online");
    advance(600);
    expect(state.pingStatus(ID)).toBe("ConnectionLost");
  });

  it("a command nobody picks up times out at the delivery deadline; one to a lost agent is Undeliverable", () => {
    const { state, send, invocation, advance } = setup();
    const lost = send();
    advance(300);
    state.sweep();
    expect(invocation(lost)).toMatchObject({ Status: "Failed", StatusDetails: "Undeliverable" });

    state.notePing(ID);
    const unpicked = send();
    advance(4999);
    state.sweep();
    expect(invocation(unpicked).Status).toBe("Pending");
    advance(1);
    state.sweep();
    expect(invocation(unpicked)).toMatchObject({ Status: "TimedOut", StatusDetails: "DeliveryTimedOut" });
  });

  it("a delivered command whose agent never reports ends ExecutionTimedOut after its timeout and grace", () => {
    const { state, invocation, advance } = setup({ executionGraceMs: 2000 });
    state.notePing(ID);
    const id = (
      state.operations.SendCommand!({
        DocumentName: "AWS-RunShellScript",
        InstanceIds: [ID],
        Parameters: { commands: ["sleep 100"], executionTimeout: ["5"] },
      }) as { Command: { CommandId: string } }
    ).Command.CommandId;
    expect(state.takeWork(ID).commands[0]?.executionTimeoutSeconds).toBe(5);
    advance(6999);
    state.sweep();
    expect(invocation(id).Status).toBe("InProgress");
    advance(1);
    state.sweep();
    expect(invocation(id)).toMatchObject({ Status: "TimedOut", StatusDetails: "ExecutionTimedOut" });
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
});
