/**
 * `npm run local -- up` keeps its promise: Ctrl-C (SIGINT to the whole process group, as a terminal
 * sends it), `kill PID` (SIGTERM to npm alone) and an error remove every host process (the hosts' simulated
 * BMCs too), user, group, folder and the hosts' CPU cgroup; a start removes what a run killed with SIGKILL left. Real hosts (users,
 * libvirtd, agents), a real CLI in a child process.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { cpuGroupMembers, plannedHostsCpuGroup } from "#local/hosts/cpu-group.js";
import { bmcUserName, startFleet } from "#local/hosts/fleet.js";
import { processesOfUid } from "#local/hosts/local-host.js";
import { type RunMarker, removeDeadRuns } from "#local/hosts/run-marker.js";
import { procStatFields, STAT } from "#local/proc-stat.js";
import { PROJECT_ROOT } from "#shared/definitions/state-machines.js";

const PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
let stateDir: string;
const started: ChildProcess[] = [];

beforeAll(() => {
  stateDir = mkdtempSync("/tmp/lz-test-state-");
});
afterEach(() => {
  // Whatever a failed test left running: its process group, then what its marker names.
  for (const c of started.splice(0)) killGroup(c, "SIGKILL");
});
afterAll(() => {
  removeDeadRuns(stateDir);
  rmSync(stateDir, { recursive: true, force: true });
});

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // the group is gone
  }
}

/**
 * `npm run local -- up --hosts 1` in its own process group, as a terminal runs it. (The script runs
 * `node --import tsx`: the `tsx` command's wrapper SIGKILLs a child that is slow to acknowledge a relayed
 * signal, 30 ms, which under CI load cut this tear-down half-way: users gone, group left.)
 */
function startUp() {
  const child = spawn("npm", ["run", "--silent", "local", "--", "up", "--hosts", "1"], {
    cwd: new URL(".", PROJECT_ROOT).pathname,
    env: { ...process.env, LAZARUS_LOCAL_STATE_DIR: stateDir },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  started.push(child);
  let output = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => {
    output += d;
  });
  child.stderr!.setEncoding("utf8").on("data", (d: string) => {
    output += d;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal })),
  );
  // Everything written is read once both pipes end: their last writer (npm, or the cloud's process that
  // outlives it) has exited and its last lines have arrived. Not at npm's exit: the orphaned cloud still writes.
  const ends = (stream: NodeJS.ReadableStream) => new Promise<void>((resolve) => stream.on("end", resolve));
  const outputEnded = Promise.all([ends(child.stdout!), ends(child.stderr!)]);
  const running = async () => {
    const deadline = Date.now() + 180_000;
    while (!output.includes("running; Ctrl-C")) {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`up exited before running:\n${output}`);
      if (Date.now() > deadline) throw new Error(`up did not start:\n${output}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  return { child, exited, running, output: () => output, outputEnded };
}

function markers(): RunMarker[] {
  return readdirSync(stateDir)
    .filter((n) => n.endsWith(".json"))
    .map((n) => JSON.parse(readFileSync(join(stateDir, n), "utf8")) as RunMarker);
}

const runIds = () => new Set(markers().map((m) => m.runId));
// Read from the files useradd/groupdel write (not through NSS), as the tear-down itself does.
const listedIn = (file: string, name: string) =>
  readFileSync(file, "utf8")
    .split("\n")
    .some((l) => l.startsWith(`${name}:`));
const userExists = (u: string) => listedIn("/etc/passwd", u);
const groupExists = (g: string) => listedIn("/etc/group", g);
const uidOf = (u: string) =>
  Number(spawnSync("id", ["-u", u], { encoding: "utf8", env: { PATH } }).stdout.trim());

/** Processes whose process group is `pgid`. */
function groupMembers(pgid: number): number[] {
  const out: number[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    const fields = procStatFields(e); // undefined: exited meanwhile
    if (fields && Number(fields[STAT.pgrp]) === pgid && fields[STAT.state] !== "Z") out.push(Number(e));
  }
  return out;
}

/** npm may end before its child has finished tearing down: wait for the whole group to end. */
async function waitForGroupToEnd(pgid: number): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (groupMembers(pgid).length > 0) {
    if (Date.now() > deadline)
      throw new Error(`process group ${pgid} still has ${groupMembers(pgid).join(", ")}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The host processes of a running cloud (pid and uid), to check later that exactly these are gone. */
function hostProcesses(marker: RunMarker): { pid: number; uid: number }[] {
  return marker.users.flatMap((u) => {
    const uid = uidOf(u);
    return processesOfUid(uid).map((pid) => ({ pid, uid }));
  });
}

function stillAlive(procs: { pid: number; uid: number }[]): number[] {
  return procs.filter(({ pid, uid }) => processesOfUid(uid).includes(pid)).map((p) => p.pid);
}

/**
 * Everything the marker lists is gone. The exit the test observes can come a moment before the last
 * passwd-file command of the clean-up has been seen by a fresh `getent` (nss), so it looks for a few
 * seconds before it asserts; anything still there after that is a leak.
 */
async function expectGone(marker: RunMarker, output = ""): Promise<void> {
  const gone = () =>
    marker.users.every((u) => !userExists(u)) &&
    !groupExists(marker.group) &&
    marker.dirs.every((d) => !existsSync(d)) &&
    (marker.cpuGroups ?? []).every((g) => !existsSync(g)) &&
    !markers().some((m) => m.runId === marker.runId);
  for (let i = 0; i < 50 && !gone(); i++) await new Promise((r) => setTimeout(r, 200));
  for (const u of marker.users) expect(userExists(u), `user ${u}`).toBe(false);
  expect(groupExists(marker.group), `group ${marker.group}; the run said: ${output.slice(-3000)}`).toBe(
    false,
  );
  for (const d of marker.dirs) expect(existsSync(d), `folder ${d}`).toBe(false);
  for (const g of marker.cpuGroups ?? []) expect(existsSync(g), `CPU group ${g}`).toBe(false);
  expect(markers().map((m) => m.runId)).not.toContain(marker.runId);
}

describe("local cloud tear-down", () => {
  it("Ctrl-C (SIGINT to the process group) removes every host process, user, group and folder", async () => {
    const before = runIds();
    const up = startUp();
    await up.running();
    const marker = markers().find((m) => !before.has(m.runId));
    expect(marker).toBeDefined();
    // The host's user, and the user that runs the hosts' simulated BMCs.
    expect(marker!.users).toEqual([`lz${marker!.runId}-host-a`, bmcUserName(marker!.runId)]);
    for (const u of marker!.users) expect(userExists(u)).toBe(true);
    expect(groupExists(marker!.group)).toBe(true);
    const procs = hostProcesses(marker!);
    expect(procs.length).toBeGreaterThanOrEqual(3); // libvirtd and the agent at least, and the BMC (ipmi_sim)
    expect(processesOfUid(uidOf(bmcUserName(marker!.runId))).length).toBe(1);
    // Every process of the host (not the BMC's: a BMC is not the host's CPU) runs in the hosts' CPU group.
    const hostUid = uidOf(marker!.users[0]!);
    if (plannedHostsCpuGroup(marker!.runId) !== undefined) {
      expect(marker!.cpuGroups).toEqual([plannedHostsCpuGroup(marker!.runId)]);
      expect(cpuGroupMembers(marker!.cpuGroups![0]!).sort()).toEqual(
        expect.arrayContaining(processesOfUid(hostUid).sort()),
      );
    }

    killGroup(up.child, "SIGINT");
    const exit = await up.exited;
    await waitForGroupToEnd(up.child.pid!);
    expect(stillAlive(procs)).toEqual([]);
    await expectGone(marker!, `${up.output()}\n(npm ended: ${JSON.stringify(exit)})`);
    // The one who pressed Ctrl-C is told that everything is gone.
    await up.outputEnded;
    expect(up.output()).toContain("SIGINT: the local hosts are removed");
  });

  it("a start removes what a run killed with SIGKILL left; kill PID (SIGTERM to npm alone) removes the new run", async () => {
    const before = runIds();
    const first = startUp();
    await first.running();
    const dead = markers().find((m) => !before.has(m.runId));
    expect(dead).toBeDefined();
    const procs = hostProcesses(dead!);
    killGroup(first.child, "SIGKILL");
    await first.exited;
    // SIGKILL gives no chance to clean: the users, group, folder, CPU group and marker stay behind.
    for (const u of dead!.users) expect(userExists(u)).toBe(true);
    for (const g of dead!.cpuGroups ?? []) expect(existsSync(g)).toBe(true);
    expect(groupExists(dead!.group)).toBe(true);
    for (const d of dead!.dirs) expect(existsSync(d)).toBe(true);
    expect(markers().map((m) => m.runId)).toContain(dead!.runId);

    const second = startUp();
    await second.running();
    expect(second.output()).toContain(`removed what run ${dead!.runId}`);
    await expectGone(dead!);
    expect(stillAlive(procs)).toEqual([]);
    const live = markers().filter((m) => !before.has(m.runId) && m.runId !== dead!.runId);
    expect(live).toHaveLength(1);

    // `kill PID` as a service manager or a script sends it: SIGTERM to npm alone, not to its group. npm
    // ends; the cloud's process, orphaned, must stop the whole cloud by itself.
    process.kill(second.child.pid!, "SIGTERM");
    const exit = await second.exited;
    await waitForGroupToEnd(second.child.pid!);
    await expectGone(live[0]!, `${second.output()}\n(npm ended: ${JSON.stringify(exit)})`);
    await second.outputEnded;
    expect(second.output()).toContain("SIGTERM: the local hosts are removed");
  });

  it("a start that fails half-way removes what it created (a user whose host never came up included)", async () => {
    // qemu-img refuses the image size: the first host fails after its user was created.
    const before = runIds();
    const failing = startFleet({
      hosts: [{ name: "host-a" }, { name: "host-b" }],
      images: [{ name: "broken", virtualSize: "not-a-size" }],
      start: false,
      stateDir,
    });
    // The marker is written before anything is created, synchronously within the call.
    const marker = markers().find((m) => !before.has(m.runId));
    await expect(failing).rejects.toThrow(/qemu-img create/);
    expect(marker).toBeDefined();
    await expectGone(marker!);
  });
});
