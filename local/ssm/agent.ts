/**
 * The local stand-in for amazon-ssm-agent: one process per host. It long-polls the local SSM
 * endpoint for commands of its managed-instance id and runs each (concurrently) as the real agent's
 * runShellScript plugin does: the script written to `<orchestration>/<command id>/_script.sh` and run with
 * `sh -c <that file>` (so a document's `#!/bin/bash` line chooses its shell), with the command's
 * environment (its ENV_VAR parameters, `SSM_<name>`) added; it enforces executionTimeout by killing the
 * script's process group, reports the results, and removes the command's folder.
 *
 * Usage: node --import tsx local/ssm/agent.ts --endpoint URL --instance-id mi-... [--uid N --gid N]
 *
 * Started as root with --uid/--gid, it drops to the host's user before doing anything else
 * (local/hosts/drop-privileges.ts). It is started as root (not with spawn's uid/gid) so that it needs no
 * access to the repo or to the Node binary as the host user: once loaded it only uses Node built-ins.
 * Scripts inherit its environment (HOME, XDG_*, LIBVIRT_DEFAULT_URI=qemu:///session), so `virsh` in a
 * script talks to this host's own libvirtd. Only node: imports here and in drop-privileges.ts, on purpose.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { exitWithUsage, parseArgsAsHostUser } from "../hosts/drop-privileges.js";

const values = parseArgsAsHostUser(["endpoint", "instance-id"]);
const endpoint = values.endpoint;
const instanceId = values["instance-id"];
if (!endpoint || !instanceId) exitWithUsage("agent.ts --endpoint URL --instance-id ID");
// Group-writable files: hosts of one cloud share a group and folders (shared storage, volumes).
process.umask(0o002);

const STDOUT_KEEP = 48_000; // the endpoint keeps 24,000; keep some slack for multi-byte text
const log = (msg: string) => console.error(`${new Date().toISOString()} agent ${instanceId}: ${msg}`);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const running = new Map<string, ChildProcess>();
const cancelled = new Set<string>();
let stopping = false;

async function post(path: string, body: unknown, timeoutMs: number): Promise<unknown> {
  const res = await fetch(`${endpoint}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${text.slice(0, 200)}`);
  return JSON.parse(text);
}

function killGroup(child: ChildProcess) {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    // already gone
  }
}

interface Work {
  commandId: string;
  script: string;
  environment?: Record<string, string>;
  executionTimeoutSeconds: number;
}

/** Where the agent writes each command's script (the real agent: its orchestration folder). */
const orchestration = join(process.env.HOME || "/tmp", "ssm-orchestration");

function runCommand(work: Work) {
  if (running.has(work.commandId)) return;
  if (!/^[0-9a-f-]{36}$/.test(work.commandId)) {
    void sendResult({
      instanceId,
      commandId: work.commandId,
      exitCode: 1,
      stdout: "",
      stderr: "bad command id",
    });
    return;
  }
  const folder = join(orchestration, work.commandId);
  const scriptPath = join(folder, "_script.sh");
  mkdirSync(folder, { recursive: true, mode: 0o700 });
  writeFileSync(scriptPath, work.script, { mode: 0o700 });
  chmodSync(scriptPath, 0o700);
  // detached: the script gets its own process group, so a timeout kills everything it started.
  const child = spawn("sh", ["-c", scriptPath], {
    cwd: process.env.HOME || "/",
    env: { ...process.env, ...(work.environment ?? {}) },
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.set(work.commandId, child);
  let stdout = "";
  let stderr = "";
  child.stdout?.setEncoding("utf8").on("data", (d: string) => {
    if (stdout.length < STDOUT_KEEP) stdout += d;
  });
  child.stderr?.setEncoding("utf8").on("data", (d: string) => {
    if (stderr.length < STDOUT_KEEP) stderr += d;
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child);
  }, work.executionTimeoutSeconds * 1000);
  let reported = false;
  const report = (exitCode: number, extraErr = "") => {
    if (reported) return;
    reported = true;
    clearTimeout(timer);
    running.delete(work.commandId);
    rmSync(folder, { recursive: true, force: true });
    const wasCancelled = cancelled.delete(work.commandId);
    void sendResult({
      instanceId,
      commandId: work.commandId,
      exitCode,
      stdout: stdout.slice(0, STDOUT_KEEP),
      stderr: (stderr + extraErr).slice(0, STDOUT_KEEP),
      timedOut,
      cancelled: wasCancelled,
    });
  };
  child.on("error", (e) => report(127, `agent: cannot run bash: ${e.message}\n`));
  // "close" (not "exit"): wait for the pipes to drain so no output is lost.
  child.on("close", (code, signal) => {
    if (timedOut) report(124, "\nfailed to run commands: exit status 124 (execution timed out)\n");
    else report(code ?? (signal ? 128 + (signalNumber(signal) ?? 9) : -1));
  });
}

function signalNumber(sig: NodeJS.Signals): number | undefined {
  return ({ SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 } as Record<string, number>)[sig];
}

async function sendResult(body: Record<string, unknown>) {
  // Retry for a while: the endpoint may be restarting; after that the endpoint times the command out.
  for (let attempt = 0; attempt < 30 && !stopping; attempt++) {
    try {
      await post("/agent/result", body, 5000);
      return;
    } catch (e) {
      log(`result of ${String(body.commandId)} not delivered (${(e as Error).message}); retrying`);
      await sleep(Math.min(2000, 100 * 2 ** attempt));
    }
  }
}

async function pollLoop() {
  let backoff = 100;
  while (!stopping) {
    try {
      const out = (await post("/agent/poll", { instanceId }, 10_000)) as {
        commands?: Work[];
        cancel?: string[];
      };
      backoff = 100;
      for (const id of out.cancel ?? []) {
        const child = running.get(id);
        if (child) {
          cancelled.add(id);
          killGroup(child);
        }
      }
      for (const w of out.commands ?? []) runCommand(w);
    } catch (e) {
      log(`poll failed: ${(e as Error).message}`);
      await sleep(backoff);
      backoff = Math.min(1000, backoff * 2);
    }
  }
}

// If the process that started us dies without tearing the host down, take the host down with us:
// as a non-root user, kill(-1) signals exactly this user's processes (libvirtd, qemu, scripts).
const parent = process.ppid;
const watchdog = setInterval(() => {
  if (process.ppid !== parent) {
    stopping = true;
    log("parent exited; stopping this host's processes");
    if (process.getuid?.() !== 0) {
      try {
        process.kill(-1, "SIGKILL");
      } catch {
        // nothing left to kill
      }
    }
    process.exit(1);
  }
}, 1000);
watchdog.unref();

const shutdown = () => {
  stopping = true;
  for (const child of running.values()) killGroup(child);
  process.exit(0);
};
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);

log(`started as uid ${process.getuid?.()}, polling ${endpoint}`);
await pollLoop();
