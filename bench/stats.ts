/** Summaries of repeated measurements: the median with the smallest and largest run. Pure. */

export interface Summary {
  median: number;
  min: number;
  max: number;
  /** Every run's value, in run order. */
  runs: number[];
}

/** The median (mean of the two middle values for an even count). Throws on an empty list. */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error("median of no values");
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Rounds to `digits` decimals (results are read by people; 3 decimals is below the clock's noise). */
export function round(value: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export function summarize(values: readonly number[], digits = 3): Summary {
  if (values.length === 0) throw new Error("summary of no values");
  return {
    median: round(median(values), digits),
    min: round(Math.min(...values), digits),
    max: round(Math.max(...values), digits),
    runs: values.map((v) => round(v, digits)),
  };
}

/** "1.23 (1.10-1.40)": a summary for a table cell. */
export function formatSummary(s: Summary, digits = 2): string {
  const f = (v: number) => v.toFixed(digits);
  return s.runs.length === 1 ? f(s.median) : `${f(s.median)} (${f(s.min)}-${f(s.max)})`;
}
