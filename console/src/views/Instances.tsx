/**
 * Every instance: state, host, HA priority, server group, its last action (nova's instance actions) and
 * fault, "fencing required" and ERROR first. Selecting one shows its actions and the events (the flow's
 * steps) of the newest, with the instance actions.
 */
import { ActionButton, useConsole } from "../actions.js";
import { usePoll } from "../live.js";
import {
  formatClock,
  instanceState,
  lastActions,
  type MigrationView,
  type ServerView,
  sortInstances,
} from "../model.js";

interface InstanceAction {
  action: string;
  request_id: string;
  start_time: string;
  message: string | null;
}
interface InstanceActionEvent {
  event: string;
  start_time: string;
  finish_time: string | null;
  result: string | null;
  traceback: string | null;
}

const utc = (novaTime: string) => `${novaTime.slice(0, 19)}Z`;

function InstanceDetail(props: { server: ServerView; pollMs: number; nudge: number }) {
  const c = useConsole();
  const s = props.server;
  const actions = usePoll<{ instanceActions: InstanceAction[] }>(
    c.api,
    `/servers/${encodeURIComponent(s.id)}/os-instance-actions`,
    props.pollMs * 2,
    props.nudge,
  );
  const newest = actions.data?.instanceActions[0] ?? null;
  const events = usePoll<{ instanceAction: { events: InstanceActionEvent[] } }>(
    c.api,
    newest
      ? `/servers/${encodeURIComponent(s.id)}/os-instance-actions/${encodeURIComponent(newest.request_id)}`
      : null,
    props.pollMs * 2,
    props.nudge,
  );
  const fencing = s["lazarus:fencing_required"];
  return (
    <aside class="detail" aria-labelledby="instance-detail-title" data-instance-detail={s.id}>
      <h3 id="instance-detail-title">
        {s.name} <span class="muted small mono">{s.id}</span>
      </h3>
      {fencing && (
        <p class="callout bad" role="note">
          <strong>Fencing required on {fencing.host}. </strong>
          {fencing.message}
        </p>
      )}
      {s.fault && (
        <p class="callout bad" role="note">
          <strong>Fault: </strong>
          {s.fault.message}
        </p>
      )}
      <div class="buttons left">
        <ActionButton action={{ kind: "evacuate-instance", server: s }} />
        <ActionButton action={{ kind: "rebuild-instance", server: s }} />
      </div>
      <h4>Actions</h4>
      {actions.data && actions.data.instanceActions.length === 0 && <p class="muted">No action yet.</p>}
      <ol class="actions-list">
        {(actions.data?.instanceActions ?? []).slice(0, 4).map((a) => (
          <li key={a.request_id}>
            <span class="mono small">{formatClock(utc(a.start_time))}</span> {a.action}
            {a.message && <span class="badge bad"> {a.message}</span>}
          </li>
        ))}
      </ol>
      {newest && (
        <>
          <h4>Events of the last {newest.action}</h4>
          <ol class="events">
            {(events.data?.instanceAction.events ?? []).map((e, i) => (
              <li key={`${e.event}-${i}`} class={e.result === "Error" ? "bad" : ""}>
                <span class="mono small">{formatClock(utc(e.start_time))}</span> {e.event}{" "}
                <span class="muted small">{e.result ?? "running"}</span>
                {e.traceback && <div class="small bad">{e.traceback}</div>}
              </li>
            ))}
          </ol>
        </>
      )}
    </aside>
  );
}

export function Instances(props: {
  servers: ServerView[];
  migrations: MigrationView[];
  selected: string | null;
  pollMs: number;
  nudge: number;
}) {
  const last = lastActions(props.migrations);
  const sorted = sortInstances(props.servers);
  const selected = sorted.find((s) => s.id === props.selected) ?? null;
  return (
    <section aria-labelledby="instances-title" class="view split">
      <div class="main-col">
        <h2 id="instances-title">Instances</h2>
        <table class="grid instances">
          <thead>
            <tr>
              <th scope="col">Instance</th>
              <th scope="col">State</th>
              <th scope="col">Host</th>
              <th scope="col">HA</th>
              <th scope="col">Server group</th>
              <th scope="col">Last action</th>
              <th scope="col">Fault</th>
            </tr>
          </thead>
          <tbody>
            {sorted.map((s) => {
              const st = instanceState(s);
              const m = last.get(s.id);
              const fault = s["lazarus:fencing_required"]?.message ?? s.fault?.message ?? null;
              return (
                <tr
                  key={s.id}
                  data-instance={s.id}
                  data-name={s.name}
                  aria-selected={s.id === props.selected}
                  class={s.id === props.selected ? "selected" : ""}
                >
                  <th scope="row">
                    <a href={`#instances/${encodeURIComponent(s.id)}`}>{s.name}</a>
                  </th>
                  <td>
                    <span class={`badge ${st.tone}`} data-instance-state="">
                      {st.label}
                    </span>
                  </td>
                  <td data-instance-host="">{s["OS-EXT-SRV-ATTR:host"]}</td>
                  <td class="num">
                    {s["lazarus:ha_enabled"] ? (
                      (s["lazarus:ha_priority"] ?? 0)
                    ) : (
                      <span class="muted">off</span>
                    )}
                  </td>
                  <td>
                    {s["lazarus:server_group"] ? (
                      `${s["lazarus:server_group"].id} (${s["lazarus:server_group"].policy})`
                    ) : (
                      <span class="muted">—</span>
                    )}
                  </td>
                  <td>
                    {m ? (
                      <>
                        {m.migration_type === "evacuation" ? "evacuate" : m.migration_type} {m.status}{" "}
                        <span class="muted small">
                          {m.source_compute}
                          {m.dest_compute ? ` → ${m.dest_compute}` : ""}
                        </span>
                      </>
                    ) : (
                      <span class="muted">—</span>
                    )}
                  </td>
                  <td class="fault-cell" title={fault ?? ""}>
                    {fault ?? <span class="muted">—</span>}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      {selected && <InstanceDetail server={selected} pollMs={props.pollMs} nudge={props.nudge} />}
    </section>
  );
}
