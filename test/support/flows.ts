/** Starting and watching rebuild/evacuate executions the way every caller does: the real SFN client. */
import { randomUUID } from "node:crypto";
import { DescribeExecutionCommand, SFNClient, StartExecutionCommand } from "@aws-sdk/client-sfn";
import type { RebuildRequest } from "#shared/flow/contract.js";

export interface FlowRun {
  requestId: string;
  executionArn: string;
  status: string;
  error?: string;
  cause?: string;
  output?: unknown;
}

export type FlowRequest = Partial<RebuildRequest> & Pick<RebuildRequest, "instanceUuid" | "recreate">;

export async function startFlow(sfn: SFNClient, stateMachineArn: string, req: FlowRequest) {
  const requestId = req.requestId ?? randomUUID();
  const out = await sfn.send(
    new StartExecutionCommand({
      stateMachineArn,
      name: requestId,
      input: JSON.stringify({ ...req, requestId }),
    }),
  );
  return { requestId, executionArn: out.executionArn! };
}

export async function waitFlow(
  sfn: SFNClient,
  started: { requestId: string; executionArn: string },
  timeoutMs = 180_000,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const d = await sfn.send(new DescribeExecutionCommand({ executionArn: started.executionArn }));
    if (d.status !== "RUNNING") {
      const run: FlowRun = { ...started, status: d.status ?? "UNKNOWN" };
      if (d.error) run.error = d.error;
      if (d.cause) run.cause = d.cause;
      if (d.output) run.output = JSON.parse(d.output);
      return run;
    }
    if (Date.now() > deadline)
      throw new Error(`execution ${started.executionArn} still running after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

export async function runFlow(sfn: SFNClient, stateMachineArn: string, req: FlowRequest): Promise<FlowRun> {
  return waitFlow(sfn, await startFlow(sfn, stateMachineArn, req));
}

/** A real SFN client aimed at whatever AWS_ENDPOINT_URL_SFN says (the local cloud sets it). */
export function sfnClient(): SFNClient {
  return new SFNClient({});
}
