/**
 * Host incidents: the list (every host's open or last incident), and the selected one as a timeline: the
 * alarm, each phase of the host-evacuation flow with its one line (grace, probe, mass-failure check, fence
 * with delegate and answers, plan, proof rounds, report), each instance's rebuild as a Gantt bar per step,
 * its confirmation and the proof of death it relied on, and the report.
 */
import { ActionButton, useConsole } from "../actions.js";
import { usePoll } from "../live.js";
import { formatClock, formatSeconds, type IncidentDetail, type IncidentSummary } from "../model.js";
import { Gantt } from "./Gantt.js";

const STATUS_TONE: Record<string, string> = {
  confirming: "warn",
  evacuating: "busy",
  evacuated: "ok",
  held: "bad",
  aborted: "bad",
  "not-dead": "ok",
  closed: "ok",
};

function phaseTone(status: string): string {
  return status === "failed" ? "bad" : status === "running" ? "busy" : "ok";
}

function duration(a: string, b: string | null, now: number): string {
  return formatSeconds(((b ? Date.parse(b) : now) - Date.parse(a)) / 1000);
}

function Timeline(props: { incident: IncidentDetail; now: number }) {
  const i = props.incident;
  return (
    <ol class="phases" aria-label="The incident's phases, in order">
      <li class="phase alarm" data-phase="Alarm" data-phase-status="succeeded">
        <span class="phase-name">{i.source === "alarm" ? "Heartbeat alarm" : "Operator's request"}</span>
        <span class="phase-time mono">{formatClock(i.opened_at)}</span>
        <span class="phase-detail" title={i.reason ?? ""}>
          {i.reason ?? "—"}
        </span>
      </li>
      {i.phases.map((p, n) => (
        <li
          key={`${p.name}-${n}`}
          class={`phase ${phaseTone(p.status)}`}
          data-phase={p.name}
          data-phase-status={p.status}
        >
          <span class="phase-name">
            <span class={`dot ${phaseTone(p.status)}`} aria-hidden="true" />
            {p.name}
            <span class="sr-only"> ({p.status})</span>
          </span>
          <span class="phase-time mono">{duration(p.entered_at, p.exited_at, props.now)}</span>
          {p.detail && (
            <span class="phase-detail" title={p.detail}>
              {p.detail}
            </span>
          )}
        </li>
      ))}
    </ol>
  );
}

function FenceRounds(props: { incident: IncidentDetail }) {
  const rounds = props.incident.fence;
  if (rounds.length === 0) return null;
  const last = rounds.at(-1)!;
  return (
    <section class="card" aria-labelledby="fence-title" data-fence="">
      <h3 id="fence-title">
        Fence{" "}
        <span class="muted small">
          {rounds.length} round{rounds.length > 1 ? "s" : ""}
        </span>
      </h3>
      <p>
        <strong>{last.method ?? "fence"}</strong>
        {last.delegate && (
          <>
            {" "}
            through delegate <strong data-fence-delegate="">{last.delegate}</strong>
          </>
        )}
        : <span class={`badge ${last.outcome === "off" ? "ok" : "bad"}`}>{last.outcome ?? "—"}</span>
        {last.proof && <span class="small"> · proof {last.proof}</span>}
      </p>
      <table class="grid compact" aria-label="The last round's answers">
        <thead>
          <tr>
            <th scope="col">At</th>
            <th scope="col">Delegate</th>
            <th scope="col">Step</th>
            <th scope="col">Answer</th>
          </tr>
        </thead>
        <tbody>
          {last.answers.slice(-6).map((a, n) => (
            <tr key={`${a.at}-${n}`}>
              <td class="mono small">{formatClock(a.at)}</td>
              <td>{a.delegate ?? "—"}</td>
              <td>{a.step}</td>
              <td class="small">
                {a.exit_code !== null && <span class="muted">exit {a.exit_code} · </span>}
                {a.answer}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function Evacuations(props: { incident: IncidentDetail }) {
  const i = props.incident;
  const last = new Map(i.instances.map((x) => [x.instance_uuid, x]));
  const fencing = new Set((i.report?.fencingRequired ?? []).map((f) => f.instanceUuid));
  return (
    <section class="card" aria-labelledby="evac-title">
      <h3 id="evac-title">
        Instances{" "}
        <span class="muted small">
          {i.report ? (i.report.complete ? "report: complete" : "report: incomplete") : "in progress"}
        </span>
      </h3>
      <table class="grid compact">
        <thead>
          <tr>
            <th scope="col">Instance</th>
            <th scope="col">Prio</th>
            <th scope="col">Now</th>
            <th scope="col">To</th>
            <th scope="col">Proof</th>
          </tr>
        </thead>
        <tbody>
          {[...last.values()].map((x) => (
            <tr key={x.instance_uuid} data-evacuation={x.instance_uuid} data-outcome={x.outcome ?? ""}>
              <th scope="row">{x.name}</th>
              <td class="num">{x.ha_priority ?? "—"}</td>
              <td>
                {fencing.has(x.instance_uuid) ? (
                  <span class="badge bad">fencing required</span>
                ) : x.outcome === "evacuated" ? (
                  <span class="badge ok">running</span>
                ) : x.outcome === "failed" ? (
                  <span class="badge bad" title={x.message ?? ""}>
                    {x.error ?? "failed"}
                  </span>
                ) : (
                  <span class="badge busy">
                    {x.current_step ?? x.execution_status.toLowerCase().replace("_", " ")}
                  </span>
                )}
              </td>
              <td>{x.host ?? x.planned_host ?? "—"}</td>
              <td data-proof={x.proof ?? ""}>
                {x.proof ? <strong>{x.proof}</strong> : <span class="muted">—</span>}
              </td>
            </tr>
          ))}
          {(i.report?.fencingRequired ?? [])
            .filter((f) => !last.has(f.instanceUuid))
            .map((f) => (
              <tr key={f.instanceUuid} data-evacuation={f.instanceUuid} data-outcome="fencing-required">
                <th scope="row">{f.name}</th>
                <td class="num">—</td>
                <td>
                  <span class="badge bad" title={f.reason}>
                    fencing required
                  </span>
                </td>
                <td>—</td>
                <td>
                  <span class="muted">none</span>
                </td>
              </tr>
            ))}
        </tbody>
      </table>
    </section>
  );
}

/** The incident in one line: how many instances are where, and when each moment came after it opened. */
function Outcome(props: { incident: IncidentDetail }) {
  const i = props.incident;
  const latest = [...new Map(i.instances.map((x) => [x.instance_uuid, x])).values()];
  const fencing = i.report?.fencingRequired ?? [];
  const all = new Set([...latest.map((x) => x.instance_uuid), ...fencing.map((f) => f.instanceUuid)]);
  const running = latest.filter((x) => x.outcome === "evacuated").length;
  const failed = i.report?.failed?.length ?? latest.filter((x) => x.outcome === "failed").length;
  const moments = (i.gantt?.markers ?? []).filter((m) => m.label !== "last heartbeat");
  return (
    <p class="outcome" data-outcome-line="">
      <strong>
        {running} of {all.size} running elsewhere
      </strong>
      {failed > 0 && <span class="badge bad">{failed} failed</span>}
      {fencing.length > 0 && <span class="badge bad">{fencing.length} fencing required</span>}
      {moments.map((m) => (
        <span key={m.label} class="moment">
          {m.label} <span class="mono">+{formatSeconds(m.at)}</span>
        </span>
      ))}
    </p>
  );
}

function IncidentView(props: { id: string; pollMs: number; nudge: number; now: number }) {
  const c = useConsole();
  const polled = usePoll<{ incident: IncidentDetail }>(
    c.api,
    `/os-incidents/${encodeURIComponent(props.id)}`,
    props.pollMs,
    props.nudge,
  );
  const i = polled.data?.incident;
  if (!i) return <p class="muted">{polled.error ?? "Loading the incident…"}</p>;
  const origin = i.gantt ? Date.parse(i.gantt.origin) : null;
  const running = i.run?.status === "RUNNING";
  return (
    <article
      class="incident"
      aria-labelledby="incident-title"
      data-incident={i.id}
      data-incident-status={i.status}
    >
      <header class="incident-head">
        <h3 id="incident-title">
          {i.host}: <span class={`badge ${STATUS_TONE[i.status] ?? "warn"}`}>{i.status}</span>
        </h3>
        <span class="muted small">
          {i.source === "alarm" ? "heartbeat alarm" : "operator"} · opened {formatClock(i.opened_at)} ·
          execution <span class="mono">{i.run?.name ?? i.execution ?? "—"}</span>{" "}
          {i.run ? `(${i.run.status.toLowerCase()})` : ""}
        </span>
        <Outcome incident={i} />
        {i.status === "held" && (
          <span class="head-actions">
            <ActionButton action={{ kind: "evacuate-host", host: i.host }} primary />
          </span>
        )}
      </header>
      <div class="incident-body">
        <Timeline incident={i} now={props.now} />
        <div class="incident-main">
          {i.gantt && (
            <Gantt
              rows={i.gantt.rows}
              markers={i.gantt.markers}
              nowSeconds={running && origin !== null ? (props.now - origin) / 1000 : null}
            />
          )}
          <div class="cards">
            <Evacuations incident={i} />
            <FenceRounds incident={i} />
          </div>
        </div>
      </div>
    </article>
  );
}

export function Incidents(props: {
  incidents: IncidentSummary[];
  selected: string | null;
  pollMs: number;
  nudge: number;
  now: number;
}) {
  const selected = props.selected ?? props.incidents[0]?.id ?? null;
  return (
    <section aria-labelledby="incidents-title" class="view incidents">
      <nav class="incident-list" aria-labelledby="incidents-title">
        <h2 id="incidents-title">Incidents</h2>
        {props.incidents.length === 0 && <p class="muted">No host incident.</p>}
        <ul>
          {props.incidents.map((i) => (
            <li key={i.id}>
              <a
                href={`#incidents/${encodeURIComponent(i.id)}`}
                aria-current={i.id === selected ? "page" : undefined}
                data-incident-item={i.id}
              >
                <span class="host-name">{i.host}</span>{" "}
                <span class={`badge ${STATUS_TONE[i.status] ?? "warn"}`}>{i.status}</span>
                <span class="muted small block">
                  {i.source} · {formatClock(i.opened_at)}
                </span>
              </a>
            </li>
          ))}
        </ul>
      </nav>
      {selected ? (
        <IncidentView id={selected} pollMs={props.pollMs} nudge={props.nudge} now={props.now} />
      ) : (
        <p class="muted">When a host fails, its incident appears here.</p>
      )}
    </section>
  );
}
