/**
 * What a local cloud run creates on this machine (Unix users, a group, a folder, a CPU cgroup), written down before
 * it creates it, in a marker file under a state folder. A run removes its marker once everything is
 * gone; a marker whose run is dead (SIGKILL, power cut, reboot) is found by the next start, which
 * removes what that run left: its users' processes (by uid), its users, its CPU group, its group and its folder.
 *
 * Only what a marker names is touched, and only names this code gives (`lz<runid>`, `lz<runid>-*`,
 * `<dir>/lz-*`): nothing is ever found or killed by a name pattern.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, isAbsolute, join } from "node:path";
import { procStatFields, STAT } from "../proc-stat.js";
import { isHostsCpuGroupOf, removeCpuGroup } from "./cpu-group.js";
import { processesOfUid } from "./local-host.js";

/** Survives a reboot, as the users in /etc/passwd do. */
export const DEFAULT_STATE_DIR = "/var/lib/lazarus-local/runs";

export function runStateDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.LAZARUS_LOCAL_STATE_DIR || DEFAULT_STATE_DIR;
}

export interface RunMarker {
  runId: string;
  /** The process that runs the cloud; with its start time and the boot id, so a reused pid is not mistaken for it. */
  pid: number;
  pidStartTime: string;
  bootId: string;
  group: string;
  users: string[];
  dirs: string[];
  /** The hosts' CPU cgroup (cpu-group.ts), when the machine has one; absent in markers of older runs. */
  cpuGroups?: string[];
  createdAt: string;
}

const PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

function bootId(): string {
  return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
}

/**
 * Field 22 of /proc/<pid>/stat (start time in clock ticks since boot), or undefined if there is no such
 * process or it is a zombie (a killed run whose parent died is reparented, and may never be reaped).
 */
function processStartTime(pid: number): string | undefined {
  const fields = procStatFields(pid);
  const state = fields?.[STAT.state];
  return fields === undefined || state === "Z" || state === "X" ? undefined : fields[STAT.starttime];
}

export function newRunMarker(
  fields: Pick<RunMarker, "runId" | "group" | "users" | "dirs" | "cpuGroups">,
): RunMarker {
  return {
    ...fields,
    pid: process.pid,
    pidStartTime: processStartTime(process.pid) ?? "",
    bootId: bootId(),
    createdAt: new Date().toISOString(),
  };
}

/** Writes (or rewrites) the run's marker; returns its path. */
export function writeRunMarker(stateDir: string, marker: RunMarker): string {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const path = join(stateDir, `${marker.runId}.json`);
  writeFileSync(`${path}.tmp`, `${JSON.stringify(marker, null, 2)}\n`, { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
  return path;
}

export function isRunAlive(marker: RunMarker): boolean {
  return (
    marker.bootId === bootId() &&
    marker.pidStartTime !== "" &&
    processStartTime(marker.pid) === marker.pidStartTime
  );
}

/** Refuses a marker naming anything this code would not have created. */
function checkMarker(m: RunMarker): void {
  const ok =
    /^[0-9a-f]{6}$/.test(m.runId) &&
    m.group === `lz${m.runId}` &&
    Array.isArray(m.users) &&
    m.users.every((u) => typeof u === "string" && u.startsWith(`lz${m.runId}-`) && /^[a-z0-9_-]+$/.test(u)) &&
    Array.isArray(m.dirs) &&
    m.dirs.every((d) => typeof d === "string" && isAbsolute(d) && basename(d).startsWith("lz-")) &&
    (m.cpuGroups === undefined ||
      (Array.isArray(m.cpuGroups) && m.cpuGroups.every((g) => isHostsCpuGroupOf(m.runId, g))));
  if (!ok) throw new Error(`not a local cloud run marker: ${JSON.stringify(m)}`);
}

/** useradd/userdel/groupdel lock /etc/passwd; parallel clouds can collide, so retry a while. */
export function passwdCommandSync(cmd: string, args: string[]): { status: number; stderr: string } {
  for (let attempt = 0; ; attempt++) {
    const r = spawnSync(cmd, args, { encoding: "utf8", env: { PATH, LANG: "C.UTF-8" } });
    const res = { status: r.status ?? -1, stderr: r.stderr ?? String(r.error ?? "") };
    if (res.status === 0 || attempt >= 20 || !/lock/i.test(res.stderr)) return res;
    spawnSync("sleep", ["0.2"]);
  }
}

/**
 * The fields of the /etc/group or /etc/passwd line naming `name`; null when there is none, undefined when
 * the file cannot be read. Read from the files useradd/groupdel write, not through NSS (`getent`): a
 * failed or slow lookup must not pass for "already gone".
 */
function entryIn(file: "/etc/group" | "/etc/passwd", name: string): string[] | null | undefined {
  try {
    const line = readFileSync(file, "utf8")
      .split("\n")
      .find((l) => l.startsWith(`${name}:`));
    return line === undefined ? null : line.split(":");
  } catch {
    return undefined;
  }
}

/** Unreadable counts as listed: the removal is then tried, and its failure reported. */
function listedIn(file: "/etc/group" | "/etc/passwd", name: string): boolean {
  return entryIn(file, name) !== null;
}

/** A host user's uid; never 0 (its processes are killed by uid). */
function uidOf(user: string): number | undefined {
  const field = entryIn("/etc/passwd", user)?.[2] ?? "";
  return /^[1-9]\d*$/.test(field) ? Number(field) : undefined;
}

/**
 * Removes everything the marker names, synchronously (it also runs in a process "exit" handler):
 * every process of each user's uid (SIGKILL, until none is left), the users, the hosts' CPU group, the
 * group, the folders.
 * Idempotent. Returns what is still there (empty when all is gone).
 */
export function removeRunLeftovers(marker: RunMarker): string[] {
  checkMarker(marker);
  const left: string[] = [];
  for (const user of marker.users) {
    const uid = uidOf(user);
    if (uid !== undefined) {
      for (let i = 0; i < 100; i++) {
        const pids = processesOfUid(uid);
        if (pids.length === 0) break;
        for (const pid of pids) {
          try {
            process.kill(pid, "SIGKILL");
          } catch {
            // gone meanwhile
          }
        }
        spawnSync("sleep", ["0.05"]);
      }
    }
    if (!listedIn("/etc/passwd", user)) continue;
    // -f: a zombie qemu (reparented to a pid 1 that does not reap) must not block the removal.
    const r = passwdCommandSync("userdel", ["-f", user]);
    if (r.status !== 0 && listedIn("/etc/passwd", user)) left.push(`user ${user} (${r.stderr.trim()})`);
  }
  // After the users' processes: what is left in the CPU group is only what no user owns (a process still
  // becoming its host's user), killed by the pids the group lists.
  for (const cpuGroup of marker.cpuGroups ?? []) {
    if (!removeCpuGroup(cpuGroup, (s) => spawnSync("sleep", [String(s)]))) left.push(`CPU group ${cpuGroup}`);
  }
  // groupdel can fail for a moment right after the userdels (the passwd files are being rewritten by
  // another tool, a lock is being released): try again for a few seconds before calling it a leftover.
  let stderr = "";
  for (let i = 0; i < 50 && listedIn("/etc/group", marker.group); i++) {
    if (i > 0) spawnSync("sleep", ["0.2"]);
    stderr = passwdCommandSync("groupdel", [marker.group]).stderr.trim();
  }
  if (listedIn("/etc/group", marker.group)) left.push(`group ${marker.group} (${stderr})`);
  for (const dir of marker.dirs) {
    rmSync(dir, { recursive: true, force: true });
    if (existsSync(dir)) left.push(`folder ${dir}`);
  }
  return left;
}

/** Removes a finished run's marker. */
export function removeRunMarker(path: string): void {
  rmSync(path, { force: true });
}

/**
 * Removes what dead runs left (see the module comment); live runs, and markers being cleaned by
 * another start, are left alone. Returns the markers of the runs cleaned.
 */
export function removeDeadRuns(stateDir: string, log: (line: string) => void = () => {}): RunMarker[] {
  if (!existsSync(stateDir)) return [];
  const cleaned: RunMarker[] = [];
  for (const name of readdirSync(stateDir)) {
    // `<runId>.json`, or `<runId>.json.cleaning-<pid>` while a start cleans it.
    const m = /^([0-9a-f]{6}\.json)(?:\.cleaning-(\d+))?$/.exec(name);
    if (!m) continue;
    if (m[2] !== undefined && processStartTime(Number(m[2])) !== undefined) continue; // being cleaned
    const path = join(stateDir, name);
    let marker: RunMarker;
    try {
      marker = JSON.parse(readFileSync(path, "utf8")) as RunMarker;
      checkMarker(marker);
    } catch (e) {
      log(`ignoring ${path}: ${(e as Error).message}`);
      continue;
    }
    if (isRunAlive(marker)) continue;
    // Claim it: of two starts cleaning at once, one wins the rename.
    const claimed = join(stateDir, `${m[1]}.cleaning-${process.pid}`);
    try {
      renameSync(path, claimed);
    } catch {
      continue;
    }
    const left = removeRunLeftovers(marker);
    if (left.length > 0) {
      renameSync(claimed, join(stateDir, m[1]!)); // try again at the next start
      log(`run ${marker.runId} (pid ${marker.pid}, dead): could not remove ${left.join(", ")}`);
      continue;
    }
    rmSync(claimed, { force: true });
    log(
      `removed what run ${marker.runId} (pid ${marker.pid}, dead) left: users ${marker.users.join(", ")}, group ${marker.group}, ${marker.dirs.join(", ")}`,
    );
    cleaned.push(marker);
  }
  return cleaned;
}
