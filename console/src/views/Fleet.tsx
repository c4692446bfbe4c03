/**
 * The fleet at a glance: each host's state, heartbeat age, what could prove it dead (power fence, watchdog,
 * disk locks), its incident, capacity used/limit, whether the rest of the fleet could absorb losing it
 * (GET /os-evacuation-capacity), and its instances; the host actions.
 */
import { ActionButton, useConsole } from "../actions.js";
import {
  absorbable,
  type CapacityView,
  formatAge,
  type HostView,
  heartbeatAge,
  hostStatus,
  proofsAvailable,
  type ServerView,
} from "../model.js";

function Meter(props: { label: string; used: number; limit: number; unit: string }) {
  const share = props.limit > 0 ? Math.min(1, props.used / props.limit) : 0;
  const tone = share > 0.9 ? "bad" : share > 0.75 ? "warn" : "ok";
  return (
    <div class="meter" title={`${props.label}: ${props.used} of ${props.limit} ${props.unit} used`}>
      <span class="meter-text">
        {props.used}/{props.limit}
        <span class="unit"> {props.unit}</span>
      </span>
      <span class="meter-bar" aria-hidden="true">
        <span class={`meter-fill ${tone}`} style={{ width: `${(share * 100).toFixed(1)}%` }} />
      </span>
    </div>
  );
}

export function Fleet(props: {
  hosts: HostView[];
  servers: ServerView[];
  capacity: CapacityView | null;
  now: number;
}) {
  const c = useConsole();
  const byHost = new Map<string, ServerView[]>();
  for (const s of props.servers) {
    const h = s["OS-EXT-SRV-ATTR:host"];
    byHost.set(h, [...(byHost.get(h) ?? []), s]);
  }
  const operate = c.role === "operate";
  const down = props.hosts.filter((h) => h.state === "down").length;
  const open = props.hosts.filter(
    (h) => h.incident && ["confirming", "evacuating", "held"].includes(h.incident.status),
  );
  return (
    <section aria-labelledby="fleet-title" class="view">
      <div class="view-head">
        <h2 id="fleet-title">Fleet</h2>
        <p class="summary" data-fleet-summary="">
          {props.hosts.length} hosts · {props.hosts.length - down} up
          {down > 0 && <span class="badge bad">{down} down</span>} · {props.servers.length} instances
          {open.length > 0 && (
            <span class="badge busy">
              {open.length} incident{open.length > 1 ? "s" : ""} open
            </span>
          )}
        </p>
      </div>
      <table class="grid fleet" aria-describedby="fleet-title">
        <thead>
          <tr>
            <th scope="col">Host</th>
            <th scope="col">Status</th>
            <th scope="col">Heartbeat</th>
            <th scope="col">Proof of death available</th>
            <th scope="col">Incident</th>
            <th scope="col">vCPU</th>
            <th scope="col">RAM</th>
            <th scope="col">If it fails</th>
            <th scope="col">Instances</th>
            {operate && <th scope="col">Actions</th>}
          </tr>
        </thead>
        <tbody>
          {props.hosts.map((h) => {
            const st = hostStatus(h);
            const fit = absorbable(h.host_name, props.capacity);
            const on = (byHost.get(h.host_name) ?? []).sort((a, b) => a.name.localeCompare(b.name));
            return (
              <tr key={h.host_name} data-host={h.host_name} data-state={h.state}>
                <th scope="row">
                  <span class="host-name">{h.host_name}</span>
                  <span class="muted small nowrap">
                    {h.shared_pool ? `pool ${h.shared_pool}` : "local disk"}
                  </span>
                </th>
                <td>
                  <span class={`badge ${st.tone}`} data-host-status="">
                    {st.label}
                  </span>
                  {h.death_proof && (
                    <span class="small muted" title={h.death_proof.detail}>
                      {" "}
                      proven off: {h.death_proof.kind}
                    </span>
                  )}
                </td>
                <td class="num">{formatAge(heartbeatAge(h, props.now))}</td>
                <td>
                  <ul class="chips" aria-label={`What can prove ${h.host_name} dead`}>
                    {proofsAvailable(h).map((p) => (
                      <li key={p.label} class={`chip ${p.present ? "yes" : "no"}`}>
                        <span aria-hidden="true">{p.present ? "✓ " : "✗ "}</span>
                        <span class="sr-only">{p.present ? "available: " : "not available: "}</span>
                        {p.label}
                      </li>
                    ))}
                  </ul>
                </td>
                <td>
                  {h.incident ? (
                    <a
                      href={`#incidents/${encodeURIComponent(h.incident.id)}`}
                      data-incident-link={h.incident.id}
                    >
                      {h.incident.status}
                    </a>
                  ) : (
                    <span class="muted">none</span>
                  )}
                </td>
                <td>
                  <Meter label="vCPU" used={h.usage.vcpus} limit={h.limits.vcpus} unit="" />
                </td>
                <td>
                  <Meter label="RAM" used={h.usage.memory_mb} limit={h.limits.memory_mb} unit="MiB" />
                </td>
                <td data-absorbable={fit.verdict}>
                  {fit.verdict === "yes" && <span class="badge ok">absorbed</span>}
                  {fit.verdict === "empty" && <span class="muted">nothing to move</span>}
                  {fit.verdict === "unknown" && <span class="muted">—</span>}
                  {fit.verdict === "no" && (
                    <span class="badge bad" title={`No room for: ${fit.unplaced.join(", ")}`}>
                      {fit.unplaced.length <= 2
                        ? `${fit.unplaced.join(", ")}: no room`
                        : `${fit.unplaced.length} would not fit`}
                    </span>
                  )}
                </td>
                <td class="instances-cell">
                  {on.length === 0 ? (
                    <span class="muted">none</span>
                  ) : (
                    <ul class="names" aria-label={`Instances on ${h.host_name}`}>
                      {on.map((s) => (
                        <li key={s.id} data-instance-on={h.host_name}>
                          {s.name}
                        </li>
                      ))}
                    </ul>
                  )}
                </td>
                {operate && (
                  <td>
                    <details class="menu">
                      <summary>Actions</summary>
                      <div class="menu-items">
                        <ActionButton action={{ kind: "evacuate-host", host: h.host_name }} />
                        <ActionButton action={{ kind: "force-down", host: h.host_name }} />
                        <ActionButton action={{ kind: "power-off", host: h.host_name }} />
                        <ActionButton action={{ kind: "power-on", host: h.host_name }} />
                        <ActionButton action={{ kind: "enable-host", host: h.host_name }} />
                        <ActionButton action={{ kind: "adopt", host: h.host_name }} />
                      </div>
                    </details>
                  </td>
                )}
              </tr>
            );
          })}
        </tbody>
      </table>
    </section>
  );
}
