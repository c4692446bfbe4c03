/**
 * What the console shows, derived from the API's answers: pure functions (unit-tested in Node,
 * test/unit/console/model.test.ts), no DOM. The shapes are the API's (functions/api/views.ts,
 * functions/api/incident-view.ts).
 */

export interface Resources {
  vcpus: number;
  memory_mb: number;
  disk_gb: number;
}

export interface HostView {
  host_name: string;
  zone: string;
  enabled: boolean;
  disabled_reason: string | null;
  forced_down: boolean;
  state: "up" | "down";
  last_heartbeat_at: string | null;
  shared_pool: string | null;
  capacity: Resources;
  limits: Resources;
  usage: Resources;
  instances: number;
  fencing: { power: string; watchdog: boolean; disk_locks: boolean };
  incident: { id: string; status: string; source: string; opened_at: string } | null;
  /** The recorded proof that the host is dead (issue 26), when the API shows it. */
  death_proof?: { kind: string; at: string; detail: string } | null;
  /** The last fleet sync's drift on this host, when the API shows it. */
  drift?: HostDrift | null;
  /** Planned maintenance (a drain), when the API shows it: the host is disabled on purpose. */
  maintenance?: {
    state: "draining" | "maintenance" | "incomplete";
    reason: string | null;
    since: string;
  } | null;
}

/** A maintenance state in an operator's words. */
const MAINTENANCE_WORDS: Record<NonNullable<HostView["maintenance"]>["state"], string> = {
  draining: "draining",
  maintenance: "in maintenance",
  incomplete: "drain incomplete",
};

export interface HostDrift {
  at: string;
  unknown_domains: { uuid: string; recorded_host: string | null }[];
  missing_domains: { instance_uuid: string; name: string }[];
}

export interface FencingRequired {
  host: string;
  refused_by: string | null;
  since: string | null;
  message: string | null;
}

export interface ServerView {
  id: string;
  name: string;
  status: string;
  image: { id: string };
  "OS-EXT-SRV-ATTR:host": string;
  "OS-EXT-STS:vm_state": string;
  "OS-EXT-STS:task_state": string | null;
  "lazarus:ha_enabled": boolean;
  "lazarus:ha_priority"?: number;
  "lazarus:server_group": { id: string; policy: string } | null;
  "lazarus:fencing_required": FencingRequired | null;
  fault?: { code: number; message: string; details?: string };
}

export interface MigrationView {
  id: string;
  instance_uuid: string;
  source_compute: string;
  dest_compute: string | null;
  status: string;
  migration_type: string;
  created_at: string;
  updated_at: string;
  "lazarus:error": string | null;
}

export interface CapacityView {
  notAbsorbable: { host: string; unplaced: { name: string; reason?: string }[] }[];
  checkedHosts: string[];
}

export interface IncidentSummary {
  id: string;
  host: string;
  status: string;
  source: string;
  reason: string | null;
  opened_at: string;
  updated_at: string;
  execution: string | null;
  summary: Record<string, unknown> | null;
}

export interface GanttBarView {
  state: string;
  start: number;
  end: number;
}

export interface GanttRowView {
  kind: "incident" | "instance";
  label: string;
  status: string;
  instance_uuid?: string;
  request_id?: string;
  bars: GanttBarView[];
}

export interface IncidentDetail extends IncidentSummary {
  run: {
    name: string;
    status: string;
    started_at: string;
    stopped_at: string | null;
    error: string | null;
  } | null;
  phases: {
    name: string;
    status: string;
    entered_at: string;
    exited_at: string | null;
    detail: string | null;
  }[];
  fence: {
    round: number;
    at: string;
    outcome: string | null;
    method: string | null;
    delegate: string | null;
    detail: string | null;
    proof: string | null;
    answers: {
      delegate: string | null;
      step: string;
      at: string;
      exit_code: number | null;
      answer: string;
    }[];
  }[];
  instances: {
    instance_uuid: string;
    name: string;
    request_id: string;
    round: number;
    ha_priority: number | null;
    planned_host: string | null;
    proof: string | null;
    execution_status: string;
    current_step: string | null;
    outcome: string | null;
    host: string | null;
    error: string | null;
    message: string | null;
  }[];
  report: {
    evacuated?: { instanceUuid: string; name: string; host: string; proof: string | null }[];
    failed?: { instanceUuid: string; name: string; error: string; message: string }[];
    fencingRequired?: { instanceUuid: string; name: string; reason: string }[];
    hostProof?: string | null;
    complete?: boolean;
  } | null;
  gantt: { origin: string; rows: GanttRowView[]; markers: { label: string; at: number }[] } | null;
}

// ---- hosts ------------------------------------------------------------------------------------------

/** The words of a host's state an operator reads first: up/down, then disabled and forced down. */
export function hostStatus(h: HostView): { label: string; tone: "ok" | "warn" | "bad" } {
  const parts = [h.state === "up" ? "up" : "down"];
  if (h.maintenance) parts.push(MAINTENANCE_WORDS[h.maintenance.state]);
  else if (!h.enabled) parts.push("disabled");
  if (h.forced_down) parts.push("forced down");
  const tone = h.state === "down" ? "bad" : h.enabled ? "ok" : "warn";
  return { label: parts.join(" · "), tone };
}

/** Seconds since the host's last heartbeat; null when the record keeps none (in AWS the alarm decides). */
export function heartbeatAge(h: HostView, now: number): number | null {
  return h.last_heartbeat_at === null ? null : Math.max(0, (now - Date.parse(h.last_heartbeat_at)) / 1000);
}

/** What could prove the host dead if it went silent now (shared/domain/fencing.ts), each with whether it is there. */
export function proofsAvailable(h: HostView): { label: string; present: boolean }[] {
  return [
    {
      label: h.fencing.power === "none" ? "no fence" : `fence ${h.fencing.power}`,
      present: h.fencing.power !== "none",
    },
    { label: "watchdog", present: h.fencing.watchdog },
    { label: "disk locks", present: h.fencing.disk_locks },
  ];
}

/** Whether the fleet can absorb losing this host now: yes, no (with what would not fit), or nothing to absorb. */
export function absorbable(
  host: string,
  capacity: CapacityView | null,
): { verdict: "yes" | "no" | "empty" | "unknown"; unplaced: string[] } {
  if (!capacity) return { verdict: "unknown", unplaced: [] };
  const failing = capacity.notAbsorbable.find((n) => n.host === host);
  if (failing) return { verdict: "no", unplaced: failing.unplaced.map((u) => u.name) };
  return { verdict: capacity.checkedHosts.includes(host) ? "yes" : "empty", unplaced: [] };
}

// ---- instances ----------------------------------------------------------------------------------------

/** How much an instance needs a person: fencing required first, then ERROR, then a running task, then the rest. */
export function urgency(s: ServerView): number {
  if (s["lazarus:fencing_required"]) return 0;
  if (s["OS-EXT-STS:vm_state"] === "error") return 1;
  if (s["OS-EXT-STS:task_state"]) return 2;
  return 3;
}

export function sortInstances(servers: readonly ServerView[]): ServerView[] {
  return [...servers].sort((a, b) => urgency(a) - urgency(b) || a.name.localeCompare(b.name));
}

/** Each instance's newest action (nova's instance actions are its migrations: evacuation, rebuild). */
export function lastActions(migrations: readonly MigrationView[]): Map<string, MigrationView> {
  const out = new Map<string, MigrationView>();
  for (const m of migrations) {
    const seen = out.get(m.instance_uuid);
    if (!seen || seen.created_at < m.created_at) out.set(m.instance_uuid, m);
  }
  return out;
}

/** The state column: nova's status, with the task and "fencing required" (not a vm_state) said plainly. */
export function instanceState(s: ServerView): { label: string; tone: "ok" | "warn" | "bad" | "busy" } {
  if (s["lazarus:fencing_required"]) return { label: "fencing required", tone: "bad" };
  const task = s["OS-EXT-STS:task_state"];
  if (task) return { label: `${s.status.toLowerCase()} · ${task.replaceAll("_", " ")}`, tone: "busy" };
  if (s.status === "ERROR") return { label: "error", tone: "bad" };
  if (s.status === "ACTIVE") return { label: "active", tone: "ok" };
  return { label: s.status.toLowerCase(), tone: "warn" };
}

// ---- work waiting for a person --------------------------------------------------------------------------

/** An action the console offers, by what it acts on (actions.tsx says what each does and sends). */
export type WorkAction =
  | { kind: "force-down"; host: string }
  | { kind: "power-off"; host: string }
  | { kind: "power-on"; host: string }
  | { kind: "evacuate-host"; host: string }
  | { kind: "enable-host"; host: string }
  | { kind: "adopt"; host: string }
  | { kind: "evacuate-instance"; server: ServerView }
  | { kind: "rebuild-instance"; server: ServerView };

export interface WorkItem {
  key: string;
  kind: "fencing-required" | "held" | "disabled" | "drift" | "error";
  title: string;
  detail: string;
  /** The actions that resolve it, the first the usual one. */
  actions: WorkAction[];
}

/**
 * Everything that waits for a person, most urgent first: instances "fencing required" (the host must be
 * proven off: power it off through its fence or state that it is off), incidents held by the mass-failure
 * guard (evacuate by hand once checked), instances in ERROR, hosts back but still disabled after a
 * recovery (enable), and drift the fleet sync found (adopt unknown domains; missing ones need a rebuild).
 */
export function workItems(
  hosts: readonly HostView[],
  servers: readonly ServerView[],
  incidents: readonly IncidentSummary[],
): WorkItem[] {
  const items: WorkItem[] = [];
  const hostByName = new Map(hosts.map((h) => [h.host_name, h]));
  for (const s of servers) {
    const f = s["lazarus:fencing_required"];
    if (!f) continue;
    const host = hostByName.get(f.host);
    const proven = host?.forced_down === true || !!host?.death_proof;
    items.push({
      key: `fencing-${s.id}`,
      kind: "fencing-required",
      title: `${s.name} waits: fencing required on ${f.host}`,
      detail:
        f.message ??
        `Nothing proves ${f.host} is off, so ${s.name} is not started elsewhere (it could run twice).`,
      actions: proven
        ? [{ kind: "evacuate-instance", server: s }]
        : [
            { kind: "power-off", host: f.host },
            { kind: "force-down", host: f.host },
          ],
    });
  }
  for (const i of incidents) {
    if (i.status !== "held") continue;
    items.push({
      key: `held-${i.id}`,
      kind: "held",
      title: `${i.host}: evacuation held by the mass-failure guard`,
      detail: `Too much of the fleet looked dead at once (${i.reason ?? "alarm"}): nothing was fenced or moved. Check the hosts, then evacuate by hand.`,
      actions: [{ kind: "evacuate-host", host: i.host }],
    });
  }
  for (const s of servers) {
    if (s["lazarus:fencing_required"] || s["OS-EXT-STS:vm_state"] !== "error") continue;
    const host = hostByName.get(s["OS-EXT-SRV-ATTR:host"]);
    items.push({
      key: `error-${s.id}`,
      kind: "error",
      title: `${s.name} is in ERROR on ${s["OS-EXT-SRV-ATTR:host"]}`,
      detail: s.fault?.message ?? "The last flow failed; its fault says why.",
      actions:
        host && host.state === "down"
          ? [{ kind: "evacuate-instance", server: s }]
          : [
              { kind: "rebuild-instance", server: s },
              { kind: "evacuate-instance", server: s },
            ],
    });
  }
  for (const h of hosts) {
    // A drained host is disabled on purpose: `lazarus host undrain` ends that, not an enable.
    if (h.enabled || h.state !== "up" || h.forced_down || h.maintenance) continue;
    const after = h.incident && ["closed", "evacuated", "not-dead", "aborted"].includes(h.incident.status);
    items.push({
      key: `disabled-${h.host_name}`,
      kind: "disabled",
      title: `${h.host_name} is back but disabled${after ? " after its recovery" : ""}`,
      detail: `Nothing is placed on ${h.host_name} until an operator enables it${h.disabled_reason ? ` (${h.disabled_reason})` : ""}.`,
      actions: [{ kind: "enable-host", host: h.host_name }],
    });
  }
  for (const h of hosts) {
    const d = h.drift;
    if (!d || d.unknown_domains.length + d.missing_domains.length === 0) continue;
    const parts = [
      d.unknown_domains.length ? `${d.unknown_domains.length} domain(s) Lazarus does not know` : "",
      d.missing_domains.length
        ? `${d.missing_domains.length} instance(s) whose domain is missing (${d.missing_domains.map((m) => m.name).join(", ")})`
        : "",
    ].filter(Boolean);
    items.push({
      key: `drift-${h.host_name}`,
      kind: "drift",
      title: `${h.host_name}: drift found by the fleet sync`,
      detail: `${parts.join("; ")}.`,
      // Unknown domains: adopt what Lazarus can recreate; a missing domain: rebuild its instance.
      actions: [
        ...(d.unknown_domains.length ? [{ kind: "adopt", host: h.host_name } as const] : []),
        ...d.missing_domains.flatMap((m) => {
          const s = servers.find((x) => x.id === m.instance_uuid);
          return s ? [{ kind: "rebuild-instance", server: s } as const] : [];
        }),
      ],
    });
  }
  return items;
}

// ---- formatting ---------------------------------------------------------------------------------------

export function formatAge(seconds: number | null): string {
  if (seconds === null) return "—";
  if (seconds < 1) return "now";
  if (seconds < 90) return `${Math.round(seconds)} s ago`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
  return `${Math.round(seconds / 3600)} h ago`;
}

export function formatSeconds(s: number): string {
  return s < 10 ? `${s.toFixed(1)} s` : `${Math.round(s)} s`;
}

export function formatClock(iso: string | null): string {
  if (!iso) return "—";
  const d = new Date(iso);
  return d.toLocaleTimeString(undefined, { hour12: false });
}

/** A nice step for a time axis of `span` seconds: at most ~10 ticks. */
export function tickStep(span: number): number {
  return [0.5, 1, 2, 5, 10, 15, 20, 30, 60, 120, 300].find((s) => span / s <= 10) ?? 600;
}
