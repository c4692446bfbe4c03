/**
 * An execution's history as the Step Functions API reports it (GetExecutionHistory), recorded from the
 * events of `aws-local-stepfunctions`. The runner (runner.ts) runs executions; this module only turns the
 * library's events into AWS's HistoryEvents, numbers them, and sets the execution's terminal status.
 *
 * Mapping (library event -> AWS HistoryEventType), one function per library event kind below:
 *   ExecutionStarted -> ExecutionStarted (executionStartedEventDetails)
 *   StateEntered(T) -> `${T}StateEntered` (TaskStateEntered, PassStateEntered, MapStateEntered, ...),
 *     for Map/Parallel followed by MapStateStarted/ParallelStateStarted (no `length` detail)
 *   StateExited(T)  -> `${T}StateExited`, for Map/Parallel preceded by MapStateSucceeded/ParallelStateSucceeded
 *   StateFailed(Task) -> TaskFailed (taskFailedEventDetails: resourceType, resource, error, cause)
 *     [AWS itself reports LambdaFunctionFailed for plain Lambda ARNs; here it is TaskFailed for all]
 *   StateFailed(Map) -> MapStateFailed; StateFailed(Parallel) -> ParallelStateFailed;
 *   StateFailed(other types) -> dropped (AWS has no such event; the error is in ExecutionFailed)
 *   StateRetried, StateCaught -> dropped (AWS shows a retry/catch as the failure event followed by
 *     the next entered/exited event)
 *   MapIterationStarted/Succeeded/Failed -> same names (mapIteration*EventDetails {name, index})
 *   ParallelBranchStarted/Succeeded/Failed -> dropped
 *   ExecutionSucceeded -> ExecutionSucceeded, ExecutionFailed -> ExecutionFailed,
 *   ExecutionAborted -> ExecutionAborted (error/cause from StopExecution), ExecutionTimeout -> ExecutionTimedOut
 * `previousEventId` is the previous event's id (AWS's is causal). Events of Map iterations are forwarded
 * asynchronously by the library, so they may interleave slightly out of order.
 */
import type { ExecutionStatus, HistoryEvent, HistoryEventType } from "@aws-sdk/client-sfn";
import type { StateMachine } from "aws-local-stepfunctions";

/** One event of the library's run log. */
export type LibraryEvent = NonNullable<
  Awaited<ReturnType<ReturnType<StateMachine["run"]>["eventLogs"]["next"]>>["value"]
>;

/** The part of an execution the recorder reads and writes. */
export interface RecordedExecution {
  input: string;
  machine: { roleArn: string; tasks: ReadonlyMap<string, { resource: string }> };
  status: ExecutionStatus;
  stopDate?: Date;
  output?: string;
  error?: string;
  cause?: string;
  events: HistoryEvent[];
  /** StopExecution's error and cause, for the ExecutionAborted event. */
  abortDetails?: { error?: string; cause?: string };
  /** Map/Parallel states (`name#index`) whose last event was a failure. */
  failedBlocks: Set<string>;
}

/** An event to append: its type and its details field. */
export interface HistoryEntry {
  type: HistoryEventType;
  details: Partial<HistoryEvent>;
}

export const TERMINAL_STATUSES: ReadonlySet<ExecutionStatus> = new Set([
  "SUCCEEDED",
  "FAILED",
  "ABORTED",
  "TIMED_OUT",
]);

/** A value as Step Functions writes it into history details: JSON text, `null` for undefined. */
export function jsonText(value: unknown): string {
  return JSON.stringify(value === undefined ? null : value);
}

const causeText = (cause: unknown) => (typeof cause === "string" ? cause : jsonText(cause));
const blockKey = (name: string, index: number | undefined) => `${name}#${index ?? ""}`;
const isBlock = (type: string) => type === "Map" || type === "Parallel";

type EventOf<K extends LibraryEvent["type"]> = Extract<LibraryEvent, { type: K }>;
type Mapper<K extends LibraryEvent["type"]> = (
  event: EventOf<K>,
  execution: RecordedExecution,
) => HistoryEntry[];

const executionStarted: Mapper<"ExecutionStarted"> = (_event, execution) => [
  {
    type: "ExecutionStarted",
    details: {
      executionStartedEventDetails: {
        input: execution.input,
        inputDetails: { truncated: false },
        roleArn: execution.machine.roleArn,
      },
    },
  },
];

const stateEntered: Mapper<"StateEntered"> = (event) => {
  const { type, name, input } = event.state;
  const entered: HistoryEntry = {
    type: `${type}StateEntered` as HistoryEventType,
    details: {
      stateEnteredEventDetails: { name, input: jsonText(input), inputDetails: { truncated: false } },
    },
  };
  return isBlock(type)
    ? [entered, { type: `${type}StateStarted` as HistoryEventType, details: {} }]
    : [entered];
};

const stateExited: Mapper<"StateExited"> = (event, execution) => {
  const { type, name, output } = event.state;
  const exited: HistoryEntry = {
    type: `${type}StateExited` as HistoryEventType,
    details: {
      stateExitedEventDetails: { name, output: jsonText(output), outputDetails: { truncated: false } },
    },
  };
  // A Map/Parallel succeeded unless its last event was a failure that a Catch handled (it exits anyway).
  if (isBlock(type) && !execution.failedBlocks.delete(blockKey(name, event.index))) {
    return [{ type: `${type}StateSucceeded` as HistoryEventType, details: {} }, exited];
  }
  return [exited];
};

const stateFailed: Mapper<"StateFailed"> = (event, execution) => {
  const { type, name } = event.state;
  if (type === "Task") {
    const resource = execution.machine.tasks.get(name)?.resource ?? "";
    const m = /^arn:aws[\w-]*:states:::([^:]+):(.+)$/.exec(resource);
    return [
      {
        type: "TaskFailed",
        details: {
          taskFailedEventDetails: {
            resourceType: m?.[1] ?? "lambda",
            resource: m?.[2] ?? resource,
            error: event.Error,
            cause: causeText(event.Cause),
          },
        },
      },
    ];
  }
  if (isBlock(type)) {
    execution.failedBlocks.add(blockKey(name, event.index));
    return [{ type: `${type}StateFailed` as HistoryEventType, details: {} }];
  }
  return [];
};

const mapIterationStarted: Mapper<"MapIterationStarted"> = (event, execution) => {
  // A retried Map runs its iterations again: it is no longer failed.
  execution.failedBlocks.delete(blockKey(event.parentState.name, undefined));
  return [
    {
      type: "MapIterationStarted",
      details: { mapIterationStartedEventDetails: { name: event.parentState.name, index: event.index } },
    },
  ];
};

const mapIterationSucceeded: Mapper<"MapIterationSucceeded"> = (event) => [
  {
    type: "MapIterationSucceeded",
    details: { mapIterationSucceededEventDetails: { name: event.parentState.name, index: event.index } },
  },
];

const mapIterationFailed: Mapper<"MapIterationFailed"> = (event) => [
  {
    type: "MapIterationFailed",
    details: { mapIterationFailedEventDetails: { name: event.parentState.name, index: event.index } },
  },
];

const executionSucceeded: Mapper<"ExecutionSucceeded"> = (event) => [succeeded(event.output)];

const executionFailed: Mapper<"ExecutionFailed"> = (event) => [failed(event.Error, causeText(event.Cause))];

const executionAborted: Mapper<"ExecutionAborted"> = (_event, execution) => [aborted(execution)];

const executionTimeout: Mapper<"ExecutionTimeout"> = () => [
  { type: "ExecutionTimedOut", details: { executionTimedOutEventDetails: { error: "States.Timeout" } } },
];

/** The library's event kinds that have an AWS history event; the others are dropped (see the table above). */
const MAPPERS: { [K in LibraryEvent["type"]]?: Mapper<K> } = {
  ExecutionStarted: executionStarted,
  StateEntered: stateEntered,
  StateExited: stateExited,
  StateFailed: stateFailed,
  MapIterationStarted: mapIterationStarted,
  MapIterationSucceeded: mapIterationSucceeded,
  MapIterationFailed: mapIterationFailed,
  ExecutionSucceeded: executionSucceeded,
  ExecutionFailed: executionFailed,
  ExecutionAborted: executionAborted,
  ExecutionTimeout: executionTimeout,
};

/** The AWS history events for one library event, in order (none for the kinds AWS does not show). */
export function historyEntries(execution: RecordedExecution, event: LibraryEvent): HistoryEntry[] {
  const mapper = MAPPERS[event.type] as Mapper<typeof event.type> | undefined;
  return mapper ? mapper(event as never, execution) : [];
}

/** ExecutionSucceeded with `output` (a value, written as JSON text). */
export function succeeded(output: unknown): HistoryEntry {
  return {
    type: "ExecutionSucceeded",
    details: {
      executionSucceededEventDetails: { output: jsonText(output), outputDetails: { truncated: false } },
    },
  };
}

export function failed(error: string, cause: string): HistoryEntry {
  return { type: "ExecutionFailed", details: { executionFailedEventDetails: { error, cause } } };
}

/** ExecutionAborted with StopExecution's error and cause. */
export function aborted(execution: RecordedExecution): HistoryEntry {
  return {
    type: "ExecutionAborted",
    details: { executionAbortedEventDetails: { ...execution.abortDetails } },
  };
}

/**
 * Appends one event (numbered after the last) and, for a terminal event, sets the execution's status,
 * stop date, output or error. Nothing is appended after the terminal event: returns undefined then.
 */
export function appendEvent(
  execution: RecordedExecution,
  entry: HistoryEntry,
  timestamp: number = Date.now(),
): HistoryEvent | undefined {
  if (TERMINAL_STATUSES.has(execution.status)) return undefined;
  const event: HistoryEvent = {
    timestamp: new Date(timestamp),
    type: entry.type,
    id: execution.events.length + 1,
    previousEventId: execution.events.at(-1)?.id ?? 0,
    ...entry.details,
  };
  switch (entry.type) {
    case "ExecutionSucceeded":
      execution.status = "SUCCEEDED";
      execution.output = event.executionSucceededEventDetails?.output;
      break;
    case "ExecutionFailed":
      execution.status = "FAILED";
      execution.error = event.executionFailedEventDetails?.error;
      execution.cause = event.executionFailedEventDetails?.cause;
      break;
    case "ExecutionAborted":
      execution.status = "ABORTED";
      execution.error = event.executionAbortedEventDetails?.error;
      execution.cause = event.executionAbortedEventDetails?.cause;
      break;
    case "ExecutionTimedOut":
      execution.status = "TIMED_OUT";
      execution.error = "States.Timeout";
      break;
    default:
      break;
  }
  if (TERMINAL_STATUSES.has(execution.status)) execution.stopDate = new Date(timestamp);
  execution.events.push(event);
  return event;
}
