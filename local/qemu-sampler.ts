/**
 * Where each VM really runs, from /proc and nothing else: every qemu process of the local hosts (a process of
 * a host's uid whose command line has `-uuid <uuid>`), sampled again and again. It needs nothing from
 * libvirt (it works with libvirtd frozen or dead) and sees a copy started by hand or on a local disk as well
 * (a local-disk copy has its own file: a check of the disks alone cannot see it).
 *
 * A double run is one VM uuid in two qemu processes that both ran it:
 *  - seen together in samples spanning at least `persistMs`; or
 *  - seen together, then the older process gone while the newer one lives on (the newer copy was started
 *    while the older still ran: e.g. started elsewhere before the old host was really dead).
 * A newer process seen beside an older one that it does not outlive, within `persistMs` (a start refused by
 * the disk lock: qemu opens the image, is refused the lock and exits before the guest ever runs), is a
 * `glimpse`: reported, not a double run.
 */
import { readdirSync, readFileSync } from "node:fs";
import type { LocalHost } from "./hosts/local-host.js";
import { STAT, statFields } from "./proc-stat.js";

export interface QemuProcess {
  pid: number;
  /** The VM uuid (lower case). */
  uuid: string;
  host: string;
  /** When the process started, epoch ms (from /proc/<pid>/stat and the machine's boot time). */
  startedAt: number;
}

const CLOCK_TICKS = 100; // USER_HZ on Linux
let bootTimeMs: number | undefined;
function machineBootTimeMs(): number {
  if (bootTimeMs === undefined) {
    const btime = /^btime (\d+)$/m.exec(readFileSync("/proc/stat", "utf8"))?.[1];
    bootTimeMs = Number(btime ?? 0) * 1000;
  }
  return bootTimeMs;
}

/** `-uuid X` from a NUL-separated command line, or null. */
function uuidOfCommandLine(raw: string): string | null {
  const argv = raw.split("\0");
  const i = argv.indexOf("-uuid");
  return i >= 0 && argv[i + 1] ? argv[i + 1]!.toLowerCase() : null;
}

/**
 * Every qemu process of these hosts, in one pass over /proc: its uid names the host (zombies hold nothing
 * and are left out).
 */
export function qemuProcessesOf(hosts: Iterable<LocalHost>): QemuProcess[] {
  const hostOfUid = new Map<number, string>();
  for (const h of hosts) if (h.uid >= 0) hostOfUid.set(h.uid, h.name);
  const out: QemuProcess[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let uuid: string | null;
    let status: string;
    let stat: string;
    try {
      uuid = uuidOfCommandLine(readFileSync(`/proc/${entry}/cmdline`, "utf8"));
      if (uuid === null) continue;
      status = readFileSync(`/proc/${entry}/status`, "utf8");
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue; // exited meanwhile
    }
    const uids = /^Uid:\s+(\d+)\s+(\d+)/m.exec(status);
    const state = /^State:\s+(\S)/m.exec(status)?.[1];
    if (!uids || state === "Z" || state === "X") continue;
    const host = hostOfUid.get(Number(uids[1])) ?? hostOfUid.get(Number(uids[2]));
    if (host === undefined) continue;
    const startTicks = Number(statFields(stat)[STAT.starttime]);
    out.push({
      pid: Number(entry),
      uuid,
      host,
      startedAt: machineBootTimeMs() + (startTicks * 1000) / CLOCK_TICKS,
    });
  }
  return out;
}

/** One VM uuid in two qemu processes, as the sampler judged it. */
export interface QemuOverlap {
  uuid: string;
  /** The older process, then the newer one. */
  older: { pid: number; host: string; startedAt: number };
  newer: { pid: number; host: string; startedAt: number };
  /** First and last sample that saw both (epoch ms). */
  firstSeen: number;
  lastSeen: number;
  /** How it ended (while the sampler ran): `older-gone` (the newer copy lived on), `newer-gone`, or still both. */
  ended: "older-gone" | "newer-gone" | "both-gone" | "ongoing";
  /** A double run (see the file's comment), or a glimpse (a start refused before the guest ran). */
  verdict: "double" | "glimpse";
}

export interface QemuSamplerOptions {
  /** Between two samples, ms (default 250). */
  everyMs?: number;
  /** Two processes of one uuid seen together this long are a double run whatever happens next (default 1500). */
  persistMs?: number;
  /** Called once per double run, when it is judged one. */
  onDouble?: (overlap: QemuOverlap) => void;
}

export interface QemuSampler {
  /** Samples taken so far. */
  readonly samples: number;
  /** Every overlap judged so far (doubles and glimpses), in the order judged. */
  readonly overlaps: readonly QemuOverlap[];
  /** When each uuid was first seen on each host (epoch ms). */
  readonly firstSeen: ReadonlyMap<string, ReadonlyMap<string, number>>;
  /** Stops after the sample under way; overlaps still open are judged as they stand. */
  stop(): Promise<void>;
}

/** Samples the qemu processes of `hosts()` (read at every sample) until stopped. */
export function startQemuSampler(
  hosts: () => Iterable<LocalHost>,
  opts: QemuSamplerOptions = {},
): QemuSampler {
  const everyMs = opts.everyMs ?? 250;
  const persistMs = opts.persistMs ?? 1500;
  const overlaps: QemuOverlap[] = [];
  const firstSeen = new Map<string, Map<string, number>>();
  // Open overlaps, by "<older pid>/<newer pid>".
  const open = new Map<string, QemuOverlap>();
  let samples = 0;
  let looking = true;
  const judge = (o: QemuOverlap, verdict: QemuOverlap["verdict"]) => {
    o.verdict = verdict;
    overlaps.push(o);
    if (verdict === "double") opts.onDouble?.(o);
  };
  const look = () => {
    const at = Date.now();
    const procs = qemuProcessesOf(hosts());
    const alive = new Set(procs.map((p) => p.pid));
    const byUuid = new Map<string, QemuProcess[]>();
    for (const p of procs) {
      byUuid.set(p.uuid, [...(byUuid.get(p.uuid) ?? []), p]);
      const seen = firstSeen.get(p.uuid) ?? new Map<string, number>();
      if (!seen.has(p.host)) seen.set(p.host, at);
      firstSeen.set(p.uuid, seen);
    }
    const current = new Set<string>();
    for (const [uuid, list] of byUuid) {
      if (list.length < 2) continue;
      const sorted = [...list].sort((a, b) => a.startedAt - b.startedAt || a.pid - b.pid);
      for (let i = 0; i < sorted.length; i++) {
        for (let j = i + 1; j < sorted.length; j++) {
          const [older, newer] = [sorted[i]!, sorted[j]!];
          const key = `${older.pid}/${newer.pid}`;
          current.add(key);
          const o = open.get(key);
          if (o) o.lastSeen = at;
          else
            open.set(key, {
              uuid,
              older: { pid: older.pid, host: older.host, startedAt: older.startedAt },
              newer: { pid: newer.pid, host: newer.host, startedAt: newer.startedAt },
              firstSeen: at,
              lastSeen: at,
              ended: "ongoing",
              verdict: "glimpse",
            });
        }
      }
    }
    for (const [key, o] of open) {
      if (current.has(key)) {
        if (o.lastSeen - o.firstSeen >= persistMs) {
          open.delete(key);
          judge(o, "double");
        }
        continue;
      }
      open.delete(key);
      const olderAlive = alive.has(o.older.pid);
      const newerAlive = alive.has(o.newer.pid);
      o.ended = olderAlive ? "newer-gone" : newerAlive ? "older-gone" : "both-gone";
      judge(o, o.ended === "older-gone" ? "double" : "glimpse");
    }
    samples++;
  };
  const loop = (async () => {
    while (looking) {
      try {
        look();
      } catch {
        // /proc read failed as a whole (never seen): the next sample tries again
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
    for (const o of open.values()) judge(o, o.lastSeen - o.firstSeen >= persistMs ? "double" : "glimpse");
    open.clear();
  })();
  return {
    get samples() {
      return samples;
    },
    overlaps,
    firstSeen,
    stop() {
      looking = false;
      return loop;
    },
  };
}

/** One line for a report: the uuid, both processes, when they overlapped and how it ended. */
export function describeOverlap(o: QemuOverlap): string {
  const p = (x: QemuOverlap["older"]) =>
    `pid ${x.pid} on ${x.host} (started ${new Date(x.startedAt).toISOString()})`;
  return `${o.uuid} in two qemu processes: ${p(o.older)} and ${p(o.newer)}, together from ${new Date(o.firstSeen).toISOString()} to ${new Date(o.lastSeen).toISOString()} (${o.lastSeen - o.firstSeen} ms), ${o.ended}`;
}
