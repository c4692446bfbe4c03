/** ExecutionReader over Step Functions `DescribeExecution` (AWS, or the local endpoint via AWS_ENDPOINT_URL_SFN). */
import { DescribeExecutionCommand, type SFNClient } from "@aws-sdk/client-sfn";
import type { ExecutionReader, ExecutionStatus } from "../flow/executions.js";

export class SfnExecutions implements ExecutionReader {
  constructor(private readonly client: SFNClient) {}

  async status(executionArn: string): Promise<ExecutionStatus> {
    try {
      const out = await this.client.send(new DescribeExecutionCommand({ executionArn }));
      return (out.status ?? "RUNNING") as ExecutionStatus;
    } catch (e) {
      if ((e as { name?: string }).name === "ExecutionDoesNotExist") return "NOT_FOUND";
      throw e;
    }
  }
}
