/**
 * The Lambdas' Powertools Loggers:
 *  - FunctionLogger: Powertools' JSON Logger whose per-invocation children know whether the
 *    invocation is the container's first (a fresh Logger reports every first `addContext` as a cold start);
 *  - TerminalLogger: the same entries, keys and all, printed as one readable line each on stderr
 *    instead of a JSON document on stdout, for a terminal (the local cloud, `LAZARUS_LOG_FORMAT=pretty`):
 *
 *   12:01:02.345 WARN  spawn: host command  host=host-b what="define 1c0f…" exitCode=1 durationMs=812
 */
import { Logger, type LogItem } from "@aws-lambda-powertools/logger";
import type { ConstructorOptions } from "@aws-lambda-powertools/logger/types";

/** Keys every entry has, or that a terminal reader does not need on every line. */
const HIDDEN = new Set([
  "level",
  "message",
  "timestamp",
  "service",
  "step",
  "cold_start",
  "function_arn",
  "function_memory_size",
  "function_name",
  "function_request_id",
  "sampling_rate",
  "xray_trace_id",
  "tenant_id",
]);

/** `Name: message` of an error in any of its logged shapes, or undefined. */
function errorText(value: unknown): string | undefined {
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  if (typeof value !== "object" || value === null) return undefined;
  const o = value as Record<string, unknown>;
  if ("errorType" in o && "errorMessage" in o) return `${String(o.errorType)}: ${String(o.errorMessage)}`; // LazarusError.toJSON
  if ("name" in o && "message" in o) return `${String(o.name)}: ${String(o.message)}`; // Powertools' formatted Error
  return undefined;
}

function render(value: unknown): string {
  const error = errorText(value);
  if (error !== undefined) return JSON.stringify(error);
  if (typeof value === "string") return /^[\w.:/@+-]*$/.test(value) ? value : JSON.stringify(value);
  return JSON.stringify(value);
}

/** One line for one log entry (exported for tests). */
export function terminalLine(attributes: Record<string, unknown>): string {
  const time = typeof attributes.timestamp === "string" ? attributes.timestamp.slice(11, 23) : "";
  const level = String(attributes.level ?? "").padEnd(5);
  const who = attributes.step ?? attributes.function_name ?? attributes.service;
  const fields = Object.entries(attributes)
    .filter(([k, v]) => !HIDDEN.has(k) && v !== undefined && v !== null && v !== "")
    .map(([k, v]) => `${k}=${render(v)}`);
  return `${time} ${level} ${who ? `${String(who)}: ` : ""}${String(attributes.message ?? "")}${
    fields.length > 0 ? `  ${fields.join(" ")}` : ""
  }`;
}

export class FunctionLogger extends Logger {
  /** A child for one invocation; `coldStart` false: its Lambda context is not reported as a cold start. */
  invocationChild(coldStart: boolean): FunctionLogger {
    const child = this.createChild() as FunctionLogger;
    if (!coldStart) child.getColdStart(); // spends the child's own first-use flag
    return child;
  }

  // Children are of the same class (so they print the same way).
  protected override createLogger(options?: ConstructorOptions): Logger {
    return new (this.constructor as new (o?: ConstructorOptions) => FunctionLogger)(options);
  }
}

export class TerminalLogger extends FunctionLogger {
  protected override printLog(_logLevel: number, log: LogItem): void {
    log.prepareForPrint();
    process.stderr.write(`${terminalLine(log.getAttributes())}\n`);
  }
}
