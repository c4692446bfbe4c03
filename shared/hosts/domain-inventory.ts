/**
 * The host reads of adoption and sync: one domain's definition and state, the backing chains of its
 * disks, every domain's state at once; and the one change adoption makes (autostart off).
 * Builders return whole scripts for an executor; parsers throw InvalidInput on output they do not know.
 */
import { InvalidInput } from "../domain/errors.js";
import type { PowerState } from "../domain/states.js";
import { infoBackingChain, parseQemuImgBackingChain, type QemuImgInfo } from "./qemu-img.js";
import { parseSections, SSM_STDOUT_LIMIT, sectionLines } from "./script-sections.js";
import { shellQuote, shellScript } from "./shell.js";
import { disableAutostart, domainUuid, domInfo, dumpXml, listAllUuids } from "./virsh.js";
import { type DomInfo, parseDomInfo, parseListUuids, powerStateOf } from "./virsh-parsers.js";

/** `virsh list --all --uuid` as a whole script -> parseListUuids. */
export function listDomainsScript(): string {
  return shellScript([listAllUuids()]);
}

export { parseListUuids };

/** dominfo (state, autostart, persistence) and the persistent definition (`dumpxml --inactive`). */
export function readDomainScript(uuid: string): string {
  return shellScript(
    sectionLines([
      { name: "dominfo", lines: [domInfo(uuid)] },
      { name: "xml", lines: [dumpXml(uuid, { inactive: true })], compressed: true },
    ]),
  );
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
export function diskChainsScript(paths: readonly string[]): string {
  return shellScript(
    sectionLines(
      paths.map((p, i) => {
        const q = shellQuote(p);
        return {
          name: `disk-${i}`,
          lines: [`if [ -e ${q} ]; then ${infoBackingChain(p)}; else echo null; fi`],
          compressed: true,
        };
      }),
    ),
  );
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
export function domainStatesScript(): string {
  return shellScript([
    `${listAllUuids()} | while read -r lz_u; do`,
    `  [ -n "$lz_u" ] || continue`,
    `  lz_s="$(virsh domstate "$lz_u" 2>/dev/null)" || lz_s=absent`,
    `  printf '%s\\t%s\\n' "$lz_u" "$lz_s"`,
    "done",
  ]);
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

/** Autostart off for each domain (idempotent: already off is fine). */
export function disableAutostartScript(uuids: readonly string[]): string {
  return shellScript(uuids.map((u) => disableAutostart(domainUuid(u))));
}
