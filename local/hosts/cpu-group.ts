/**
 * The simulated hosts' CPU group. On AWS the control plane (Step Functions, Lambda, DynamoDB) never shares
 * a CPU with the hosts it recovers; here it is one Node process on the same two cores as every host's
 * libvirtd, qemu, SSM agent and host command. The kernel shares the CPU between sessions (autogroups,
 * `/proc/sys/kernel/sched_autogroup_enabled`), and libvirt starts every qemu, and the SSM agent every
 * command, in a session of its own: sixteen booting guests then outweigh the one process that plays the
 * whole control plane, which waited 1.9-2.0 s of a 3 s recovery in the run queue (ARCHITECTURE.md
 * section 18). Niceness does not help (it orders threads inside one autogroup).
 *
 * So a run puts all its hosts' processes in one CPU cgroup, weighing together what the control plane's
 * process weighs (the default weight: 1024 shares in cgroup v1, 100 in v2). It changes who waits, never
 * what a host can do: a host alone (the bench's virsh floor, a test's commands) still gets every idle
 * core, and the group has no quota.
 *
 * The group is created under the cloud's own cgroup, named `lz<runid>-hosts`, written in the run's marker
 * before it is created and removed with the run's users (run-marker.ts): whatever is still in it is
 * killed by pid from its own `cgroup.procs` first. Where no CPU controller can be written (a container
 * without one, cgroup v2 with `cpu` not delegated), the run goes on without a group and says so.
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { basename, isAbsolute, join } from "node:path";

/** Set to `off` to run the hosts without a CPU group (to measure what the group changes). */
export const CPU_GROUP_SETTING = "LAZARUS_LOCAL_HOSTS_CPU_GROUP";

export function hostsCpuGroupName(runId: string): string {
  return `lz${runId}-hosts`;
}

/** What every run's hosts' group is called (run ids are six hex digits). */
const HOSTS_CPU_GROUP_NAME = /^lz[0-9a-f]{6}-hosts$/;

/**
 * Where this process's CPU cgroup is: cgroup v1's `cpu` hierarchy, else cgroup v2's unified one when it
 * offers the `cpu` controller to its children. Undefined when there is neither.
 */
function ownCpuCgroupDir(): string | undefined {
  let mounts: string;
  let own: string;
  try {
    mounts = readFileSync("/proc/self/mounts", "utf8");
    own = readFileSync("/proc/self/cgroup", "utf8");
  } catch {
    return undefined;
  }
  const mountLines = mounts.split("\n").map((l) => l.split(" "));
  // /proc/self/cgroup: `<id>:<controllers>:<path>` a line.
  const ownLines = own.split("\n").map((l) => l.split(":"));
  // v1: a `cgroup` mount with the `cpu` option; the line with `cpu` among its controllers.
  const v1Mount = mountLines.find((f) => f[2] === "cgroup" && (f[3] ?? "").split(",").includes("cpu"))?.[1];
  const v1Path = ownLines.find((f) => (f[1] ?? "").split(",").includes("cpu"))?.[2];
  if (v1Mount && v1Path !== undefined) return join(v1Mount, v1Path);
  // v2: the line `0::<path>`; its folder must offer `cpu` to the groups below it.
  const v2Mount = mountLines.find((f) => f[2] === "cgroup2")?.[1];
  const v2Path = ownLines.find((f) => f[0] === "0" && f[1] === "")?.[2];
  if (!v2Mount || v2Path === undefined) return undefined;
  const dir = join(v2Mount, v2Path);
  try {
    return readFileSync(join(dir, "cgroup.subtree_control"), "utf8").split(/\s+/).includes("cpu")
      ? dir
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The path the run's hosts' CPU group will have (to write in the marker before it exists); undefined
 * when this machine has no CPU controller to use, or the setting is `off`.
 */
export function plannedHostsCpuGroup(
  runId: string,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  if (env[CPU_GROUP_SETTING] === "off") return undefined;
  const parent = ownCpuCgroupDir();
  return parent === undefined ? undefined : join(parent, hostsCpuGroupName(runId));
}

/** Creates the group; false (and the run goes on without one) when the controller refuses it. */
export function createCpuGroup(path: string): boolean {
  try {
    mkdirSync(path);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EEXIST";
  }
}

/**
 * Moves a process (all its threads) into the group; what it starts from then on is in it too. A process
 * that already exited, or a group the tear-down already removed, is no error. Called right after the spawn: a child the process forks before that
 * write stays outside the group (only its CPU share differs).
 */
export function joinCpuGroup(path: string | undefined, pid: number | undefined): void {
  if (path === undefined || pid === undefined) return;
  try {
    writeFileSync(join(path, "cgroup.procs"), `${pid}\n`);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "ESRCH" && code !== "ENOENT") throw e;
  }
}

/** The processes in the group (none once it is gone). */
export function cpuGroupMembers(path: string): number[] {
  try {
    return readFileSync(join(path, "cgroup.procs"), "utf8")
      .split("\n")
      .filter((l) => /^\d+$/.test(l))
      .map(Number);
  } catch {
    return [];
  }
}

/** A group this code would have created for run `runId`: an absolute path named `lz<runid>-hosts` in a cgroup file system. */
export function isHostsCpuGroupOf(runId: string, path: unknown): path is string {
  return (
    typeof path === "string" &&
    isAbsolute(path) &&
    path.startsWith("/sys/fs/cgroup/") &&
    !path.split("/").includes("..") &&
    basename(path) === hostsCpuGroupName(runId)
  );
}

/**
 * Removes the group, synchronously: kills what is still in it (SIGKILL, by the pids its own
 * `cgroup.procs` lists) until it is empty, then removes it. True when it is gone.
 */
export function removeCpuGroup(path: string, sleepSync: (seconds: number) => void): boolean {
  // Everything in the group is killed: never a group this code did not name (the marker check is the
  // first guard; this one holds for every caller). A cgroup's root lists every process of the machine.
  if (!HOSTS_CPU_GROUP_NAME.test(basename(path))) throw new Error(`not a local hosts' CPU group: ${path}`);
  for (let i = 0; i < 100 && existsSync(path); i++) {
    for (const pid of cpuGroupMembers(path)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone meanwhile
      }
    }
    try {
      rmdirSync(path);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return true;
      if (code !== "EBUSY") return false;
      sleepSync(0.05); // its last processes are still exiting
    }
  }
  return !existsSync(path);
}
