/** GET /executions/{id}: a flow's status and its steps, by execution name (= request id) or ARN. */
import { z } from "zod";
import { executionArnOf } from "#shared/flow/executions.js";
import type { ExecutionSummary } from "#shared/lambda/sfn-executions.js";
import { stepsFromHistory } from "../execution-steps.js";
import { ApiError, json } from "../http.js";
import type { Route, RouteContext } from "../router.js";
import { echo } from "./params.js";

const ExecutionName = z.string().regex(/^[A-Za-z0-9_-]{1,80}$/);
const ExecutionArn = z
  .string()
  .regex(/^arn:aws[\w-]*:states:[\w-]+:\d{12}:execution:[\w-]{1,80}:[\w-]{1,80}$/);

async function find(ctx: RouteContext, raw: string): Promise<ExecutionSummary | null> {
  const machines = Object.values(ctx.deps.machines).filter((m): m is string => m !== null);
  if (ExecutionArn.safeParse(raw).success) {
    // Only executions of Lazarus's own machines are shown.
    const ours = machines.some((m) => raw.startsWith(executionArnOf(m, "")));
    return ours ? ctx.deps.executions.describe(raw) : null;
  }
  if (!ExecutionName.safeParse(raw).success) throw new ApiError(400, `Invalid execution id ${echo(raw)}.`);
  for (const machine of machines) {
    const found = await ctx.deps.executions.describe(executionArnOf(machine, raw));
    if (found) return found;
  }
  return null;
}

async function showExecution(ctx: RouteContext) {
  const raw = ctx.params.id!;
  const execution = await find(ctx, raw);
  if (!execution) throw new ApiError(404, `Execution ${echo(raw)} could not be found.`);
  const steps = stepsFromHistory(await ctx.deps.executions.history(execution.executionArn));
  return json(200, {
    execution: {
      id: execution.name,
      arn: execution.executionArn,
      state_machine: execution.stateMachineArn,
      status: execution.status,
      started_at: execution.startDate.toISOString(),
      stopped_at: execution.stopDate?.toISOString() ?? null,
      input: execution.input,
      output: execution.output,
      error: execution.error,
      cause: execution.cause,
      steps,
    },
  });
}

export const executionRoutes: Route[] = [
  { method: "GET", pattern: "/executions/{id}", handler: showExecution },
];
