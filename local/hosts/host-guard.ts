/**
 * The host's watchdog (self-fencing, as Proxmox's watchdog-mux): a process of the host apart from its agent
 * and from the heartbeat publisher. The publisher feeds it (touches the feed file) only after a heartbeat
 * was accepted by CloudWatch. Not fed for the lease, it powers off every running domain of the host
 * (`virsh destroy`: no clean shutdown, the host may be cut off) and goes on doing so while it stays unfed,
 * so nothing of this host runs once the control plane counts the lease as expired (lease + margin after
 * the last heartbeat it saw, shared/domain/fencing.ts). Fed again, it stops destroying; it never starts
 * anything (a returning host's stale copies are removed by host-recovery).
 *
 * Usage: node --import tsx local/hosts/host-guard.ts --host NAME --feed PATH --lease-ms N [--uid N --gid N]
 * Started as root with --uid/--gid, it drops to the host's user once its modules are loaded (drop-privileges.ts).
 */
import { execFile } from "node:child_process";
import { statSync } from "node:fs";
import { exitWithUsage, parseArgsAsHostUser } from "./drop-privileges.js";

const values = parseArgsAsHostUser(["host", "feed", "lease-ms"]);
const { host, feed } = values;
const leaseMs = Number(values["lease-ms"] ?? 0);
if (!host || !feed || !(leaseMs > 0)) exitWithUsage("host-guard.ts --host NAME --feed PATH --lease-ms N");

const log = (msg: string) => console.error(`${new Date().toISOString()} host-guard ${host}: ${msg}`);

function virsh(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      "/usr/bin/virsh",
      ["-q", "-c", "qemu:///session", ...args],
      { timeout: 10_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const started = Date.now();
/** The last feed: the feed file's mtime; before the first feed, the guard's own start (a full lease). */
function lastFed(): number {
  try {
    return Math.max(statSync(feed!).mtimeMs, started);
  } catch {
    return started;
  }
}

async function selfFence(unfedMs: number): Promise<void> {
  const list = await virsh(["list", "--name", "--state-running"]);
  if (list.code !== 0) {
    log(`cannot list domains: ${list.stderr.trim()}`);
    return;
  }
  for (const name of list.stdout
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean)) {
    const r = await virsh(["destroy", name]);
    log(
      `not fed for ${Math.round(unfedMs)} ms (lease ${leaseMs} ms): destroyed ${name}${r.code ? ` (failed: ${r.stderr.trim()})` : ""}`,
    );
  }
}

// Exit with the process that started us (as the agent does): nothing outlives the local cloud.
const parent = process.ppid;
let fenced = false;
for (;;) {
  if (process.ppid !== parent) process.exit(1);
  const unfed = Date.now() - lastFed();
  if (unfed > leaseMs) {
    if (!fenced) log(`lease expired: not fed for ${Math.round(unfed)} ms; powering off the host's domains`);
    fenced = true;
    await selfFence(unfed);
  } else if (fenced) {
    fenced = false;
    log("fed again: no longer fencing");
  }
  await new Promise((r) => setTimeout(r, Math.min(250, leaseMs / 4)));
}
