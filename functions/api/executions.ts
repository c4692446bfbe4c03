/**
 * Step Functions executions as the API needs them: start one (idempotent by name), describe it, read its
 * history. The adapter over `@aws-sdk/client-sfn`; the local cloud's endpoint speaks the same protocol.
 */
import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  InvalidArn,
  type SFNClient,
  StartExecutionCommand,
} from "@aws-sdk/client-sfn";

export interface ExecutionSummary {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  status: string;
  startDate: Date;
  stopDate: Date | null;
  input: unknown;
  output: unknown;
  error: string | null;
  cause: string | null;
}

export interface Executions {
  /**
   * Start `name` on the machine. Starting a name that already ran (a retried request) is not an error:
   * the existing execution is returned, `started: false`.
   */
  start(
    stateMachineArn: string,
    name: string,
    input: object,
  ): Promise<{ executionArn: string; started: boolean }>;
  /** null: no such execution. */
  describe(executionArn: string): Promise<ExecutionSummary | null>;
  history(executionArn: string): Promise<HistoryEvent[]>;
}

/** The ARN of execution `name` of a machine (what StartExecution returns for it). */
export function executionArnOf(stateMachineArn: string, name: string): string {
  return `${stateMachineArn.replace(":stateMachine:", ":execution:")}:${name}`;
}

function parseJson(text: string | undefined): unknown {
  if (text === undefined) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export class SfnExecutions implements Executions {
  constructor(private readonly sfn: SFNClient) {}

  async start(stateMachineArn: string, name: string, input: object) {
    try {
      const out = await this.sfn.send(
        new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify(input) }),
      );
      return { executionArn: out.executionArn!, started: true };
    } catch (e) {
      // The same name ran before (this request was retried after its execution ended): never start twice.
      if (e instanceof ExecutionAlreadyExists) {
        return { executionArn: executionArnOf(stateMachineArn, name), started: false };
      }
      throw e;
    }
  }

  async describe(executionArn: string): Promise<ExecutionSummary | null> {
    try {
      const d = await this.sfn.send(new DescribeExecutionCommand({ executionArn }));
      return {
        executionArn: d.executionArn!,
        stateMachineArn: d.stateMachineArn!,
        name: d.name!,
        status: d.status!,
        startDate: d.startDate!,
        stopDate: d.stopDate ?? null,
        input: parseJson(d.input),
        output: parseJson(d.output),
        error: d.error ?? null,
        cause: d.cause ?? null,
      };
    } catch (e) {
      if (e instanceof ExecutionDoesNotExist || e instanceof InvalidArn) return null;
      throw e;
    }
  }

  async history(executionArn: string): Promise<HistoryEvent[]> {
    const events: HistoryEvent[] = [];
    let nextToken: string | undefined;
    do {
      const out = await this.sfn.send(
        new GetExecutionHistoryCommand({ executionArn, maxResults: 1000, nextToken }),
      );
      events.push(...(out.events ?? []));
      nextToken = out.nextToken;
    } while (nextToken);
    return events;
  }
}
