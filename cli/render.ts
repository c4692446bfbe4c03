/** Terminal output: tables for lists, key/value for one record, live progress for a running flow. */
import type { ExecutionStep } from "#functions/api/execution-steps.js";
import { causeMessage } from "#shared/flow/flow-state.js";
import type { LazarusClient } from "./client.js";

/** C0 controls and DEL (built from code points: a regex literal with them is refused by the linter). */
const CONTROL_CHARACTERS = new RegExp(
  `[${String.fromCharCode(0)}-${String.fromCharCode(31)}${String.fromCharCode(127)}]`,
  "g",
);

/**
 * One table cell on one line: a multi-line value (an error with its cause, a stack) would break the
 * table's rows, so line breaks become " | " and runs of blanks one space; control characters are dropped.
 */
export function cell(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return "-";
  return String(value)
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== "")
    .join(" | ")
    .replace(CONTROL_CHARACTERS, "")
    .replace(/\s{2,}/g, " ");
}

export function table(headers: string[], rows: (string | number | null | undefined)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map(cell))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  return `${cells
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join("  ")
        .trimEnd(),
    )
    .join("\n")}\n`;
}

export function keyValues(record: Record<string, unknown>): string {
  const entries = Object.entries(record);
  const width = Math.max(...entries.map(([k]) => k.length));
  return `${entries
    .map(
      ([k, v]) =>
        `${k.padEnd(width)}  ${v === null || v === undefined ? "-" : typeof v === "object" ? JSON.stringify(v) : String(v)}`,
    )
    .join("\n")}\n`;
}

/** GET /executions/{id} as the API answers it (its steps: `stepsFromHistory`, functions/api/execution-steps.ts). */
export interface ExecutionDoc {
  id: string;
  status: string;
  error: string | null;
  cause: string | null;
  started_at: string;
  stopped_at: string | null;
  steps: ExecutionStep[];
}

const clock = (ms: number) => `${(ms / 1000).toFixed(1).padStart(6)}s`;

const causeText = (cause: string | null): string => causeMessage(cause) ?? "";

/**
 * Follows an execution until it ends: one line per step as it starts and as it ends (with its time, or
 * its error), and on a terminal a clock line under them showing the running step. Returns the final
 * document. `out` is where the lines go (stderr when stdout carries --json).
 */
export async function watchExecution(
  client: LazarusClient,
  id: string,
  opts: { out: NodeJS.WriteStream | null; intervalMs?: number; timeoutMs?: number },
): Promise<ExecutionDoc> {
  const t0 = Date.now();
  const out = opts.out;
  const live = out?.isTTY === true;
  const printed = new Map<number, string>();
  let clockShown = false;
  const write = (line: string) => {
    if (!out) return;
    if (clockShown) out.write("\r\x1b[2K");
    out.write(`${line}\n`);
    clockShown = false;
  };
  const deadline = t0 + (opts.timeoutMs ?? 30 * 60_000);
  for (;;) {
    const { execution } = await client.get<{ execution: ExecutionDoc }>(
      `/executions/${encodeURIComponent(id)}`,
    );
    execution.steps.forEach((step, i) => {
      const shown = printed.get(i);
      const elapsed = clock(Date.parse(step.enteredAt) - Date.parse(execution.started_at));
      if (shown === undefined) write(`${elapsed}  ▶ ${step.name}`);
      if (step.status !== "running" && shown !== step.status) {
        const took = step.exitedAt
          ? ((Date.parse(step.exitedAt) - Date.parse(step.enteredAt)) / 1000).toFixed(1)
          : "?";
        if (step.status === "succeeded")
          write(
            `${clock(Date.parse(step.exitedAt ?? step.enteredAt) - Date.parse(execution.started_at))}  ✓ ${step.name} (${took}s)`,
          );
        else
          write(
            `${clock(Date.parse(step.exitedAt ?? step.enteredAt) - Date.parse(execution.started_at))}  ✗ ${step.name}: ${step.error} ${causeText(step.cause)}`.trimEnd(),
          );
      }
      printed.set(i, step.status);
    });
    if (execution.status !== "RUNNING") {
      if (live && clockShown) out!.write("\r\x1b[2K");
      return execution;
    }
    if (live) {
      const running = execution.steps.at(-1);
      out!.write(`\r\x1b[2K${clock(Date.now() - t0)}  … ${running?.name ?? "starting"}`);
      clockShown = true;
    }
    if (Date.now() > deadline)
      throw new Error(`execution ${id} still running after ${Math.round((Date.now() - t0) / 1000)} s`);
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 500));
  }
}

export function summary(execution: ExecutionDoc): string {
  const took = execution.stopped_at
    ? ((Date.parse(execution.stopped_at) - Date.parse(execution.started_at)) / 1000).toFixed(1)
    : "?";
  if (execution.status === "SUCCEEDED") return `execution ${execution.id} SUCCEEDED in ${took}s`;
  return `execution ${execution.id} ${execution.status} after ${took}s: ${execution.error ?? ""} ${causeText(execution.cause)}`.trimEnd();
}
