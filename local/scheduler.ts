/**
 * The local stand-in for EventBridge schedules: every schedule of shared/definitions/rules.ts invokes its
 * function through the local Lambda endpoint at its rate (times `rateScale`), with the event EventBridge
 * sends a scheduled rule's target (so the function's lease applies as in AWS), one invocation at a time per
 * function. Failures are logged and the next tick tries again.
 */
import { randomUUID } from "node:crypto";
import { InvokeCommand, LambdaClient } from "@aws-sdk/client-lambda";
import type { FunctionSpec } from "#shared/definitions/functions.js";
import { rateMs, type ScheduleDefinition, scheduleRules } from "#shared/definitions/rules.js";
import { deployedName } from "#shared/definitions/state-machines.js";
import { SCHEDULED_EVENT } from "#shared/lambda/schedule-lease.js";

export interface Scheduler {
  /** The schedules installed (as the stack deploys them). */
  schedules: readonly ScheduleDefinition[];
  /** Invoke one scheduled function now (by id), as its rule would, once its running invocation (if any) ended. */
  runNow(id: string): Promise<unknown>;
  stop(): void;
}

/** The event EventBridge hands a scheduled rule's target. */
export function scheduledEvent(ruleArn: string, at = new Date()) {
  return {
    version: "0",
    id: randomUUID(),
    "detail-type": SCHEDULED_EVENT.detailType,
    source: SCHEDULED_EVENT.source,
    account: "000000000000",
    time: at.toISOString().replace(/\.\d{3}Z$/, "Z"),
    region: "us-east-1",
    resources: [ruleArn],
    detail: {},
  };
}

export function startScheduler(opts: {
  lambdaUrl: string;
  prefix: string;
  functions?: readonly FunctionSpec[];
  /** Run each function on its timer (false: only `runNow`). */
  timers?: boolean;
  rateScale?: number;
}): Scheduler {
  const client = new LambdaClient({
    endpoint: opts.lambdaUrl,
    region: "us-east-1",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  });
  const schedules = scheduleRules(opts.prefix, opts.functions);
  /** The invocation of each function in flight, if any. */
  const running = new Map<string, Promise<unknown>>();
  const invoke = async (s: ScheduleDefinition): Promise<unknown> => {
    const ruleArn = `arn:aws:events:us-east-1:000000000000:rule/${s.name}`;
    const out = await client.send(
      new InvokeCommand({
        FunctionName: deployedName(opts.prefix, s.functionId),
        Payload: Buffer.from(JSON.stringify(scheduledEvent(ruleArn))),
      }),
    );
    const body = JSON.parse(Buffer.from(out.Payload ?? []).toString("utf8") || "null");
    if (out.FunctionError) throw new Error(`${s.functionId}: ${body?.errorType}: ${body?.errorMessage}`);
    return body;
  };
  /** One invocation at a time per function: a tick while one runs is skipped, a runNow waits for it. */
  const once = (s: ScheduleDefinition): Promise<unknown> => {
    const run = invoke(s).finally(() => {
      if (running.get(s.functionId) === run) running.delete(s.functionId);
    });
    running.set(s.functionId, run);
    return run;
  };
  const timers = (opts.timers === false ? [] : schedules).map((s) =>
    setInterval(
      () => {
        if (running.has(s.functionId)) return;
        once(s).catch((e: unknown) =>
          process.stderr.write(
            `scheduled ${s.functionId} failed: ${e instanceof Error ? e.message : String(e)}\n`,
          ),
        );
      },
      Math.max(100, rateMs(s.schedule) * (opts.rateScale ?? 1)),
    ),
  );
  for (const t of timers) t.unref();
  return {
    schedules,
    runNow: async (id) => {
      const s = schedules.find((x) => x.functionId === id);
      if (!s) throw new Error(`no scheduled function ${id}`);
      for (let inFlight = running.get(id); inFlight; inFlight = running.get(id)) {
        await inFlight.catch(() => undefined);
      }
      return once(s);
    },
    stop: () => {
      for (const t of timers) clearInterval(t);
      client.destroy();
    },
  };
}
