/**
 * `lazarus drift`: what differs between the domains libvirt has on each host and Lazarus's instance
 * table, as the inventory sync (`POST /os-hosts/{host}/sync`) finds it. This module reads and prints the
 * sync's per-host report; the shape is functions/inventory/sync.ts's `HostSync` as the API returns it.
 */

export interface HostDrift {
  host: string;
  status: "synced" | "skipped" | "unreachable";
  reason?: string;
  powerDrift: {
    instanceUuid: string;
    name: string;
    recorded: string;
    actual: string;
    recordedNow: boolean;
  }[];
  unknownDomains: { uuid: string; powerState: string; recordedHost: string | null }[];
  missingDomains: { instanceUuid: string; name: string }[];
  claimsMade: string[];
  claimsReleased: string[];
  claimProblems: { instanceUuid: string; reason: string }[];
  usage: { vcpus: number; memoryMiB: number; diskGiB: number } | null;
  placed: { vcpus: number; memoryMiB: number; diskGiB: number };
}

/** The sync's answer for one host (`{"synced": FleetSyncReport}`). */
export interface SyncReply {
  synced: { at: string; drift: boolean; hosts: HostDrift[] };
}

/** The drift of all the hosts asked for, as `--json` prints it. */
export interface DriftReport {
  at: string;
  /** Report only (false) or recorded (power states, claims). */
  applied: boolean;
  drift: boolean;
  hosts: HostDrift[];
}

/** How many differences one host shows (0: in sync, or not checked). */
export function differences(h: HostDrift): number {
  return (
    h.powerDrift.length +
    h.unknownDomains.length +
    h.missingDomains.length +
    h.claimsMade.length +
    h.claimsReleased.length +
    h.claimProblems.length
  );
}

/** One block per host: its verdict, then one line per difference, then its usage against placement. */
export function renderDrift(report: DriftReport): string {
  const lines: string[] = [];
  const done = (now: boolean, did: string, would: string) =>
    now ? ` (${did})` : report.applied ? "" : ` (--apply ${would})`;
  for (const h of report.hosts) {
    const n = differences(h);
    if (h.status !== "synced") {
      lines.push(`${h.host}  NOT CHECKED: ${h.status}${h.reason ? ` (${h.reason})` : ""}`);
      continue;
    }
    lines.push(`${h.host}  ${n === 0 ? "in sync" : `DRIFT: ${n} difference${n === 1 ? "" : "s"}`}`);
    for (const p of h.powerDrift)
      lines.push(
        `  power    ${p.name} ${p.instanceUuid}: table says ${p.recorded}, libvirt says ${p.actual}${done(p.recordedNow, "recorded", "records it")}`,
      );
    for (const u of h.unknownDomains)
      lines.push(
        u.recordedHost
          ? `  stale    domain ${u.uuid} (${u.powerState}): a copy of an instance the table places on ${u.recordedHost}`
          : `  unknown  domain ${u.uuid} (${u.powerState}): defined on the host, no instance in the table (adopt it, or undefine it)`,
      );
    for (const m of h.missingDomains)
      lines.push(`  missing  ${m.name} ${m.instanceUuid}: in the table on this host, no domain defined`);
    for (const c of h.claimsMade)
      lines.push(
        `  claim    ${c}: placed here without a claim${done(report.applied, "claimed", "claims it")}`,
      );
    for (const c of h.claimsReleased)
      lines.push(
        `  claim    ${c}: claim held for an instance not placed here${done(report.applied, "released", "releases it")}`,
      );
    for (const c of h.claimProblems) lines.push(`  claim    ${c.instanceUuid}: cannot claim: ${c.reason}`);
    if (h.usage) {
      const u = h.usage;
      const p = h.placed;
      lines.push(
        `  usage    claimed ${u.vcpus} vCPU, ${u.memoryMiB} MiB, ${u.diskGiB} GiB; placed flavors ${p.vcpus} vCPU, ${p.memoryMiB} MiB, ${p.diskGiB} GiB`,
      );
    }
  }
  const checked = report.hosts.filter((h) => h.status === "synced");
  const drifting = checked.filter((h) => differences(h) > 0).length;
  lines.push(
    `${checked.length} of ${report.hosts.length} host(s) checked, ${drifting} with drift${report.applied ? " (recorded)" : " (report only: nothing written)"}`,
  );
  return `${lines.join("\n")}\n`;
}
