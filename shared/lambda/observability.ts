/**
 * Logs and metrics of the Lambdas, with Powertools for AWS Lambda (TypeScript).
 *
 * One Logger and one Metrics per function, built from the environment on the function's first
 * invocation. Each invocation logs through a child of that Logger carrying the invocation's
 * correlation keys: appended once, and never shared with another invocation (the local cloud runs
 * many invocations of one function at the same time in one process).
 *
 * Environment (read when a function's Logger is built):
 *   POWERTOOLS_SERVICE_NAME       the `service` key and metric dimension (default "lazarus")
 *   POWERTOOLS_LOG_LEVEL          DEBUG | INFO (Powertools' default) | WARN | ERROR | SILENT
 *   POWERTOOLS_METRICS_NAMESPACE  CloudWatch namespace of the metrics (default "Lazarus")
 *   POWERTOOLS_METRICS_DISABLED   "true": no metric output
 *   LAZARUS_LOG_FORMAT            "json" (default): one CloudWatch-Logs-shaped JSON document per line
 *                                 on stdout, EMF metrics too; "pretty": one readable line per entry
 *                                 on stderr (`loggers.ts` TerminalLogger), for the local cloud in a terminal
 *                                 (parsed in settings.ts; WARN and ERROR go to stderr in JSON too)
 */
import type { Logger } from "@aws-lambda-powertools/logger";
import { Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import { LazarusError } from "../domain/errors.js";
import { FunctionLogger, TerminalLogger } from "./loggers.js";
import { type LogFormat, logFormatFromEnv } from "./settings.js";

export type CorrelationKeys = Record<string, string | number | boolean | null | undefined>;

/** What an invocation logs and measures with; the SSM executor of the invocation gets the same. */
export interface InvocationTelemetry {
  logger: Logger;
  metrics: Metrics;
}

/** The part of the Lambda context the logs use (the runtime passes more). */
export interface LambdaContextLike {
  functionName: string;
  functionVersion: string;
  invokedFunctionArn: string;
  awsRequestId: string;
  memoryLimitInMB?: string;
}

export const DEFAULT_SERVICE_NAME = "lazarus";
export const DEFAULT_METRICS_NAMESPACE = "Lazarus";

/**
 * Metric names of the steps: what operators alarm on. Each has the dimensions `service` and `step`;
 * host commands add theirs (`HOST_COMMAND_METRICS` of the SSM executor) to the same document.
 */
export const STEP_METRICS = {
  duration: "StepDuration",
  /** With dimension `errorName`. */
  failures: "StepFailures",
} as const;

/**
 * Objects of an input whose fields are read as the input's own (a step's request, a Map item, an event's
 * detail, a boot's build).
 */
const NESTED = ["request", "item", "report", "detail", "build"] as const;

/**
 * The correlation keys of any Lambda's input, read defensively (it also serves an input that failed its
 * schema): the flow's request (= migration) id, the instance, the host(s), the host incident, the instance
 * recovery and the Step Functions execution, whichever the input names, at its top level or in its
 * NESTED objects (and theirs). One reader for every flow, so a new step or field of a known name is covered.
 */
export function correlationKeys(input: unknown): CorrelationKeys {
  if (typeof input !== "object" || input === null) return {};
  // The input, then its nested objects, then theirs (e.g. `request.report` of OpenRecovery's input).
  const objects: Record<string, unknown>[] = [input as Record<string, unknown>];
  for (let i = 0; i < objects.length && objects.length < 8; i++) {
    for (const k of NESTED) {
      const v = objects[i]![k];
      if (typeof v === "object" && v !== null && !Array.isArray(v))
        objects.push(v as Record<string, unknown>);
    }
  }
  // A key is an id or a name: a longer value (a malformed input's) is cut, so a log line stays a line.
  const pick = (field: string): string | undefined => {
    for (const obj of objects) {
      const v = obj[field];
      if (typeof v === "string" && v !== "") return v.slice(0, 200);
    }
    return undefined;
  };
  return {
    requestId: pick("requestId"),
    migrationId: pick("migrationId"),
    instanceUuid: pick("instanceUuid"),
    host: pick("host"),
    sourceHost: pick("sourceHost"),
    // destHost once scheduled; before that, the host the caller asked for.
    targetHost: pick("destHost") ?? pick("targetHost"),
    incidentId: pick("incidentId"),
    recoveryId: pick("recoveryId"),
    managedInstanceId: pick("managedInstanceId"),
    execution: pick("executionArn") ?? pick("executionName"),
  };
}

export function errorName(e: unknown): string {
  return e instanceof Error ? e.name : typeof e;
}

/**
 * The log format of the settings; an invalid one logs as JSON, so the invocation that then fails on it
 * (settingsFromEnv, InvalidSetting) is still logged.
 */
function logFormatOrJson(env: NodeJS.ProcessEnv): LogFormat {
  try {
    return logFormatFromEnv(env);
  } catch {
    return "json";
  }
}

class FunctionTelemetry {
  readonly logger: FunctionLogger;
  readonly metrics: Metrics;
  private invoked = false;

  constructor(
    readonly name: string,
    env: NodeJS.ProcessEnv,
  ) {
    const serviceName = env.POWERTOOLS_SERVICE_NAME || DEFAULT_SERVICE_NAME;
    this.logger =
      logFormatOrJson(env) === "pretty"
        ? new TerminalLogger({ serviceName })
        : new FunctionLogger({ serviceName });
    this.metrics = new Metrics({
      serviceName,
      namespace: env.POWERTOOLS_METRICS_NAMESPACE || DEFAULT_METRICS_NAMESPACE,
      defaultDimensions: { step: name },
      logger: this.logger,
    });
  }

  /** A child logger carrying this invocation's keys (and its Lambda context, when there is one). */
  invocationLogger(context: LambdaContextLike | undefined, keys: CorrelationKeys): Logger {
    const coldStart = !this.invoked;
    this.invoked = true;
    const logger = this.logger.invocationChild(coldStart);
    if (context) logger.addContext(context);
    logger.appendKeys(
      Object.fromEntries(Object.entries(keys).filter(([, v]) => v !== undefined)) as Record<string, string>,
    );
    return logger;
  }
}

let functions = new Map<string, FunctionTelemetry>();

function functionTelemetry(name: string): FunctionTelemetry {
  let fn = functions.get(name);
  if (!fn) {
    fn = new FunctionTelemetry(name, process.env);
    functions.set(name, fn);
  }
  return fn;
}

/** Forget every function's Logger and Metrics: the next invocation builds them from the environment again. */
export function resetTelemetry(): void {
  functions = new Map();
}

export interface InvocationSpec {
  /** The function's name: its Logger and Metrics, the `step` key and metric dimension. */
  name: string;
  context?: LambdaContextLike;
  keys: CorrelationKeys;
}

/**
 * Runs one invocation of a step: a log line at its start, end (duration) and failure (error name),
 * its duration and failure metrics, every metric of the invocation flushed (EMF) at its end.
 */
export async function observeStep<T>(
  spec: InvocationSpec,
  work: (telemetry: InvocationTelemetry) => Promise<T>,
): Promise<T> {
  const fn = functionTelemetry(spec.name);
  const logger = fn.invocationLogger(spec.context, { step: spec.name, ...spec.keys });
  const { metrics } = fn;
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  logger.info("step started");
  try {
    const result = await work({ logger, metrics });
    const durationMs = elapsed();
    logger.info({ message: "step finished", durationMs });
    metrics.addMetric(STEP_METRICS.duration, MetricUnit.Milliseconds, durationMs);
    return result;
  } catch (e) {
    const durationMs = elapsed();
    const name = errorName(e);
    // A named domain error is the flow's vocabulary (the state machine retries or catches it);
    // anything else is a bug or an outage.
    const entry = { message: "step failed", errorName: name, durationMs };
    if (e instanceof LazarusError) logger.warn(entry, e);
    else logger.error(entry, e instanceof Error ? e : String(e));
    metrics.addMetric(STEP_METRICS.duration, MetricUnit.Milliseconds, durationMs);
    countFailure(metrics, STEP_METRICS.failures, name);
    throw e;
  } finally {
    metrics.publishStoredMetrics();
  }
}

/** One failure, counted with its error name as a dimension (published at once, as its own EMF document). */
function countFailure(metrics: Metrics, metric: string, name: string): void {
  const single = metrics.singleMetric();
  single.addDimension("errorName", name);
  single.addMetric(metric, MetricUnit.Count, 1);
}
