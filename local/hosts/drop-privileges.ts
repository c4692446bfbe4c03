/**
 * The prologue of every process of a local host (SSM agent, heartbeat publisher, instance monitor, watchdog):
 * local-host.ts starts them as root with `--uid N --gid N`, and each drops to the host's user and group
 * here, once its modules are loaded (so it needs no access to the repo or the Node binary as that user).
 * Only node: imports here: the agent relies on it.
 */
import { parseArgs } from "node:util";

/**
 * Parses the process's arguments: the string options `names`, plus `--uid`/`--gid`. Started as root with
 * `--uid`, it then becomes that user, with `--gid` (default: the uid) as its only group, before returning.
 */
export function parseArgsAsHostUser<const N extends string>(names: readonly N[]): { [K in N]?: string } {
  const options = Object.fromEntries(
    [...names, "uid", "gid"].map((name) => [name, { type: "string" as const }]),
  );
  // Every option is a string option, so every value is a string (or absent).
  const values = parseArgs({ options }).values as { [K in N | "uid" | "gid"]?: string };
  if (values.uid !== undefined && process.getuid?.() === 0) {
    const gid = Number(values.gid ?? values.uid);
    process.setgroups?.([gid]);
    process.setgid?.(gid);
    process.setuid?.(Number(values.uid));
  }
  return values;
}

/** Prints `usage: <synopsis> [--uid N --gid N]` and exits 2 (arguments the process cannot run with). */
export function exitWithUsage(synopsis: string): never {
  console.error(`usage: ${synopsis} [--uid N --gid N]`);
  process.exit(2);
}
