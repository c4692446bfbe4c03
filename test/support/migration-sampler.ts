/**
 * What a live migration looks like from the hosts, sampled while it runs (issue 32, outcome 1): each look
 * reads the domain's state on the source, then on the target, then on the source again (virsh domstate),
 * and lists the guest's qemu processes (every process whose command line names the domain's uuid) with
 * the host whose user runs it. A guest "runs twice" at a look only when the source says running before
 * and after the target said running (a state read on each host in turn cannot be simultaneous: the
 * bracket makes the source's running span the target's reading).
 */
import { readdirSync, readFileSync } from "node:fs";
import type { LocalCloud } from "#local/cloud.js";
import { domState } from "./hosts.js";

export interface Look {
  at: number;
  source: [string, string];
  target: string;
  /** qemu processes of the guest: pid and the host that runs it. */
  qemu: { pid: number; host: string }[];
}

export interface MigrationWatch {
  stop(): Promise<Look[]>;
}

function qemuOf(cloud: LocalCloud, uuid: string): { pid: number; host: string }[] {
  const hostOfUid = new Map([...cloud.fleet.hosts.values()].map((h) => [h.uid, h.name]));
  const out: { pid: number; host: string }[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      if (!cmd.startsWith("/usr/bin/qemu-system") || !cmd.includes(uuid)) continue;
      const uid = Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${entry}/status`, "utf8"))?.[1]);
      out.push({ pid: Number(entry), host: hostOfUid.get(uid) ?? `uid ${uid}` });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

export function watchMigration(
  cloud: LocalCloud,
  uuid: string,
  source: string,
  target: string,
): MigrationWatch {
  const looks: Look[] = [];
  let looking = true;
  const loop = (async () => {
    while (looking) {
      const qemu = qemuOf(cloud, uuid);
      const s1 = await domState(cloud, source, uuid);
      const t = await domState(cloud, target, uuid);
      const s2 = await domState(cloud, source, uuid);
      const pids = new Map([...qemu, ...qemuOf(cloud, uuid)].map((q) => [q.pid, q]));
      looks.push({ at: Date.now(), source: [s1, s2], target: t, qemu: [...pids.values()] });
    }
  })();
  return {
    stop() {
      looking = false;
      return loop.then(() => looks);
    },
  };
}

/** The looks at which the guest ran on both hosts at once. */
export function ranTwice(looks: readonly Look[]): Look[] {
  return looks.filter(
    (l) => l.source[0] === "running" && l.target === "running" && l.source[1] === "running",
  );
}
