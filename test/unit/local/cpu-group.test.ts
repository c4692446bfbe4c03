/**
 * The simulated hosts' CPU cgroup (local/hosts/cpu-group.ts) on this machine's real cgroup file system: a
 * process joined is in it with what it starts later, the run's tear-down (removeRunLeftovers) kills what is
 * left in it by the pids it lists and removes it, and a marker naming a cgroup that is not its run's is
 * refused before anything is touched.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  CPU_GROUP_SETTING,
  cpuGroupMembers,
  createCpuGroup,
  hostsCpuGroupName,
  joinCpuGroup,
  plannedHostsCpuGroup,
  removeCpuGroup,
} from "#local/hosts/cpu-group.js";
import { newRunMarker, removeRunLeftovers } from "#local/hosts/run-marker.js";
import { procStatFields, STAT } from "#local/proc-stat.js";

const sleepSync = (s: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, s * 1000);
const children: ChildProcess[] = [];
const groups: string[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill("SIGKILL");
  for (const g of groups.splice(0)) removeCpuGroup(g, sleepSync);
});

/** The cpu cgroup a process is in, as /proc/<pid>/cgroup says (v1's `cpu` line, else v2's). */
function cpuCgroupOf(pid: number): string {
  const lines = readFileSync(`/proc/${pid}/cgroup`, "utf8").split("\n");
  const line =
    lines.find((l) => (l.split(":")[1] ?? "").split(",").includes("cpu")) ??
    lines.find((l) => l.startsWith("0::"));
  return line?.split(":")[2] ?? "";
}

const exited = (c: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) resolve();
    else c.on("exit", () => resolve());
  });

const runId = () =>
  Math.floor(Math.random() * 0xffffff)
    .toString(16)
    .padStart(6, "0");
const planned = plannedHostsCpuGroup("000000");

describe("the hosts' CPU group", () => {
  it.skipIf(planned === undefined)(
    "is named after the run under this process's own CPU cgroup, or not planned when set off",
    () => {
      const id = runId();
      const path = plannedHostsCpuGroup(id)!;
      expect(path.startsWith("/sys/fs/cgroup/")).toBe(true);
      expect(path.endsWith(`/${hostsCpuGroupName(id)}`)).toBe(true);
      expect(path.endsWith(`${cpuCgroupOf(process.pid).replace(/\/$/, "")}/lz${id}-hosts`)).toBe(true);
      expect(plannedHostsCpuGroup(id, { [CPU_GROUP_SETTING]: "off" })).toBeUndefined();
    },
  );

  it.skipIf(planned === undefined)(
    "holds a joined process and what it starts later; the run's tear-down kills them by the group's pids and removes it",
    async () => {
      const id = runId();
      const path = plannedHostsCpuGroup(id)!;
      groups.push(path);
      expect(createCpuGroup(path)).toBe(true);
      // A process that starts another one only after it joined (as libvirtd starts qemu, the agent a script).
      const parent = spawn("sh", ["-c", "read _; sleep 300 & echo $!; wait"], {
        stdio: ["pipe", "pipe", "ignore"],
      });
      children.push(parent);
      joinCpuGroup(path, parent.pid);
      const childPid = new Promise<number>((resolve) =>
        parent.stdout!.setEncoding("utf8").once("data", (d: string) => resolve(Number(d.trim()))),
      );
      parent.stdin!.write("go\n");
      const later = await childPid;
      const name = path.slice(path.indexOf(hostsCpuGroupName(id)));
      expect(cpuCgroupOf(parent.pid!)).toMatch(new RegExp(`/${name}$`));
      expect(cpuCgroupOf(later)).toMatch(new RegExp(`/${name}$`));
      expect(cpuGroupMembers(path).sort()).toEqual([parent.pid!, later].sort());

      // The run's marker names the group (and a folder); its tear-down has no user to kill by uid here, so
      // what the group holds is found only through the group.
      const dir = mkdtempSync("/tmp/lz-");
      const marker = {
        ...newRunMarker({ runId: id, group: `lz${id}`, users: [], dirs: [dir] }),
        cpuGroups: [path],
      };
      expect(removeRunLeftovers(marker)).toEqual([]);
      await exited(parent);
      expect(parent.signalCode).toBe("SIGKILL");
      // Gone, or a zombie nobody reaps (its parent was killed too): either way no longer running.
      expect([undefined, "Z"]).toContain(procStatFields(later)?.[STAT.state]);
      expect(existsSync(path)).toBe(false);
      expect(existsSync(dir)).toBe(false);
    },
  );

  it.skipIf(planned === undefined)(
    "a process that exited before it joined, or a group already removed, is no error",
    async () => {
      const path = plannedHostsCpuGroup(runId())!;
      groups.push(path);
      createCpuGroup(path);
      const gone = spawn("true");
      await exited(gone);
      expect(() => joinCpuGroup(path, gone.pid)).not.toThrow();
      expect(removeCpuGroup(path, sleepSync)).toBe(true);
      expect(() => joinCpuGroup(path, process.pid)).not.toThrow();
      expect(cpuCgroupOf(process.pid)).not.toContain("-hosts");
    },
  );

  it("removing kills nothing in a folder not named as a run's hosts' group", async () => {
    // A plain folder with a cgroup.procs file listing a process of this test's: were it taken for a
    // group, that process would be killed.
    const dir = mkdtempSync("/tmp/lz-test-");
    const bystander = spawn("sleep", ["300"]);
    children.push(bystander);
    writeFileSync(join(dir, "cgroup.procs"), `${bystander.pid}\n`);
    try {
      expect(() => removeCpuGroup(dir, sleepSync)).toThrow(/not a local hosts' CPU group/);
      expect(procStatFields(bystander.pid!)?.[STAT.state]).not.toBe("Z");
      expect(bystander.exitCode === null && bystander.signalCode === null).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a marker naming a cgroup that is not its run's hosts' group is refused before anything is removed", () => {
    const id = "abcdef";
    const dir = mkdtempSync("/tmp/lz-");
    try {
      const base = newRunMarker({ runId: id, group: `lz${id}`, users: [], dirs: [dir] });
      for (const cpuGroup of [
        "/sys/fs/cgroup/cpu", // the controller's root
        "/sys/fs/cgroup/cpu/lzfedcba-hosts", // another run's
        `/sys/fs/cgroup/cpu/../lz${id}-hosts`,
        `sys/fs/cgroup/cpu/lz${id}-hosts`,
        `/tmp/lz${id}-hosts`,
      ]) {
        expect(() => removeRunLeftovers({ ...base, cpuGroups: [cpuGroup] }), cpuGroup).toThrow(
          /not a local cloud run marker/,
        );
        expect(existsSync(dir)).toBe(true);
      }
    } finally {
      removeRunLeftovers(newRunMarker({ runId: id, group: `lz${id}`, users: [], dirs: [dir] }));
    }
  });
});
