/**
 * Which boot of the host this is, and whether the host was reset since the agent last ran: the kernel's boot
 * id (a new random one at every boot) and the boot's time (`btime` of /proc/stat), against the last boot the
 * guest monitor saw, kept in the agent's persistent state folder (/var/lib/lazarus-host, which outlives a
 * reboot as /run does not). A new boot means the host was reset (its watchdog, a power cycle, a crash):
 * every guest it ran is gone, and nothing restarts by itself (domains have autostart off). The monitor then
 * reports every domain it finds shut off (monitor.ts), and remembers the boot once every report was taken.
 * The first run ever only remembers the boot: what ran before the agent was installed is not known.
 */
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { HostConfig } from "#shared/definitions/host-config.js";

export interface Boot {
  /** The kernel's boot id. */
  id: string;
  /** When the host booted (ISO), from the kernel's btime. */
  at: string;
}

/** This boot, as the kernel says it. Throws when the files cannot be read or say nothing usable. */
export function currentBoot(files: HostConfig["boot"]): Boot {
  const id = readFileSync(files.idFile, "utf8").trim();
  const btime = /^btime (\d+)$/m.exec(readFileSync(files.statFile, "utf8"))?.[1];
  if (!/^[0-9a-f-]{8,64}$/i.test(id) || btime === undefined)
    throw new Error(`no boot id in ${files.idFile} or no btime in ${files.statFile}`);
  return { id: id.toLowerCase(), at: new Date(Number(btime) * 1000).toISOString() };
}

const BOOT_FILE = "boot.json";

/** The boot the monitor last saw (null: none yet, or the file is unreadable). */
export function lastSeenBoot(persistentDir: string): Boot | null {
  try {
    const v = JSON.parse(readFileSync(join(persistentDir, BOOT_FILE), "utf8")) as Partial<Boot>;
    return typeof v.id === "string" && typeof v.at === "string" ? { id: v.id, at: v.at } : null;
  } catch {
    return null;
  }
}

/** Remembers `boot` as seen (replaced whole: a reader never sees half of it). */
export function rememberBoot(persistentDir: string, boot: Boot): void {
  mkdirSync(persistentDir, { recursive: true, mode: 0o755 });
  const file = join(persistentDir, BOOT_FILE);
  writeFileSync(`${file}.tmp`, `${JSON.stringify(boot)}\n`, { mode: 0o644 });
  renameSync(`${file}.tmp`, file);
}

/** The host was reset since `seen` (a boot was seen before, and this is another). */
export function isNewBoot(seen: Boot | null, current: Boot): boolean {
  return seen !== null && seen.id !== current.id;
}

/** A domain libvirt has defined but not running. */
export interface ShutOffDomain {
  uuid: string;
  name: string;
}

/** `virsh list --inactive --uuid --name` output: one `<uuid> <name>` a line. */
export function parseShutOffDomains(stdout: string): ShutOffDomain[] {
  const out: ShutOffDomain[] = [];
  for (const line of stdout.split("\n")) {
    const m = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\s+(\S.*)$/i.exec(line.trim());
    if (m) out.push({ uuid: m[1]!.toLowerCase(), name: m[2]!.trim() });
  }
  return out;
}

/** The domains defined on the host and not running (argv, no shell). */
export function shutOffDomains(uri: string, env: NodeJS.ProcessEnv): Promise<ShutOffDomain[]> {
  return new Promise((resolve, reject) => {
    execFile(
      "virsh",
      ["-c", uri, "list", "--inactive", "--uuid", "--name"],
      { env, timeout: 30_000 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`virsh list --inactive failed: ${String(stderr).trim() || err.message}`));
        else resolve(parseShutOffDomains(String(stdout)));
      },
    );
  });
}
