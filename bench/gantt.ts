/**
 * A timeline of one host evacuation, built from execution histories (shared/flow/gantt.ts: one row per
 * execution, the host-evacuation parent then one per instance's rebuild, one bar per state, the console draws
 * the same), its time per state and its SVG picture. Pure: building and rendering take data, not clients.
 */
import { type GanttMarker, type GanttRow, stateColours } from "#shared/flow/gantt.js";

export { barsOf, buildGantt, type GanttBar, type GanttMarker, type GanttRow } from "#shared/flow/gantt.js";

/** Per state: how many bars, their median and total seconds, over every row (where the time goes). */
export function timeByState(rows: readonly GanttRow[]) {
  const by = new Map<string, number[]>();
  for (const r of rows)
    for (const b of r.bars) by.set(b.state, [...(by.get(b.state) ?? []), b.end - b.start]);
  return [...by.entries()]
    .map(([state, d]) => {
      const s = [...d].sort((a, b) => a - b);
      const median = s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
      return { state, count: d.length, medianSeconds: median, totalSeconds: d.reduce((a, b) => a + b, 0) };
    })
    .sort((a, b) => b.totalSeconds - a.totalSeconds);
}

const esc = (s: string) =>
  s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;");

/** An SVG picture of the rows: a time axis in seconds, one colour per state (legend below), markers as lines. */
export function renderGanttSvg(
  rows: readonly GanttRow[],
  opts: { title: string; markers?: readonly GanttMarker[]; width?: number },
): string {
  const width = opts.width ?? 1200;
  const labelW = 170;
  const rowH = 18;
  const top = 40;
  const colour = stateColours(rows);
  const states = [...colour.keys()];
  const times = [
    0,
    ...rows.flatMap((r) => r.bars.flatMap((b) => [b.start, b.end])),
    ...(opts.markers ?? []).map((m) => m.at),
  ];
  const t0 = Math.min(...times);
  const t1 = Math.max(...times);
  const span = Math.max(1e-3, t1 - t0);
  const plotW = width - labelW - 20;
  const x = (t: number) => labelW + ((t - t0) / span) * plotW;
  const plotBottom = top + rows.length * rowH;
  const legendCols = 4;
  const legendRows = Math.ceil(states.length / legendCols);
  const height = plotBottom + 40 + legendRows * 18 + 10;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<title>${esc(opts.title)}</title>`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="18" font-size="14" font-weight="bold">${esc(opts.title)}</text>`,
  ];
  // Axis: a tick per "nice" step.
  const step = [0.5, 1, 2, 5, 10, 15, 20, 30, 60].find((s) => span / s <= 20) ?? 120;
  for (let t = Math.ceil(t0 / step) * step; t <= t1 + 1e-9; t += step) {
    out.push(
      `<line x1="${x(t).toFixed(1)}" y1="${top - 4}" x2="${x(t).toFixed(1)}" y2="${plotBottom}" stroke="#eee"/>`,
      `<text x="${x(t).toFixed(1)}" y="${top - 8}" text-anchor="middle" fill="#555">${Number(t.toFixed(1))}s</text>`,
    );
  }
  rows.forEach((r, i) => {
    const y = top + i * rowH;
    out.push(`<text x="${labelW - 6}" y="${y + rowH - 5}" text-anchor="end">${esc(r.label)}</text>`);
    for (const b of r.bars) {
      const w = Math.max(1, x(b.end) - x(b.start));
      out.push(
        `<rect x="${x(b.start).toFixed(1)}" y="${y + 2}" width="${w.toFixed(1)}" height="${rowH - 4}" fill="${colour.get(b.state)}"><title>${esc(`${r.label} ${b.state}: ${b.start.toFixed(2)}-${b.end.toFixed(2)} s (${(b.end - b.start).toFixed(2)} s)`)}</title></rect>`,
      );
    }
  });
  for (const m of opts.markers ?? []) {
    out.push(
      `<line x1="${x(m.at).toFixed(1)}" y1="${top - 4}" x2="${x(m.at).toFixed(1)}" y2="${plotBottom}" stroke="#000" stroke-dasharray="4 3"/>`,
      `<text x="${(x(m.at) + 3).toFixed(1)}" y="${plotBottom + 14}" fill="#000">${esc(m.label)}</text>`,
    );
  }
  states.forEach((s, i) => {
    const lx = 10 + (i % legendCols) * ((width - 20) / legendCols);
    const ly = plotBottom + 34 + Math.floor(i / legendCols) * 18;
    out.push(
      `<rect x="${lx}" y="${ly - 10}" width="12" height="12" fill="${colour.get(s)}"/>`,
      `<text x="${lx + 16}" y="${ly}">${esc(s)}</text>`,
    );
  });
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}
