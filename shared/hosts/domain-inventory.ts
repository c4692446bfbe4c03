/**
 * The host reads of adoption and sync: one domain's definition and state, the backing chains of its
 * disks, every domain's state at once; and the one change adoption makes (autostart off).
 * Builders return host commands (ssm-documents/); parsers throw InvalidInput on output they do not know.
 */
import { AUTOSTART_UUIDS_PER_COMMAND, DISABLE_AUTOSTART } from "#ssm-documents/disable-autostart.js";
import { LIST_DOMAIN_STATES } from "#ssm-documents/list-domain-states.js";
import { DISK_CHAIN_PATHS_MAX_CHARS, READ_DISK_CHAINS } from "#ssm-documents/read-disk-chains.js";
import { READ_DOMAIN } from "#ssm-documents/read-domain.js";
import { InvalidInput } from "../domain/errors.js";
import type { PowerState } from "../domain/states.js";
import { AbsolutePath } from "../domain/values.js";
import { type HostCommand, hostCommand } from "./host-command.js";
import { parseQemuImgBackingChain, type QemuImgInfo } from "./qemu-img.js";
import { parseSections, SSM_STDOUT_LIMIT } from "./script-sections.js";
import { validated } from "./validate.js";
import { domainUuid } from "./virsh.js";
import { type DomInfo, parseDomInfo, parseListUuids, powerStateOf } from "./virsh-parsers.js";

export { parseListUuids };

/** dominfo (state, autostart, persistence) and the persistent definition (`dumpxml --inactive`). */
export function readDomain(uuid: string): HostCommand {
  return hostCommand(READ_DOMAIN, { uuid: domainUuid(uuid) });
}

export interface DomainRead {
  info: DomInfo;
  xml: string;
}

export function parseDomainRead(stdout: string): DomainRead {
  const s = parseSections(stdout);
  if (s.dominfo === undefined || s.xml === undefined) {
    throw new InvalidInput("domain read: dominfo or xml section missing", { sections: Object.keys(s) });
  }
  return { info: parseDomInfo(s.dominfo), xml: s.xml };
}

/**
 * For each path, its backing chain (`qemu-img info --backing-chain`), or `null` when the file does not
 * exist. Sections are compressed: a long chain's JSON must not be cut by SSM's output limit.
 */
export function readDiskChains(paths: readonly string[]): HostCommand {
  if (paths.length === 0) throw new InvalidInput("readDiskChains: no path given");
  const list = paths.map((p, i) => validated(AbsolutePath, `paths.${i}`, p)).join(" ");
  if (list.length > DISK_CHAIN_PATHS_MAX_CHARS) {
    throw new InvalidInput(`readDiskChains: ${paths.length} paths are more than one command reads`, {
      length: list.length,
    });
  }
  return hostCommand(READ_DISK_CHAINS, { paths: list });
}

export function parseDiskChains(stdout: string, count: number): (QemuImgInfo[] | null)[] {
  const s = parseSections(stdout);
  return Array.from({ length: count }, (_, i) => {
    const text = s[`disk-${i}`];
    if (text === undefined) throw new InvalidInput(`disk chains: section disk-${i} missing`);
    return text.trim() === "null" ? null : parseQemuImgBackingChain(text);
  });
}

/**
 * Every defined domain with its state, one `UUID<TAB>STATE` line each. A domain undefined between the
 * list and its domstate prints `absent` (and is then not there).
 */
export function listDomainStates(): HostCommand {
  return hostCommand(LIST_DOMAIN_STATES, {});
}

/** uuid (lower case) -> power state, for the domains defined on the host. */
export function parseDomainStates(stdout: string): Map<string, PowerState> {
  if (stdout.length >= SSM_STDOUT_LIMIT) {
    throw new InvalidInput("domain states: output reached SSM's 24,000-character limit and may be cut");
  }
  const out = new Map<string, PowerState>();
  for (const line of stdout.split("\n")) {
    if (line.trim() === "") continue;
    const m = /^([0-9a-fA-F-]{36})\t(.+)$/.exec(line);
    if (!m) throw new InvalidInput(`domain states: line ${JSON.stringify(line)} not understood`);
    if (m[2] === "absent") continue;
    out.set(m[1]!.toLowerCase(), powerStateOf(m[2]!));
  }
  return out;
}

/** Autostart off for each domain (idempotent: already off is fine), a hundred domains per command. */
export function disableAutostart(uuids: readonly string[]): HostCommand[] {
  const all = uuids.map(domainUuid);
  const commands: HostCommand[] = [];
  for (let i = 0; i < all.length; i += AUTOSTART_UUIDS_PER_COMMAND) {
    commands.push(
      hostCommand(DISABLE_AUTOSTART, { uuids: all.slice(i, i + AUTOSTART_UUIDS_PER_COMMAND).join(" ") }),
    );
  }
  return commands;
}
