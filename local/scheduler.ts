/**
 * The local stand-in for EventBridge schedules: every function of shared/definitions with role
 * "scheduled" is invoked through the local Lambda endpoint at its `rate(...)` (times `rateScale`), one
 * invocation at a time per function, as a rule with a Lambda target does. Failures are logged and the
 * next tick tries again.
 */
import { InvokeCommand, LambdaClient } from "@aws-sdk/client-lambda";
import { ALL_FUNCTIONS, type FunctionSpec } from "#shared/definitions/functions.js";

export interface Scheduler {
  /** Invoke one scheduled function now (by id), as its rule would. */
  runNow(id: string): Promise<unknown>;
  stop(): void;
}

const UNIT_MS: Record<string, number> = {
  second: 1_000,
  seconds: 1_000,
  minute: 60_000,
  minutes: 60_000,
  hour: 3_600_000,
  hours: 3_600_000,
  day: 86_400_000,
  days: 86_400_000,
};

/** `rate(5 minutes)` -> 300000. Only rate expressions (cron ones are not used by Lazarus). */
export function rateMs(expression: string): number {
  const m = /^rate\((\d+) (second|seconds|minute|minutes|hour|hours|day|days)\)$/.exec(expression);
  if (!m) throw new Error(`unsupported schedule expression ${JSON.stringify(expression)}`);
  return Number(m[1]) * UNIT_MS[m[2]!]!;
}

export function startScheduler(opts: {
  lambdaUrl: string;
  prefix: string;
  /** Run each function on its timer (false: only `runNow`). */
  timers?: boolean;
  rateScale?: number;
}): Scheduler {
  const client = new LambdaClient({
    endpoint: opts.lambdaUrl,
    region: "us-east-1",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  });
  const scheduled = ALL_FUNCTIONS.filter(
    (f): f is FunctionSpec & { schedule: string } => f.role === "scheduled" && !!f.schedule,
  );
  const running = new Set<string>();
  const invoke = async (f: FunctionSpec): Promise<unknown> => {
    const out = await client.send(
      new InvokeCommand({ FunctionName: `${opts.prefix}-${f.id}`, Payload: Buffer.from("{}") }),
    );
    const body = JSON.parse(Buffer.from(out.Payload ?? []).toString("utf8") || "null");
    if (out.FunctionError) throw new Error(`${f.id}: ${body?.errorType}: ${body?.errorMessage}`);
    return body;
  };
  const timers = (opts.timers === false ? [] : scheduled).map((f) =>
    setInterval(
      () => {
        if (running.has(f.id)) return;
        running.add(f.id);
        invoke(f)
          .catch((e: unknown) =>
            process.stderr.write(`scheduled ${f.id} failed: ${e instanceof Error ? e.message : String(e)}\n`),
          )
          .finally(() => running.delete(f.id));
      },
      Math.max(100, rateMs(f.schedule) * (opts.rateScale ?? 1)),
    ),
  );
  for (const t of timers) t.unref();
  return {
    runNow: (id) => {
      const f = scheduled.find((s) => s.id === id);
      if (!f) throw new Error(`no scheduled function ${id}`);
      return invoke(f);
    },
    stop: () => {
      for (const t of timers) clearInterval(t);
      client.destroy();
    },
  };
}
