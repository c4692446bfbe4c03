/**
 * A timeline of executions, from their histories: one row per execution, one bar per state from its
 * *StateEntered to its *StateExited event. The benchmark draws it (bench/gantt.ts, an SVG) and the API
 * serves it for an incident (functions/api/incident-view.ts), which the console draws: the same rows and
 * bars, the same colour per state. Pure: history events in, rows out.
 */
import type { HistoryEvent } from "@aws-sdk/client-sfn";

export interface GanttBar {
  state: string;
  /** Seconds from the timeline's origin. */
  start: number;
  end: number;
}

export interface GanttRow {
  label: string;
  bars: GanttBar[];
}

export interface GanttMarker {
  label: string;
  at: number;
}

const ms = (e: HistoryEvent) => new Date(e.timestamp ?? 0).getTime();

/**
 * Bars of one execution: each entered state until it exits (or, if it never exits, until the
 * execution's last event). Map and Parallel states are left out: their iterations are the rows. `skip`
 * leaves out states of other types too (the console leaves out the instant Choice and Succeed states).
 */
export function barsOf(
  events: readonly HistoryEvent[],
  originMs: number,
  opts: { skip?: readonly string[] } = {},
): GanttBar[] {
  const skip = ["Map", "Parallel", ...(opts.skip ?? [])];
  const open = new Map<string, number[]>();
  const bars: GanttBar[] = [];
  const lastMs = events.length > 0 ? ms(events[events.length - 1]!) : originMs;
  for (const e of events) {
    const type = e.type ?? "";
    if (skip.some((t) => type.startsWith(t))) continue;
    if (type.endsWith("StateEntered")) {
      const name = e.stateEnteredEventDetails?.name ?? "?";
      open.set(name, [...(open.get(name) ?? []), ms(e)]);
    } else if (type.endsWith("StateExited")) {
      const name = e.stateExitedEventDetails?.name ?? "?";
      const starts = open.get(name);
      const start = starts?.shift();
      if (start === undefined) continue;
      bars.push({ state: name, start: (start - originMs) / 1000, end: (ms(e) - originMs) / 1000 });
    }
  }
  for (const [name, starts] of open)
    for (const start of starts)
      bars.push({ state: name, start: (start - originMs) / 1000, end: (lastMs - originMs) / 1000 });
  return bars.sort((a, b) => a.start - b.start);
}

export function buildGantt(
  executions: readonly { label: string; events: readonly HistoryEvent[] }[],
  originMs: number,
): GanttRow[] {
  return executions.map((x) => ({ label: x.label, bars: barsOf(x.events, originMs) }));
}

/** The colours of the states, in the order they first appear (Tableau 10, then more: a rebuild and its parent pass some 20 states). */
export const GANTT_PALETTE = [
  "#4e79a7",
  "#f28e2b",
  "#e15759",
  "#76b7b2",
  "#59a14f",
  "#edc948",
  "#b07aa1",
  "#ff9da7",
  "#9c755f",
  "#bab0ac",
  "#1b9e77",
  "#d95f02",
  "#7570b3",
  "#e7298a",
  "#66a61e",
  "#e6ab02",
  "#8c564b",
  "#17becf",
  "#bcbd22",
  "#7f7f7f",
  "#a6761d",
  "#fb9a99",
  "#cab2d6",
  "#b15928",
];

/** Each state's colour: the palette in the order the states first appear in the rows. */
export function stateColours(rows: readonly { bars: readonly { state: string }[] }[]): Map<string, string> {
  const states = [...new Set(rows.flatMap((r) => r.bars.map((b) => b.state)))];
  return new Map(states.map((s, i) => [s, GANTT_PALETTE[i % GANTT_PALETTE.length]!]));
}
