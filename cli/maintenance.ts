/**
 * The CLI's planned-maintenance commands (issue 32): migrate one instance (live or cold), confirm or
 * revert a cold migration, drain a host (or check first whether it can be drained), undrain it (and bring
 * its instances back). Long ones follow their flow's steps live, as rebuild and evacuate do.
 */
import type { LazarusClient } from "./client.js";
import { type ExecutionDoc, keyValues, summary, table, watchExecution } from "./render.js";

export interface Out {
  json: boolean;
}

function print(g: Out, doc: unknown, text: () => string): void {
  process.stdout.write(g.json ? `${JSON.stringify(doc, null, 2)}\n` : text());
}

/** What a drain's report says (the host-drain machine's output, or its failure's cause). */
interface DrainReport {
  host: string;
  mode: "drain" | "return";
  moved: { name: string; to: string; live: boolean }[];
  notMoved: { name: string; reason: string }[];
  left: string[];
  state: string | null;
  complete: boolean;
}

export interface DrainPreview {
  host: string;
  drainable: boolean;
  placements: { name: string; target: string; live: boolean; haPriority: number }[];
  unplaced: { name: string; reason: string }[];
  skipped: { name: string; message: string }[];
}

async function follow(c: LazarusClient, g: Out, id: string, wait: boolean): Promise<ExecutionDoc | null> {
  if (!wait) {
    print(g, { execution: { id } }, () => `started execution ${id}\nfollow it: lazarus watch ${id}\n`);
    return null;
  }
  return watchExecution(c, id, { out: g.json ? null : process.stdout });
}

/** `lazarus migrate ID [--live] [--host H]`: nova's os-migrateLive (block migration "auto") or migrate. */
export async function migrate(
  c: LazarusClient,
  g: Out,
  id: string,
  opts: { live: boolean; host: string | null; wait: boolean },
): Promise<number> {
  const action = opts.live
    ? { "os-migrateLive": { host: opts.host, block_migration: "auto" } }
    : { migrate: opts.host ? { host: opts.host } : null };
  const res = await c.call("POST", `/servers/${encodeURIComponent(id)}/action`, { body: action });
  const execution = res.headers.get("x-lazarus-execution-id")!;
  if (!g.json)
    process.stdout.write(
      `${opts.live ? "live" : "cold"} migration of ${id} accepted (migration ${res.headers.get("x-lazarus-migration-id")})\n`,
    );
  const doc = await follow(c, g, execution, opts.wait);
  if (!doc) return 0;
  const { server } = await c.get<{ server: Record<string, unknown> }>(`/servers/${encodeURIComponent(id)}`);
  print(g, { execution: doc, server }, () => {
    const next =
      server.status === "VERIFY_RESIZE"
        ? `\nconfirm it: lazarus resize-confirm ${id}   (or revert it: lazarus resize-revert ${id})\n`
        : "";
    return `${summary(doc)}\n${keyValues({ status: server.status, host: server["OS-EXT-SRV-ATTR:host"] })}${next}`;
  });
  return doc.status === "SUCCEEDED" ? 0 : 1;
}

/** `lazarus resize-confirm ID` / `resize-revert ID`: the finished cold migration kept or undone. */
export async function resizeFollowUp(
  c: LazarusClient,
  g: Out,
  id: string,
  action: "confirmResize" | "revertResize",
  wait: boolean,
): Promise<number> {
  const res = await c.call("POST", `/servers/${encodeURIComponent(id)}/action`, { body: { [action]: null } });
  if (action === "confirmResize") {
    print(
      g,
      { confirmed: id, migration: res.headers.get("x-lazarus-migration-id") },
      () => `confirmed the migration of ${id}\n`,
    );
    return 0;
  }
  if (!g.json) process.stdout.write(`revert of ${id} accepted\n`);
  const doc = await follow(c, g, res.headers.get("x-lazarus-execution-id")!, wait);
  if (!doc) return 0;
  print(g, { execution: doc }, () => `${summary(doc)}\n`);
  return doc.status === "SUCCEEDED" ? 0 : 1;
}

function renderPreview(p: DrainPreview): string {
  const rows = [
    ...p.placements.map((x) => [x.name, x.target, x.live ? "live" : "cold", ""]),
    ...p.unplaced.map((x) => [x.name, "-", "stays", x.reason]),
    ...p.skipped.map((x) => [x.name, "-", "skipped", x.message]),
  ];
  return `${table(["INSTANCE", "TO", "HOW", "WHY NOT"], rows)}host ${p.host} ${p.drainable ? "can be drained now" : "cannot be drained now: the instances above would stay"}\n`;
}

function renderReport(r: DrainReport): string {
  const rows = [
    ...r.moved.map((m) => [m.name, m.to, m.live ? "live" : "cold", "moved"]),
    ...r.notMoved.map((m) => [m.name, "-", "-", m.reason]),
  ];
  const state = r.state ? `; host ${r.host} is now ${r.state}` : "";
  return `${table(["INSTANCE", "TO", "HOW", "RESULT"], rows)}${r.moved.length} moved, ${r.notMoved.length} not moved${state}\n`;
}

/** The report of a finished drain: its output (SUCCEEDED) or its failure's cause (HostDrainIncomplete). */
function reportOf(doc: ExecutionDoc): DrainReport | null {
  const output = (doc as { output?: unknown }).output as { report?: DrainReport } | undefined;
  if (output?.report) return output.report;
  try {
    const cause = JSON.parse(doc.cause ?? "") as DrainReport;
    return Array.isArray(cause.moved) ? cause : null;
  } catch {
    return null;
  }
}

/**
 * `lazarus host drain HOST [--reason R] [--check]`: with --check only the preview (exit 0 when it can be
 * drained now, 3 when an instance would stay); else the drain, followed, then its report.
 */
export async function drainHost(
  c: LazarusClient,
  g: Out,
  host: string,
  opts: { reason: string | null; check: boolean; wait: boolean },
): Promise<number> {
  if (opts.check) {
    const { evacuation_capacity } = await c.get<{ evacuation_capacity: { drain: DrainPreview } }>(
      `/os-evacuation-capacity?drain=${encodeURIComponent(host)}`,
    );
    const p = evacuation_capacity.drain;
    print(g, { drain: p }, () => renderPreview(p));
    return p.drainable ? 0 : 3;
  }
  const res = await c.call("POST", `/os-hosts/${encodeURIComponent(host)}/drain`, {
    body: opts.reason ? { reason: opts.reason } : {},
  });
  const id = (res.body as { execution: { id: string } }).execution.id;
  if (!g.json) process.stdout.write(`drain of host ${host} started (disabled, draining)\n`);
  return followDrain(c, g, id, opts.wait);
}

async function followDrain(c: LazarusClient, g: Out, id: string, wait: boolean): Promise<number> {
  const doc = await follow(c, g, id, wait);
  if (!doc) return 0;
  const report = reportOf(doc);
  print(g, { execution: doc, report }, () => `${summary(doc)}\n${report ? renderReport(report) : ""}`);
  return doc.status === "SUCCEEDED" ? 0 : 1;
}

/** `lazarus host undrain HOST [--return]`: enabled again; with --return the drained instances brought back. */
export async function undrainHost(
  c: LazarusClient,
  g: Out,
  host: string,
  opts: { return: boolean; wait: boolean },
): Promise<number> {
  const res = await c.call("POST", `/os-hosts/${encodeURIComponent(host)}/undrain`, {
    body: opts.return ? { return: true } : {},
  });
  const body = res.body as { execution?: { id: string } };
  if (!body.execution) {
    print(
      g,
      body,
      () => `host ${host} is enabled again${opts.return ? " (no instance to bring back)" : ""}\n`,
    );
    return 0;
  }
  if (!g.json) process.stdout.write(`host ${host} is enabled again; bringing its instances back\n`);
  return followDrain(c, g, body.execution.id, opts.wait);
}
