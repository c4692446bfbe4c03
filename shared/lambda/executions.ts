/** Starts state machine executions by name (the name is the idempotency key: a duplicate is not an error). */
import { type SFNClient, StartExecutionCommand } from "@aws-sdk/client-sfn";

export interface ExecutionStarter {
  /** `started: false` = an execution with this name already exists (a duplicate request). */
  start(
    stateMachineArn: string,
    name: string,
    input: unknown,
  ): Promise<{ started: boolean; executionArn: string | null }>;
}

export class SfnExecutionStarter implements ExecutionStarter {
  constructor(private readonly client: SFNClient) {}

  async start(stateMachineArn: string, name: string, input: unknown) {
    try {
      const out = await this.client.send(
        new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify(input) }),
      );
      return { started: true, executionArn: out.executionArn ?? null };
    } catch (e) {
      if (e instanceof Error && e.name === "ExecutionAlreadyExists")
        return { started: false, executionArn: null };
      throw e;
    }
  }
}
