/**
 * The Gantt the benchmark draws (shared/flow/gantt.ts, bench/gantt.ts), in the page: one row per execution
 * (the host-evacuation, then each instance's rebuild), one bar per state, the same colour per state, the
 * incident's moments as markers. A running execution's last bar grows with the clock.
 */
import { stateColours } from "#shared/flow/gantt.js";
import { formatSeconds, type GanttRowView, tickStep } from "../model.js";

export function Gantt(props: {
  rows: GanttRowView[];
  markers: { label: string; at: number }[];
  /** Seconds from the origin to now, for the running executions' open bars. */
  nowSeconds: number | null;
}) {
  const { rows, markers } = props;
  const colours = stateColours(rows);
  const grown = rows.map((r) => ({
    ...r,
    bars: r.bars.map((b, i) =>
      r.status === "RUNNING" && i === r.bars.length - 1 && props.nowSeconds !== null
        ? { ...b, end: Math.max(b.end, props.nowSeconds), open: true }
        : { ...b, open: false },
    ),
  }));
  const times = [
    0,
    ...grown.flatMap((r) => r.bars.flatMap((b) => [b.start, b.end])),
    ...markers.map((m) => m.at),
  ];
  const t0 = Math.min(...times);
  const t1 = Math.max(...times, t0 + 1);
  const span = t1 - t0;
  const pct = (t: number) => `${(((t - t0) / span) * 100).toFixed(3)}%`;
  const step = tickStep(span);
  const ticks: number[] = [];
  for (let t = Math.ceil(t0 / step) * step; t <= t1 + 1e-9; t += step) ticks.push(t);
  return (
    <figure class="gantt" aria-label="Timeline of the incident's executions, in seconds from its start">
      <div class="gantt-axis" aria-hidden="true">
        <span class="gantt-label" />
        <div class="gantt-track">
          {ticks.map((t) => (
            <span key={t} class="tick" style={{ left: pct(t) }}>
              {Number(t.toFixed(1))} s
            </span>
          ))}
        </div>
      </div>
      <div class="gantt-rows">
        {grown.map((r) => {
          const total = r.bars.length ? r.bars.at(-1)!.end - r.bars[0]!.start : 0;
          const described = r.bars.map((b) => `${b.state} ${formatSeconds(b.end - b.start)}`).join(", ");
          return (
            <div
              key={r.request_id ?? r.label}
              class={`gantt-row ${r.kind}`}
              data-gantt-row={r.kind}
              data-instance={r.instance_uuid ?? ""}
              data-status={r.status}
            >
              <span class="gantt-label" title={r.label}>
                {r.label}
              </span>
              <div
                class="gantt-track"
                role="img"
                aria-label={`${r.label} (${r.status.toLowerCase()}): ${described}`}
              >
                {ticks.map((t) => (
                  <span key={t} class="gridline" style={{ left: pct(t) }} />
                ))}
                {r.bars.map((b, i) => (
                  <span
                    key={`${b.state}-${i}`}
                    class={`bar${b.open ? " open" : ""}`}
                    data-state={b.state}
                    title={`${r.label} · ${b.state}: ${formatSeconds(b.start)} → ${formatSeconds(b.end)} (${formatSeconds(b.end - b.start)})`}
                    style={{
                      left: pct(b.start),
                      width: `max(2px, ${(((b.end - b.start) / span) * 100).toFixed(3)}%)`,
                      background: colours.get(b.state),
                    }}
                  />
                ))}
                {markers.map((m) => (
                  <span key={m.label} class="marker" style={{ left: pct(m.at) }} />
                ))}
              </div>
              <span class="gantt-total">{total ? formatSeconds(total) : ""}</span>
            </div>
          );
        })}
      </div>
      <div class="gantt-markers" aria-hidden="true">
        <span class="gantt-label" />
        <div class="gantt-track">
          {markers.map((m) => (
            <span key={m.label} class="marker-label" style={{ left: pct(m.at) }}>
              {m.label}
            </span>
          ))}
        </div>
      </div>
      <figcaption class="legend">
        {[...colours].map(([state, colour]) => (
          <span key={state} class="legend-item">
            <span class="swatch" style={{ background: colour }} />
            {state}
          </span>
        ))}
      </figcaption>
    </figure>
  );
}
