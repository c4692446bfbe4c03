/**
 * The one adapter over Step Functions executions (`@aws-sdk/client-sfn`; locally the local endpoint via
 * AWS_ENDPOINT_URL_SFN): start by name, status, and for the API describe and history.
 */
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  type SFNClient,
  StartExecutionCommand,
} from "@aws-sdk/client-sfn";
import {
  type ExecutionLook,
  type ExecutionReader,
  type ExecutionStarter,
  type ExecutionStatus,
  executionArnOf,
} from "../flow/executions.js";

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

/** What the API reads of executions beyond starting them. */
export interface ExecutionHistoryReader {
  /** null: no such execution (or not an execution ARN). */
  describe(executionArn: string): Promise<ExecutionSummary | null>;
  history(executionArn: string): Promise<HistoryEvent[]>;
}

const errorName = (e: unknown) => (e as { name?: string } | null)?.name;

/** A JSON text (an execution's input, output, a step's output) as its value; not JSON: the text itself. */
export function parseJson(text: string | undefined): unknown {
  if (text === undefined) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export class SfnExecutions implements ExecutionStarter, ExecutionReader, ExecutionHistoryReader {
  constructor(private readonly client: SFNClient) {}

  async start(stateMachineArn: string, name: string, input: object) {
    try {
      const out = await this.client.send(
        new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify(input) }),
      );
      return { executionArn: out.executionArn ?? executionArnOf(stateMachineArn, name), started: true };
    } catch (e) {
      // The same name ran before or runs (a retried request, a repeated event): never start twice.
      if (errorName(e) === "ExecutionAlreadyExists") {
        return { executionArn: executionArnOf(stateMachineArn, name), started: false };
      }
      throw e;
    }
  }

  async status(executionArn: string): Promise<ExecutionLook> {
    try {
      const out = await this.client.send(new DescribeExecutionCommand({ executionArn }));
      return { status: (out.status ?? "RUNNING") as ExecutionStatus, stoppedAt: out.stopDate ?? null };
    } catch (e) {
      if (errorName(e) === "ExecutionDoesNotExist") return { status: "NOT_FOUND", stoppedAt: null };
      throw e;
    }
  }

  async describe(executionArn: string): Promise<ExecutionSummary | null> {
    try {
      const d = await this.client.send(new DescribeExecutionCommand({ executionArn }));
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
      if (errorName(e) === "ExecutionDoesNotExist" || errorName(e) === "InvalidArn") return null;
      throw e;
    }
  }

  async history(executionArn: string): Promise<HistoryEvent[]> {
    const events: HistoryEvent[] = [];
    let nextToken: string | undefined;
    do {
      const out = await this.client.send(
        new GetExecutionHistoryCommand({ executionArn, maxResults: 1000, nextToken }),
      );
      events.push(...(out.events ?? []));
      nextToken = out.nextToken;
    } while (nextToken);
    return events;
  }
}
