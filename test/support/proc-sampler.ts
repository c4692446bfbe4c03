/**
 * Every process's command line on this machine, read again and again from /proc while a test runs: what
 * `ps` shows anyone. Two things must never be seen there: a secret (a BMC password), and one VM's uuid in
 * two qemu processes at once (`-uuid <uuid>` is on qemu's command line). Also counts the samples in which
 * a process matching `watchFor` ran (so a test knows it looked while, say, a fence agent ran).
 */
import { readdirSync, readFileSync } from "node:fs";

export interface ProcSample {
  samples: number;
  /** `<pid>: <command line>` with the secret replaced, for each command line that held one. */
  secretsSeen: string[];
  /** `<uuid> in qemu pids a, b`, for each sample that saw one uuid in two qemu processes. */
  doubleQemu: string[];
  /** Samples in which a command line matched `watchFor`. */
  watchedSeen: number;
}

export interface ProcWatch {
  stop(): Promise<ProcSample>;
}

function commandLines(): { pid: string; line: string }[] {
  const out: { pid: string; line: string }[] = [];
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const raw = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      if (raw) out.push({ pid, line: raw.replaceAll("\0", " ") });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

export function watchProcesses(opts: {
  /** The secrets to look for (read at every sample: they may change). */
  secrets: () => readonly string[];
  uuids: () => readonly string[];
  watchFor?: RegExp;
  everyMs?: number;
}): ProcWatch {
  const result: ProcSample = { samples: 0, secretsSeen: [], doubleQemu: [], watchedSeen: 0 };
  let looking = true;
  const loop = (async () => {
    while (looking) {
      const secrets = opts.secrets().filter((s) => s.length >= 6);
      const uuids = opts.uuids();
      const lines = commandLines();
      const qemu = new Map<string, string[]>();
      let watched = false;
      for (const { pid, line } of lines) {
        for (const s of secrets)
          if (line.includes(s)) result.secretsSeen.push(`${pid}: ${line.replaceAll(s, "(the secret)")}`);
        if (opts.watchFor?.test(line)) watched = true;
        if (!/qemu-system/.test(line)) continue;
        for (const u of uuids) if (line.includes(`-uuid ${u}`)) qemu.set(u, [...(qemu.get(u) ?? []), pid]);
      }
      for (const [u, pids] of qemu)
        if (pids.length > 1) result.doubleQemu.push(`${u} in qemu pids ${pids.join(", ")}`);
      if (watched) result.watchedSeen++;
      result.samples++;
      await new Promise((r) => setTimeout(r, opts.everyMs ?? 20));
    }
  })();
  let stopped: Promise<ProcSample> | undefined;
  return {
    stop() {
      looking = false;
      stopped ??= loop.then(() => result);
      return stopped;
    },
  };
}
