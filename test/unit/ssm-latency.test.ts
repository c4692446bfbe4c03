/**
 * The local SSM endpoint's latency knob (what `npm run bench` uses to see the flows at AWS's latencies):
 * a command reaches its agent only after `deliveryDelayMs`, and the agent's result shows in
 * GetCommandInvocation only `statusDelayMs` after the report (InProgress until then). Also its counters.
 * The delays are long (1.5 s) so that a loaded machine cannot make the "before" checks late.
 */
import { GetCommandInvocationCommand, SendCommandCommand, SSMClient } from "@aws-sdk/client-ssm";
import { describe, expect, it } from "vitest";
import { type SsmCommandNotice, startSsmEndpoint } from "#local/ssm/ssm-endpoint.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("local SSM latency", () => {
  it("delays delivery and the visible result; counts operations and reports each command", async () => {
    const ssm = await startSsmEndpoint({
      agentPollWaitMs: 50,
      invocationVisibilityDelayMs: 0,
      deliveryDelayMs: 1500,
      statusDelayMs: 1500,
      // SSM's own timing, with the shell document (the stack's documents are not needed here).
      allowShellDocument: true,
    });
    const client = new SSMClient({
      endpoint: ssm.url,
      region: "us-east-1",
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
    });
    try {
      const id = "mi-0123456789abcdef0";
      ssm.registerInstance(id, "h1");
      type Work = { commands: { commandId: string }[] };
      const poll = async () =>
        (await (
          await fetch(`${ssm.url}/agent/poll`, { method: "POST", body: JSON.stringify({ instanceId: id }) })
        ).json()) as Work;
      await poll(); // the agent reports health: Online
      const seen: SsmCommandNotice[] = [];
      ssm.onCommand((c) => seen.push(c));
      const sent = await client.send(
        new SendCommandCommand({
          DocumentName: "AWS-RunShellScript",
          InstanceIds: [id],
          Parameters: { commands: ["true"] },
          Comment: "probe",
        }),
      );
      const commandId = sent.Command!.CommandId!;
      expect(seen.map((c) => [c.commandId, c.comment, c.documentName, c.script])).toEqual([
        [commandId, "probe", "AWS-RunShellScript", "true\n"],
      ]);
      // Not delivered before the delay.
      expect((await poll()).commands).toEqual([]);
      await sleep(1600);
      const work = await poll();
      expect(work.commands.map((c) => c.commandId)).toEqual([commandId]);
      await fetch(`${ssm.url}/agent/result`, {
        method: "POST",
        body: JSON.stringify({ instanceId: id, commandId, exitCode: 0, stdout: "ok", stderr: "" }),
      });
      const status = async () =>
        (await client.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: id }))).Status;
      expect(await status()).toBe("InProgress");
      await sleep(1600);
      expect(await status()).toBe("Success");
      expect(ssm.operationCounts()).toEqual({ SendCommand: 1, GetCommandInvocation: 2 });

      // Without latency (setLatency({})): delivered and visible at once.
      ssm.setLatency({});
      const again = await client.send(
        new SendCommandCommand({
          DocumentName: "AWS-RunShellScript",
          InstanceIds: [id],
          Parameters: { commands: ["true"] },
        }),
      );
      const quick = await poll();
      expect(quick.commands.map((c) => c.commandId)).toEqual([again.Command!.CommandId]);
    } finally {
      client.destroy();
      await ssm.close();
    }
  });
});
