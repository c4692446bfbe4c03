/**
 * Local Step Functions: runs the project's ASL definitions (JSONPath) in-process with
 * `aws-local-stepfunctions`, and keeps executions the way the Step Functions API reports them
 * (DescribeExecution / GetExecutionHistory / ListExecutions shapes from `@aws-sdk/client-sfn`).
 *
 * Task resources, served through the library's per-state overrides (state names are unique in a
 * whole definition, asl-validator checks that):
 * - `arn:aws:lambda:<r>:<a>:function:<name>[:q]` (plain Lambda ARN) and `arn:aws:states:::lambda:invoke`:
 *   invoked through the real `@aws-sdk/client-lambda` against `options.lambda.endpoint`, else the SDK's
 *   own configuration (`AWS_ENDPOINT_URL_LAMBDA`). A function error becomes a state error named by its
 *   `errorType` whose Cause is the function's error payload as a JSON string, as in AWS; an SDK error
 *   becomes `Lambda.<ExceptionName>`.
 * - `arn:aws:states:::states:startExecution` / `.sync` / `.sync:2`: child executions of this same
 *   `LocalStepFunctions` (output shapes as AWS's; a child that does not succeed fails the Task with
 *   `States.TaskFailed`; stopping the parent stops its running `.sync` children).
 *
 * History: each execution's events are recorded as AWS reports them by execution-history.ts.
 */
import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import { InvokeCommand, LambdaClient } from "@aws-sdk/client-lambda";
import type {
  DescribeExecutionOutput,
  DescribeStateMachineOutput,
  ExecutionListItem,
  ExecutionStatus,
  GetExecutionHistoryOutput,
  HistoryEvent,
  ListExecutionsOutput,
  ListStateMachinesOutput,
  StartExecutionOutput,
  StopExecutionOutput,
} from "@aws-sdk/client-sfn";
import { type RunOptions, StateMachine, type StateMachineDefinition } from "aws-local-stepfunctions";
import { AwsJsonError } from "../http/aws-json.js";
import {
  aborted,
  appendEvent,
  failed,
  type HistoryEntry,
  historyEntries,
  jsonText,
  type LibraryEvent,
  type RecordedExecution,
  succeeded,
  TERMINAL_STATUSES,
} from "./execution-history.js";

type AslValidator = (
  definition: unknown,
  options?: { checkPaths?: boolean; checkArn?: boolean },
) => { isValid: boolean; errors: unknown[]; errorsText: (separator?: string) => string };
const aslValidator = createRequire(import.meta.url)("asl-validator") as AslValidator;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };
type Overrides = NonNullable<RunOptions["overrides"]>;

/** An error answered by the Step Functions API; `name` is the API's error code (`__type`). */
export class SfnApiError extends AwsJsonError {
  constructor(code: SfnErrorCode, message: string) {
    super(code, message);
  }
}
export type SfnErrorCode =
  | "ExecutionAlreadyExists"
  | "ExecutionDoesNotExist"
  | "StateMachineDoesNotExist"
  | "StateMachineAlreadyExists"
  | "InvalidDefinition"
  | "InvalidName"
  | "InvalidArn"
  | "InvalidExecutionInput"
  | "ValidationException";

export interface LocalStepFunctionsOptions {
  region?: string;
  accountId?: string;
  /** How Lambda Task resources are invoked. Without `endpoint`, the SDK's own config (AWS_ENDPOINT_URL_LAMBDA). */
  lambda?: {
    endpoint?: string;
    region?: string;
    /** Default: the SDK's chain if AWS_ACCESS_KEY_ID is set, else dummy local credentials. */
    credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  };
  /** Multiplies every Retry interval (IntervalSeconds, MaxDelaySeconds); backoff still applies. 0 = retry at once. */
  retryIntervalScale?: number;
  /** Multiplies Wait states' `Seconds`. 0 = no wait. (SecondsPath/Timestamp: use `waitTimeOverrides`.) */
  waitTimeScale?: number;
}

export interface CreateStateMachineInput {
  name: string;
  /** ASL text or object; `${Name}` placeholders are filled from `substitutions`. */
  definition: string | object;
  substitutions?: Record<string, string>;
  roleArn?: string;
  /** Passed to aws-local-stepfunctions for every execution of this machine (keyed by state name, ms). */
  overrides?: {
    retryIntervalOverrides?: Overrides["retryIntervalOverrides"];
    waitTimeOverrides?: Overrides["waitTimeOverrides"];
  };
}

export interface StartExecutionInput {
  stateMachineArn: string;
  name?: string;
  /** A JSON string (as the API takes it) or a value to serialize. Default "{}". */
  input?: string | unknown;
}

export interface ExecutionEventNotice {
  executionArn: string;
  stateMachineArn: string;
  event: HistoryEvent;
}
export type ExecutionEventListener = (notice: ExecutionEventNotice) => void;

interface TaskInfo {
  resource: string;
  kind: "lambda" | "lambdaInvoke" | "startExecution" | "startExecutionSync" | "startExecutionSync2" | "other";
}

interface MachineRecord {
  arn: string;
  name: string;
  definitionText: string;
  /** The definition actually run (timeouts/scales applied). */
  runnable: StateMachineDefinition;
  roleArn: string;
  creationDate: Date;
  tasks: Map<string, TaskInfo>;
  overrides: CreateStateMachineInput["overrides"];
}

interface ExecutionRecord extends RecordedExecution {
  arn: string;
  machine: MachineRecord;
  name: string;
  startDate: Date;
  abort: () => void;
  children: Set<string>;
  done: Promise<void>;
  listeners: Set<() => void>;
}

/** setTimeout's ceiling; the library's default Task timeout (60 s) is not AWS's (none). */
const MAX_TASK_TIMEOUT_SECONDS = 2_147_483;
const NAME_FORBIDDEN = /[\s<>{}[\]?*"#%\\^|~`$&,;:/]/;
/** AWS's name rules: 1-80 characters, no whitespace, brackets, wildcards, special or control characters. */
function validName(name: string): boolean {
  if (name.length < 1 || name.length > 80 || NAME_FORBIDDEN.test(name)) return false;
  for (const ch of name) {
    const code = ch.codePointAt(0)!;
    if (code <= 0x1f || (code >= 0x7f && code <= 0x9f)) return false;
  }
  return true;
}

function classify(resource: string): TaskInfo["kind"] {
  if (/^arn:aws[\w-]*:lambda:[^:]+:\d{12}:function:[^:]+(:[^:]+)?$/.test(resource)) return "lambda";
  if (/^arn:aws[\w-]*:states:::lambda:invoke$/.test(resource)) return "lambdaInvoke";
  const m = /^arn:aws[\w-]*:states:::states:startExecution(\.sync(:2)?)?$/.exec(resource);
  if (m) return m[2] ? "startExecutionSync2" : m[1] ? "startExecutionSync" : "startExecution";
  return "other";
}

type StatesMap = Record<string, JsonObject>;
/** Calls `visit` for every state of the definition, nested Map/Parallel states included. */
function walkStates(def: JsonObject, visit: (name: string, state: JsonObject) => void): void {
  const states = def.States as unknown as StatesMap | undefined;
  if (!states) return;
  for (const [name, state] of Object.entries(states)) {
    visit(name, state);
    for (const key of ["ItemProcessor", "Iterator"]) {
      const sub = state[key];
      if (sub && typeof sub === "object" && !Array.isArray(sub)) walkStates(sub, visit);
    }
    if (Array.isArray(state.Branches)) {
      for (const branch of state.Branches) {
        if (branch && typeof branch === "object" && !Array.isArray(branch)) walkStates(branch, visit);
      }
    }
  }
}

export function fillSubstitutions(text: string, substitutions: Record<string, string>): string {
  const missing = new Set<string>();
  const out = text.replace(/\$\{([A-Za-z0-9_.:-]+)\}/g, (whole, key: string) => {
    const value = substitutions[key];
    if (value === undefined) {
      missing.add(key);
      return whole;
    }
    return value;
  });
  if (missing.size > 0) {
    throw new SfnApiError(
      "InvalidDefinition",
      `No substitution for placeholder(s): ${[...missing].join(", ")}`,
    );
  }
  return out;
}

/** An execution's input as the API takes it: JSON text as given, another value serialized, "{}" when absent. */
function inputText(input: unknown): string {
  return input === undefined ? "{}" : typeof input === "string" ? input : JSON.stringify(input);
}

/** Parses JSON text; what is not JSON is refused with `refuse(reason)`. */
function parseJson<T>(text: string, refuse: (reason: string) => Error): T {
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw refuse((err as Error).message);
  }
}

function taskError(name: string, message: string): Error {
  const err = new Error(message);
  err.name = name;
  return err;
}

function encodeToken(offset: number): string {
  return Buffer.from(JSON.stringify({ offset }), "utf8").toString("base64");
}
function decodeToken(token: string | undefined): number {
  if (!token) return 0;
  try {
    const parsed = JSON.parse(Buffer.from(token, "base64").toString("utf8")) as { offset?: unknown };
    if (typeof parsed.offset === "number" && parsed.offset >= 0) return parsed.offset;
  } catch {
    // fall through
  }
  throw new SfnApiError("ValidationException", "Invalid nextToken");
}

export class LocalStepFunctions {
  readonly region: string;
  readonly accountId: string;
  private readonly options: LocalStepFunctionsOptions;
  private readonly machines = new Map<string, MachineRecord>();
  private readonly executions = new Map<string, ExecutionRecord>();
  private readonly listeners = new Set<ExecutionEventListener>();

  constructor(options: LocalStepFunctionsOptions = {}) {
    this.options = options;
    this.region = options.region ?? "us-east-1";
    this.accountId = options.accountId ?? "000000000000";
  }

  stateMachineArn(name: string): string {
    return `arn:aws:states:${this.region}:${this.accountId}:stateMachine:${name}`;
  }

  /** Registers a state machine; idempotent for an identical definition and role. Returns its ARN. */
  createStateMachine(input: CreateStateMachineInput): string {
    if (!validName(input.name))
      throw new SfnApiError("InvalidName", `Invalid State Machine Name: '${input.name}'`);
    const raw = typeof input.definition === "string" ? input.definition : JSON.stringify(input.definition);
    const text = fillSubstitutions(raw, input.substitutions ?? {});
    const parsed = parseJson<JsonObject>(
      text,
      (reason) => new SfnApiError("InvalidDefinition", `Invalid State Machine Definition: ${reason}`),
    );
    const { isValid, errorsText } = aslValidator(structuredClone(parsed), {
      checkArn: true,
      checkPaths: true,
    });
    if (!isValid) {
      throw new SfnApiError("InvalidDefinition", `Invalid State Machine Definition: ${errorsText("; ")}`);
    }
    const unsupported: string[] = [];
    if (parsed.QueryLanguage === "JSONata") unsupported.push("QueryLanguage JSONata");
    const tasks = new Map<string, TaskInfo>();
    walkStates(parsed, (name, state) => {
      if (state.QueryLanguage === "JSONata") unsupported.push(`${name}: QueryLanguage JSONata`);
      if ("Assign" in state) unsupported.push(`${name}: Assign`);
      if ("ToleratedFailureCount" in state || "ToleratedFailurePercentage" in state) {
        unsupported.push(`${name}: ToleratedFailure*`);
      }
      if (state.Type === "Task" && typeof state.Resource === "string") {
        tasks.set(name, { resource: state.Resource, kind: classify(state.Resource) });
      }
    });
    if (unsupported.length > 0) {
      throw new SfnApiError(
        "InvalidDefinition",
        `Not supported by the local runner: ${unsupported.join(", ")}`,
      );
    }

    const arn = this.stateMachineArn(input.name);
    const roleArn = input.roleArn ?? `arn:aws:iam::${this.accountId}:role/${input.name}-role`;
    const existing = this.machines.get(arn);
    if (existing) {
      if (existing.definitionText === text && existing.roleArn === roleArn) return arn;
      throw new SfnApiError("StateMachineAlreadyExists", `State Machine Already Exists: '${arn}'`);
    }
    this.machines.set(arn, {
      arn,
      name: input.name,
      definitionText: text,
      runnable: this.runnableDefinition(parsed),
      roleArn,
      creationDate: new Date(),
      tasks,
      overrides: input.overrides,
    });
    return arn;
  }

  /** A copy of the definition for the library: scaled retry/wait times, AWS's unbounded Task timeout. */
  private runnableDefinition(parsed: JsonObject): StateMachineDefinition {
    const copy = structuredClone(parsed);
    const retryScale = this.options.retryIntervalScale;
    const waitScale = this.options.waitTimeScale;
    walkStates(copy, (_name, state) => {
      if (
        state.Type === "Task" &&
        state.TimeoutSeconds === undefined &&
        state.TimeoutSecondsPath === undefined
      ) {
        state.TimeoutSeconds = MAX_TASK_TIMEOUT_SECONDS;
      }
      if (retryScale !== undefined && Array.isArray(state.Retry)) {
        for (const retrier of state.Retry as JsonObject[]) {
          retrier.IntervalSeconds = ((retrier.IntervalSeconds as number | undefined) ?? 1) * retryScale;
          if (typeof retrier.MaxDelaySeconds === "number") retrier.MaxDelaySeconds *= retryScale;
        }
      }
      if (waitScale !== undefined && state.Type === "Wait" && typeof state.Seconds === "number") {
        state.Seconds *= waitScale;
      }
    });
    return copy as unknown as StateMachineDefinition;
  }

  private machine(arn: string): MachineRecord {
    const machine = this.machines.get(arn);
    if (!machine) throw new SfnApiError("StateMachineDoesNotExist", `State Machine Does Not Exist: '${arn}'`);
    return machine;
  }

  private execution(arn: string): ExecutionRecord {
    const execution = this.executions.get(arn);
    if (!execution) throw new SfnApiError("ExecutionDoesNotExist", `Execution Does Not Exist: '${arn}'`);
    return execution;
  }

  describeStateMachine(stateMachineArn: string): DescribeStateMachineOutput {
    const m = this.machine(stateMachineArn);
    return {
      stateMachineArn: m.arn,
      name: m.name,
      status: "ACTIVE",
      definition: m.definitionText,
      roleArn: m.roleArn,
      type: "STANDARD",
      creationDate: m.creationDate,
    };
  }

  listStateMachines(params: { maxResults?: number; nextToken?: string } = {}): ListStateMachinesOutput {
    const all = [...this.machines.values()].map((m) => ({
      stateMachineArn: m.arn,
      name: m.name,
      type: "STANDARD" as const,
      creationDate: m.creationDate,
    }));
    const { page, nextToken } = paginate(all, params.maxResults, params.nextToken);
    return { stateMachines: page, ...(nextToken ? { nextToken } : {}) };
  }

  /**
   * AWS semantics: a name is unique per state machine (for 90 days). Starting again with the same name and
   * the same input while that execution is RUNNING returns it; otherwise ExecutionAlreadyExists.
   */
  startExecution(params: StartExecutionInput): StartExecutionOutput {
    const machine = this.machine(params.stateMachineArn);
    const name = params.name ?? randomUUID();
    if (!validName(name)) throw new SfnApiError("InvalidName", `Invalid Execution Name: '${name}'`);
    const input = inputText(params.input);
    const parsedInput = parseJson<Json>(
      input,
      (reason) =>
        new SfnApiError("InvalidExecutionInput", `Invalid State Machine Execution Input: '${reason}'`),
    );
    const arn = `arn:aws:states:${this.region}:${this.accountId}:execution:${machine.name}:${name}`;
    const existing = this.executions.get(arn);
    if (existing) {
      if (existing.status === "RUNNING" && existing.input === input) {
        return { executionArn: existing.arn, startDate: existing.startDate };
      }
      throw new SfnApiError("ExecutionAlreadyExists", `Execution Already Exists: '${arn}'`);
    }

    const record: ExecutionRecord = {
      arn,
      machine,
      name,
      input,
      status: "RUNNING",
      startDate: new Date(),
      events: [],
      abort: () => undefined,
      children: new Set(),
      failedBlocks: new Set(),
      done: Promise.resolve(),
      listeners: new Set(),
    };
    this.executions.set(arn, record);

    const library = new StateMachine(machine.runnable, { validationOptions: { noValidate: true } });
    const run = library.run(parsedInput, {
      overrides: {
        taskResourceLocalHandlers: this.taskHandlers(record),
        ...(machine.overrides?.retryIntervalOverrides
          ? { retryIntervalOverrides: machine.overrides.retryIntervalOverrides }
          : {}),
        ...(machine.overrides?.waitTimeOverrides
          ? { waitTimeOverrides: machine.overrides.waitTimeOverrides }
          : {}),
      },
      context: {
        Execution: {
          Id: arn,
          Name: name,
          RoleArn: machine.roleArn,
          StartTime: record.startDate.toISOString(),
        },
        StateMachine: { Id: machine.arn, Name: machine.name },
      },
    });
    record.abort = run.abort;
    const consume = (async () => {
      for await (const event of run.eventLogs) this.record(record, event);
    })();
    record.done = Promise.allSettled([run.result, consume]).then(([result]) => {
      // Normally the terminal event already set the status; this covers a run that ended without one.
      if (record.status !== "RUNNING") return;
      if (result.status === "fulfilled") {
        this.append(record, succeeded(result.value));
      } else {
        const err = result.reason as Error;
        const inner = err.cause instanceof Error ? err.cause : err;
        this.append(record, failed(inner.name, inner.message));
      }
    });
    return { executionArn: arn, startDate: record.startDate };
  }

  /** Task overrides for one execution, keyed by state name. */
  private taskHandlers(record: ExecutionRecord): Overrides["taskResourceLocalHandlers"] {
    const handlers: NonNullable<Overrides["taskResourceLocalHandlers"]> = {};
    for (const [stateName, task] of record.machine.tasks) {
      switch (task.kind) {
        case "lambda":
          handlers[stateName] = async (input) => (await this.invokeLambda(task.resource, input)) as never;
          break;
        case "lambdaInvoke":
          handlers[stateName] = async (input) => {
            const params = (input ?? {}) as JsonObject;
            if (typeof params.FunctionName !== "string") {
              throw taskError("States.Runtime", "lambda:invoke needs Parameters.FunctionName");
            }
            const payload = await this.invokeLambda(params.FunctionName, params.Payload ?? null);
            return {
              ExecutedVersion: "$LATEST",
              Payload: payload,
              StatusCode: 200,
              SdkHttpMetadata: { HttpStatusCode: 200 },
              SdkResponseMetadata: { RequestId: randomUUID() },
            } as never;
          };
          break;
        case "startExecution":
        case "startExecutionSync":
        case "startExecutionSync2":
          handlers[stateName] = async (input) => (await this.startChild(record, task.kind, input)) as never;
          break;
        default:
          break;
      }
    }
    return handlers;
  }

  private lambdaClient(): LambdaClient {
    const cfg = this.options.lambda ?? {};
    const credentials =
      cfg.credentials ??
      (process.env.AWS_ACCESS_KEY_ID ? undefined : { accessKeyId: "local", secretAccessKey: "local" });
    return new LambdaClient({
      region: cfg.region ?? process.env.AWS_REGION ?? this.region,
      maxAttempts: 1,
      ...(cfg.endpoint ? { endpoint: cfg.endpoint } : {}),
      ...(credentials ? { credentials } : {}),
    });
  }

  private async invokeLambda(functionName: string, payload: unknown): Promise<Json> {
    const client = this.lambdaClient();
    try {
      const reply = await client
        .send(
          new InvokeCommand({ FunctionName: functionName, Payload: Buffer.from(jsonText(payload), "utf8") }),
        )
        .catch((err: unknown) => {
          const e = err as Error;
          throw taskError(`Lambda.${e.name || "Unknown"}`, e.message);
        });
      const text = reply.Payload ? Buffer.from(reply.Payload).toString("utf8") : "";
      if (reply.FunctionError) {
        let errorType = "Lambda.Unknown";
        try {
          const body = JSON.parse(text) as { errorType?: unknown };
          if (typeof body.errorType === "string" && body.errorType) errorType = body.errorType;
        } catch {
          // keep Lambda.Unknown
        }
        // As in AWS: Error = errorType, Cause = the function's error payload (JSON text).
        throw taskError(errorType, text);
      }
      return text === "" ? null : (JSON.parse(text) as Json);
    } finally {
      client.destroy();
    }
  }

  private async startChild(parent: ExecutionRecord, kind: TaskInfo["kind"], raw: unknown): Promise<Json> {
    const params = (raw ?? {}) as JsonObject;
    if (typeof params.StateMachineArn !== "string") {
      throw taskError("States.Runtime", "startExecution needs Parameters.StateMachineArn");
    }
    const input = inputText(params.Input);
    let started: StartExecutionOutput;
    try {
      started = this.startExecution({
        stateMachineArn: params.StateMachineArn,
        input,
        ...(typeof params.Name === "string" ? { name: params.Name } : {}),
      });
    } catch (err) {
      const e = err as Error;
      throw taskError(`StepFunctions.${e.name}Exception`, e.message);
    }
    const childArn = started.executionArn!;
    if (kind === "startExecution") {
      return { ExecutionArn: childArn, StartDate: started.startDate!.getTime() };
    }
    parent.children.add(childArn);
    try {
      await this.execution(childArn).done;
    } finally {
      parent.children.delete(childArn);
    }
    const child = this.describeExecution(childArn);
    const v2 = kind === "startExecutionSync2";
    const parse = (text: string | undefined): Json =>
      text === undefined ? null : (JSON.parse(text) as Json);
    const described: JsonObject = {
      ExecutionArn: childArn,
      Input: v2 ? parse(child.input) : (child.input ?? null),
      InputDetails: { Included: true },
      Name: child.name ?? "",
      StartDate: child.startDate!.getTime(),
      StateMachineArn: child.stateMachineArn ?? "",
      Status: child.status ?? "",
      StopDate: child.stopDate ? child.stopDate.getTime() : null,
    };
    if (child.status === "SUCCEEDED") {
      described.Output = v2 ? parse(child.output) : (child.output ?? null);
      described.OutputDetails = { Included: true };
      return described;
    }
    if (child.error !== undefined) described.Error = child.error;
    if (child.cause !== undefined) described.Cause = child.cause;
    throw taskError("States.TaskFailed", JSON.stringify(described));
  }

  /** Records one library event as AWS history (execution-history.ts). */
  private record(record: ExecutionRecord, event: LibraryEvent | undefined): void {
    if (!event) return;
    for (const entry of historyEntries(record, event)) this.append(record, entry, event.timestamp);
  }

  /** Appends one history event and tells the listeners and the execution's watchers. */
  private append(record: ExecutionRecord, entry: HistoryEntry, timestamp?: number): void {
    const event = appendEvent(record, entry, timestamp);
    if (!event) return;
    const notice = { executionArn: record.arn, stateMachineArn: record.machine.arn, event };
    for (const listener of this.listeners) {
      try {
        listener(notice);
      } catch {
        // a listener's failure must not break the execution
      }
    }
    for (const wake of record.listeners) wake();
  }

  describeExecution(executionArn: string): DescribeExecutionOutput {
    const e = this.execution(executionArn);
    return {
      ...listItem(e),
      input: e.input,
      inputDetails: { included: true },
      ...(e.output !== undefined ? { output: e.output, outputDetails: { included: true } } : {}),
      ...(e.error !== undefined ? { error: e.error } : {}),
      ...(e.cause !== undefined ? { cause: e.cause } : {}),
    };
  }

  getExecutionHistory(params: {
    executionArn: string;
    maxResults?: number;
    nextToken?: string;
    reverseOrder?: boolean;
  }): GetExecutionHistoryOutput {
    const e = this.execution(params.executionArn);
    const events = params.reverseOrder ? [...e.events].reverse() : [...e.events];
    const { page, nextToken } = paginate(events, params.maxResults, params.nextToken);
    return { events: page, ...(nextToken ? { nextToken } : {}) };
  }

  /** Newest first, as AWS lists them. */
  listExecutions(params: {
    stateMachineArn: string;
    statusFilter?: ExecutionStatus;
    maxResults?: number;
    nextToken?: string;
  }): ListExecutionsOutput {
    this.machine(params.stateMachineArn);
    const items: ExecutionListItem[] = [...this.executions.values()]
      .filter((e) => e.machine.arn === params.stateMachineArn)
      .filter((e) => !params.statusFilter || e.status === params.statusFilter)
      .reverse()
      .map(listItem);
    const { page, nextToken } = paginate(items, params.maxResults, params.nextToken);
    return { executions: page, ...(nextToken ? { nextToken } : {}) };
  }

  /** Aborts a running execution (status ABORTED) and its running `.sync` children; a no-op once it has ended. */
  async stopExecution(params: {
    executionArn: string;
    error?: string;
    cause?: string;
  }): Promise<StopExecutionOutput> {
    const e = this.execution(params.executionArn);
    if (e.status === "RUNNING") {
      e.abortDetails = {
        ...(params.error !== undefined ? { error: params.error } : {}),
        ...(params.cause !== undefined ? { cause: params.cause } : {}),
      };
      e.abort();
      await Promise.all(
        [...e.children].map((child) =>
          this.stopExecution({ executionArn: child, cause: `Parent execution ${e.arn} was stopped` }),
        ),
      );
      await e.done;
      if (e.status === "RUNNING") {
        this.append(e, aborted(e));
      }
    }
    return { stopDate: e.stopDate ?? new Date() };
  }

  /** Every history event of every execution, as it is recorded. Returns an unsubscribe function. */
  onEvent(listener: ExecutionEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The history of one execution, from its first event, live until its terminal event. */
  async *watchExecution(executionArn: string): AsyncGenerator<HistoryEvent, void, undefined> {
    const e = this.execution(executionArn);
    let next = 0;
    while (true) {
      while (next < e.events.length) {
        const event = e.events[next++]!;
        yield event;
      }
      if (TERMINAL_STATUSES.has(e.status)) return;
      await new Promise<void>((resolve) => {
        const wake = () => {
          e.listeners.delete(wake);
          resolve();
        };
        e.listeners.add(wake);
      });
    }
  }

  /** Resolves with DescribeExecution once the execution has ended; rejects after `timeoutMs`. */
  async waitForExecution(executionArn: string, timeoutMs = 30_000): Promise<DescribeExecutionOutput> {
    const e = this.execution(executionArn);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`Execution ${executionArn} still ${e.status} after ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      await Promise.race([e.done, timeout]);
    } finally {
      clearTimeout(timer);
    }
    return this.describeExecution(executionArn);
  }

  /** Stops every running execution (for test teardown). */
  async stopAll(): Promise<void> {
    await Promise.all(
      [...this.executions.values()]
        .filter((e) => e.status === "RUNNING")
        .map((e) => this.stopExecution({ executionArn: e.arn, cause: "stopAll" })),
    );
  }
}

/** An execution as ListExecutions shows it (DescribeExecution shows this and more). */
function listItem(e: ExecutionRecord): ExecutionListItem {
  return {
    executionArn: e.arn,
    stateMachineArn: e.machine.arn,
    name: e.name,
    status: e.status,
    startDate: e.startDate,
    ...(e.stopDate ? { stopDate: e.stopDate } : {}),
  };
}

function paginate<T>(items: T[], maxResults: number | undefined, token: string | undefined) {
  if (maxResults !== undefined && (maxResults < 0 || maxResults > 1000)) {
    throw new SfnApiError("ValidationException", "maxResults must be between 0 and 1000");
  }
  const size = maxResults && maxResults > 0 ? maxResults : 100;
  const offset = decodeToken(token);
  const page = items.slice(offset, offset + size);
  const nextToken = offset + size < items.length ? encodeToken(offset + size) : undefined;
  return { page, nextToken };
}
