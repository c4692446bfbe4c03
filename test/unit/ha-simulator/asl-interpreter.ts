/**
 * The host- and instance-failure machines run as their ASL files define them, on the simulator's fake clock:
 * the states those files use (Task, Choice with Or/And/Not, Wait, Pass, Map, Succeed, Fail), with
 * Parameters / ItemSelector (`.$` paths into
 * the state's input and the context object), ResultPath, ItemsPath, MaxConcurrency(Path), Retry and Catch,
 * as Step Functions does them (JSONPath). A field this interpreter does not know fails the run loudly, so
 * a machine that grows a feature cannot be simulated as something else.
 */
import type { SimScheduler } from "./sim-scheduler.js";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

/** A state's failure as Step Functions carries it: the error name Retry/Catch match, and its cause. */
export class StatesError extends Error {
  constructor(
    readonly error: string,
    readonly cause: string,
  ) {
    super(`${error}: ${cause}`);
    this.name = "StatesError";
  }
}

interface Retrier {
  ErrorEquals: string[];
  IntervalSeconds?: number;
  MaxAttempts?: number;
  BackoffRate?: number;
  JitterStrategy?: string;
}
interface Catcher {
  ErrorEquals: string[];
  ResultPath?: string | null;
  Next: string;
}
interface State {
  Type: string;
  Next?: string;
  End?: boolean;
  [key: string]: unknown;
}
export interface Definition {
  StartAt: string;
  States: Record<string, State>;
}

/** What runs outside the interpreter: Task resources, and what the simulator wants to see. */
export interface AslHost {
  scheduler: SimScheduler;
  /** Runs a Task's resource (as written in the file) with its input; throws StatesError to fail it. */
  runTask(resource: string, input: Json, execution: string): Promise<Json>;
  /** Every state entered, with its input, and left, with its output (Fail and errors: no exit). */
  entered?(execution: string, state: string, input: Json): void;
  exited?(execution: string, state: string, output: Json): void;
}

const KNOWN_FIELDS: Record<string, readonly string[]> = {
  Task: ["Resource", "Parameters", "ResultPath", "Retry", "Catch"],
  Choice: ["Choices", "Default"],
  Wait: ["Seconds", "SecondsPath"],
  Map: [
    "ItemsPath",
    "ItemSelector",
    "ItemProcessor",
    "MaxConcurrency",
    "MaxConcurrencyPath",
    "ResultPath",
    "Retry",
    "Catch",
  ],
  Pass: ["Parameters", "Result", "ResultPath"],
  Succeed: [],
  Fail: ["Error", "Cause", "ErrorPath", "CausePath"],
};
const COMMON_FIELDS = ["Type", "Comment", "Next", "End"];

function checkFields(name: string, state: State): void {
  const known = KNOWN_FIELDS[state.Type];
  if (!known) throw new Error(`ASL interpreter: state ${name} has type ${state.Type}, not simulated`);
  for (const key of Object.keys(state))
    if (!COMMON_FIELDS.includes(key) && !known.includes(key))
      throw new Error(`ASL interpreter: state ${name} uses ${key}, not simulated`);
}

interface Context {
  Execution: { Name: string; Id: string };
  Map?: { Item: { Index: number; Value: Json } };
}

/** A JSONPath of the simple kind the machines use: `$`, `$.a.b`, `$$.Execution.Name`. */
function readPath(path: string, data: Json, ctx: Context): Json {
  const [root, rest] = path.startsWith("$$")
    ? [ctx as unknown as Json, path.slice(2)]
    : [data, path.slice(1)];
  if (!path.startsWith("$")) throw new Error(`ASL interpreter: path ${path} is not a JSONPath`);
  let v: Json = root;
  for (const key of rest.split(".").filter(Boolean)) {
    if (v === null || typeof v !== "object" || Array.isArray(v) || !(key in v))
      throw new StatesError("States.Runtime", `path ${path} not found in the input`);
    v = (v as JsonObject)[key]!;
  }
  return v;
}

/** Parameters / ItemSelector: keys ending in `.$` take the value at their path. */
function fillTemplate(template: Json, data: Json, ctx: Context): Json {
  if (template === null || typeof template !== "object") return template;
  if (Array.isArray(template)) return template.map((t) => fillTemplate(t, data, ctx));
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(template)) {
    if (k.endsWith(".$")) out[k.slice(0, -2)] = readPath(String(v), data, ctx);
    else out[k] = fillTemplate(v, data, ctx);
  }
  return out;
}

/** ResultPath: null keeps the input, `$` replaces it, `$.a.b` sets (creating objects on the way). */
function applyResultPath(data: Json, path: string | null | undefined, result: Json): Json {
  if (path === null) return data;
  if (path === undefined || path === "$") return result;
  const keys = path.slice(2).split(".");
  const copy = structuredClone(data) as JsonObject;
  let at: JsonObject = copy;
  for (const key of keys.slice(0, -1)) {
    const next = at[key];
    at[key] = next !== null && typeof next === "object" && !Array.isArray(next) ? next : {};
    at = at[key] as JsonObject;
  }
  at[keys.at(-1)!] = result;
  return copy;
}

const matches = (names: readonly string[], error: string) =>
  names.includes(error) ||
  (names.includes("States.ALL") && error !== "States.Runtime") ||
  (names.includes("States.TaskFailed") && !error.startsWith("States."));

export class AslInterpreter {
  constructor(private readonly host: AslHost) {}

  /** Runs the machine to its end: its output, or the StatesError it failed with. */
  async run(def: Definition, input: Json, executionName: string): Promise<Json> {
    const ctx: Context = { Execution: { Name: executionName, Id: `arn:sim:execution:${executionName}` } };
    return this.states(def, input, ctx);
  }

  private async states(def: Definition, input: Json, ctx: Context): Promise<Json> {
    let name = def.StartAt;
    let data = input;
    for (;;) {
      const state = def.States[name];
      if (!state) throw new Error(`ASL interpreter: no state ${name}`);
      checkFields(name, state);
      this.host.entered?.(ctx.Execution.Name, name, data);
      let next: string | undefined = state.Next;
      switch (state.Type) {
        case "Task":
        case "Map": {
          const attempt =
            state.Type === "Task"
              ? () => {
                  const params =
                    state.Parameters === undefined ? data : fillTemplate(state.Parameters as Json, data, ctx);
                  return this.host.runTask(String(state.Resource), params, ctx.Execution.Name);
                }
              : () => this.map(state, data, ctx);
          try {
            const result = await this.withRetry((state.Retry ?? []) as Retrier[], attempt);
            data = applyResultPath(data, state.ResultPath as string | null | undefined, result);
          } catch (e) {
            if (!(e instanceof StatesError)) throw e;
            const catcher = ((state.Catch ?? []) as Catcher[]).find((c) => matches(c.ErrorEquals, e.error));
            if (!catcher) throw e;
            data = applyResultPath(data, catcher.ResultPath, { Error: e.error, Cause: e.cause });
            next = catcher.Next;
            this.host.exited?.(ctx.Execution.Name, name, data);
            name = next;
            continue;
          }
          break;
        }
        case "Choice": {
          const choice = (state.Choices as JsonObject[]).find((c) => this.choose(c, data, ctx));
          next = choice ? String(choice.Next) : (state.Default as string | undefined);
          if (!next) throw new StatesError("States.NoChoiceMatched", `no choice of ${name} matched`);
          this.host.exited?.(ctx.Execution.Name, name, data);
          name = next;
          continue;
        }
        case "Pass": {
          const result =
            state.Result !== undefined
              ? (state.Result as Json)
              : state.Parameters !== undefined
                ? fillTemplate(state.Parameters as Json, data, ctx)
                : data;
          data = applyResultPath(data, state.ResultPath as string | null | undefined, result);
          break;
        }
        case "Wait": {
          const seconds =
            state.SecondsPath !== undefined
              ? Number(readPath(String(state.SecondsPath), data, ctx))
              : Number(state.Seconds);
          await this.host.scheduler.sleepUntil(this.host.scheduler.now + seconds * 1000);
          break;
        }
        case "Succeed":
          this.host.exited?.(ctx.Execution.Name, name, data);
          return data;
        case "Fail": {
          const error = state.ErrorPath
            ? String(readPath(String(state.ErrorPath), data, ctx))
            : String(state.Error);
          const cause = state.CausePath
            ? String(readPath(String(state.CausePath), data, ctx))
            : String(state.Cause ?? "");
          throw new StatesError(error, cause);
        }
      }
      this.host.exited?.(ctx.Execution.Name, name, data);
      if (state.End) return data;
      if (!next) throw new Error(`ASL interpreter: state ${name} has neither Next nor End`);
      name = next;
    }
  }

  private choose(rule: JsonObject, data: Json, ctx: Context): boolean {
    if (Array.isArray(rule.Or)) return (rule.Or as JsonObject[]).some((r) => this.choose(r, data, ctx));
    if (Array.isArray(rule.And)) return (rule.And as JsonObject[]).every((r) => this.choose(r, data, ctx));
    if (rule.Not && typeof rule.Not === "object") return !this.choose(rule.Not as JsonObject, data, ctx);
    const ops = Object.keys(rule).filter((k) => k !== "Variable" && k !== "Next");
    if (ops.length !== 1 || !["StringEquals", "BooleanEquals"].includes(ops[0]!))
      throw new Error(`ASL interpreter: choice ${JSON.stringify(rule)} not simulated`);
    let value: Json;
    try {
      value = readPath(String(rule.Variable), data, ctx);
    } catch {
      return false;
    }
    return value === rule[ops[0]!];
  }

  private async withRetry(retriers: readonly Retrier[], attempt: () => Promise<Json>): Promise<Json> {
    const counts = new Map<Retrier, number>();
    for (;;) {
      try {
        return await attempt();
      } catch (e) {
        if (!(e instanceof StatesError)) throw e;
        const r = retriers.find((x) => matches(x.ErrorEquals, e.error));
        const n = r ? (counts.get(r) ?? 0) : 0;
        if (!r || n >= (r.MaxAttempts ?? 3)) throw e;
        counts.set(r, n + 1);
        // JitterStrategy FULL draws a delay up to this one; the simulator takes the whole (deterministic).
        const delay = (r.IntervalSeconds ?? 1) * (r.BackoffRate ?? 2) ** n;
        await this.host.scheduler.sleepUntil(this.host.scheduler.now + delay * 1000);
      }
    }
  }

  /** A Map state: its iterations as tasks, at most MaxConcurrency at once (0 = all), results in order. */
  private async map(state: State, data: Json, ctx: Context): Promise<Json> {
    const items = readPath(String(state.ItemsPath ?? "$"), data, ctx);
    if (!Array.isArray(items)) throw new StatesError("States.Runtime", "ItemsPath is not an array");
    const limit =
      state.MaxConcurrencyPath !== undefined
        ? Number(readPath(String(state.MaxConcurrencyPath), data, ctx))
        : Number(state.MaxConcurrency ?? 0);
    const processor = state.ItemProcessor as { StartAt: string; States: Record<string, State> };
    const results: Json[] = new Array(items.length).fill(null);
    let next = 0;
    let failed: StatesError | Error | null = null;
    const worker = async () => {
      while (next < items.length && !failed) {
        const index = next++;
        const item: Context = { ...ctx, Map: { Item: { Index: index, Value: items[index]! } } };
        const input =
          state.ItemSelector === undefined
            ? items[index]!
            : fillTemplate(state.ItemSelector as Json, data, item);
        try {
          results[index] = await this.states(processor, input, item);
        } catch (e) {
          failed ??= e as Error;
        }
      }
    };
    const width = Math.max(1, Math.min(limit > 0 ? limit : items.length, items.length));
    const s = this.host.scheduler;
    await s.join(Promise.all(Array.from({ length: items.length === 0 ? 0 : width }, () => s.spawn(worker))));
    if (failed) throw failed;
    return results;
  }
}
