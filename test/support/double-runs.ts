/**
 * The double-run sampler of the host tests: while a flow runs, it looks again and again for an instance
 * running on two hosts at once or a disk used by two running domains (a copy started by hand included),
 * and says what it saw once stopped. No instance may run twice at any look, whatever the flow does.
 */
import { readFileSync } from "node:fs";
import type { LocalCloud } from "#local/cloud.js";
import { type LocalHost, processesOfUids } from "#local/hosts/local-host.js";
import { disksOpenedTwice } from "#local/invariants.js";
import type { Instance } from "#shared/domain/schemas.js";
import { domState, runningHosts, runningOn, sleep } from "./hosts.js";

/** Between two looks (a look itself asks virsh on every running host). */
const LOOK_EVERY_MS = 300;

export interface DoubleRunWatch {
  /**
   * Stops looking (after the look under way) and returns every double run seen, in order; a look that
   * failed counts as one. Calling it again returns the same.
   */
  stop(): Promise<string[]>;
}

/**
 * Starts looking at where each of `instances` runs and at the disks of every running domain. With
 * `onlyOn`, an instance that runs anywhere but there, or nowhere, counts as seen too.
 */
export function watchDoubleRuns(
  cloud: LocalCloud,
  instances: readonly Instance[],
  opts: { onlyOn?: string } = {},
): DoubleRunWatch {
  const seen: string[] = [];
  let looking = true;
  const look = async () => {
    for (const i of instances) {
      let where = await runningOn(cloud, i.uuid);
      if (opts.onlyOn === undefined && where.length > 1) {
        // Hosts are asked one after the other: a live migration's switch-over between two looks is not
        // two copies. The hosts seen first are asked again; a copy still running there is.
        const again = await Promise.all(
          where.slice(0, -1).map(async (h) => ((await domState(cloud, h, i.uuid)) === "running" ? h : null)),
        );
        where = [...again.filter((h): h is string => h !== null), where.at(-1)!];
      }
      const wrong = opts.onlyOn === undefined ? where.length > 1 : where.join(",") !== opts.onlyOn;
      if (wrong) seen.push(`${i.name} running on [${where.join(", ")}]`);
    }
    seen.push(...(await disksOpenedTwice(runningHosts(cloud))));
  };
  const loop = (async () => {
    while (looking) {
      try {
        await look();
      } catch (err) {
        seen.push(`a look failed: ${(err as Error).message}`);
        return;
      }
      await sleep(LOOK_EVERY_MS);
    }
  })();
  let stopped: Promise<string[]> | undefined;
  return {
    stop() {
      looking = false;
      stopped ??= loop.then(() => seen);
      return stopped;
    },
  };
}

/** The qemu processes of a local host (every process of its uid whose command line has `-uuid`), by pid. */
export function qemuProcesses(host: LocalHost): { pid: number; uuid: string }[] {
  return qemuProcessesOf([host]).get(host.name)!;
}

/** `qemuProcesses` of several hosts, by host name, from one pass over /proc. */
function qemuProcessesOf(hosts: Iterable<LocalHost>): Map<string, { pid: number; uuid: string }[]> {
  const list = [...hosts];
  const byUid = processesOfUids(list.map((h) => h.uid));
  const out = new Map<string, { pid: number; uuid: string }[]>();
  for (const host of list) {
    const found: { pid: number; uuid: string }[] = [];
    for (const pid of byUid.get(host.uid) ?? []) {
      let argv: string[];
      try {
        argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      } catch {
        continue; // exited meanwhile
      }
      const i = argv.indexOf("-uuid");
      if (i >= 0 && argv[i + 1]) found.push({ pid, uuid: argv[i + 1]!.toLowerCase() });
    }
    out.set(host.name, found);
  }
  return out;
}

export interface QemuWatch {
  /** Stops sampling; returns every sample at which one uuid ran in two qemu processes, and when each uuid was first seen on each host. */
  stop(): Promise<{ doubles: string[]; firstSeen: Map<string, Map<string, number>>; samples: number }>;
}

/**
 * The double-run sampler that needs nothing from libvirt (it works with libvirtd frozen or dead): every
 * `everyMs`, the qemu processes of every host of the cloud, read from /proc, and any VM uuid found in two
 * qemu processes at one sample, wherever they run.
 */
export function watchQemuProcesses(cloud: LocalCloud, everyMs = 100): QemuWatch {
  const doubles: string[] = [];
  const firstSeen = new Map<string, Map<string, number>>();
  let samples = 0;
  let looking = true;
  const loop = (async () => {
    while (looking) {
      const at = Date.now();
      const where = new Map<string, string[]>();
      for (const [hostName, processes] of qemuProcessesOf(cloud.fleet.hosts.values())) {
        for (const { uuid } of processes) {
          where.set(uuid, [...(where.get(uuid) ?? []), hostName]);
          const seen = firstSeen.get(uuid) ?? new Map<string, number>();
          if (!seen.has(hostName)) seen.set(hostName, at);
          firstSeen.set(uuid, seen);
        }
      }
      for (const [uuid, hosts] of where) {
        if (hosts.length > 1)
          doubles.push(`${new Date(at).toISOString()} ${uuid} in qemu on [${hosts.join(", ")}]`);
      }
      samples++;
      await sleep(everyMs);
    }
  })();
  let stopped: ReturnType<QemuWatch["stop"]> | undefined;
  return {
    stop() {
      looking = false;
      stopped ??= loop.then(() => ({ doubles, firstSeen, samples }));
      return stopped;
    },
  };
}
