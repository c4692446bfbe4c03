/**
 * Parsers of virsh output (virsh 9.x, C locale: the scripts export LC_ALL=C). Each parser accepts only
 * the format it knows and throws InvalidInput (with the offending output in `details.output`)
 * on anything else, so a changed or localized format fails loudly instead of being misread.
 */
import { InvalidInput } from "../domain/errors.js";
import type { PowerState } from "../domain/states.js";

function unparseable(what: string, why: string, stdout: string): InvalidInput {
  const output = stdout.length > 500 ? `${stdout.slice(0, 500)}...` : stdout;
  return new InvalidInput(`${what} output not understood: ${why}: ${JSON.stringify(output)}`, {
    parser: what,
    output,
  });
}

/** Non-empty lines, without trailing whitespace and CR. */
function lines(stdout: string): string[] {
  return stdout
    .split("\n")
    .map((l) => l.replace(/\s+$/, ""))
    .filter((l) => l.length > 0);
}

/**
 * virsh state string -> PowerState, as nova's LIBVIRT_POWER_STATE maps virDomainState:
 *
 * | virsh         | virDomainState          | PowerState |
 * |---------------|-------------------------|------------|
 * | no state      | VIR_DOMAIN_NOSTATE      | nostate    |
 * | running       | VIR_DOMAIN_RUNNING      | running    |
 * | idle, blocked | VIR_DOMAIN_BLOCKED      | running    | (vCPU idle; virsh >= 0.9 prints "idle")
 * | paused        | VIR_DOMAIN_PAUSED       | paused     |
 * | in shutdown   | VIR_DOMAIN_SHUTDOWN     | shutdown   | (still running, going down: nova maps it so)
 * | shut off      | VIR_DOMAIN_SHUTOFF      | shutdown   |
 * | crashed       | VIR_DOMAIN_CRASHED      | crashed    |
 * | pmsuspended   | VIR_DOMAIN_PMSUSPENDED  | suspended  |
 */
export const VIRSH_POWER_STATES: Readonly<Record<string, PowerState>> = Object.freeze({
  "no state": "nostate",
  running: "running",
  idle: "running",
  blocked: "running",
  paused: "paused",
  "in shutdown": "shutdown",
  "shut off": "shutdown",
  crashed: "crashed",
  pmsuspended: "suspended",
});

/** Maps one virsh state string (`shut off`, possibly with ` (reason)` from `--reason`) to PowerState. */
export function powerStateOf(virshState: string): PowerState {
  const state = virshState.trim().replace(/ \([a-z -]+\)$/, "");
  const mapped = Object.hasOwn(VIRSH_POWER_STATES, state) ? VIRSH_POWER_STATES[state] : undefined;
  if (mapped === undefined)
    throw unparseable("virsh state", `unknown state ${JSON.stringify(state)}`, virshState);
  return mapped;
}

/** Parses `virsh domstate UUID` (one line, e.g. `shut off`; `--reason` output is accepted too). */
export function parseDomState(stdout: string): PowerState {
  const ls = lines(stdout);
  if (ls.length !== 1) throw unparseable("virsh domstate", `expected one line, got ${ls.length}`, stdout);
  return powerStateOf(ls[0]!);
}

/** Parses `virsh domstate` into the raw virsh state word (reason dropped), e.g. "shut off". */
export function parseDomStateRaw(stdout: string): string {
  const ls = lines(stdout);
  if (ls.length !== 1) throw unparseable("virsh domstate", `expected one line, got ${ls.length}`, stdout);
  const state = ls[0]!.trim().replace(/ \([a-z -]+\)$/, "");
  powerStateOf(state);
  return state;
}

export interface DomInfo {
  /** Every `Key: value` line as printed (values trimmed; may be empty). */
  fields: Record<string, string>;
  /** Running domain id, null when inactive (`Id: -`). */
  id: number | null;
  name: string;
  /** Lower case. */
  uuid: string;
  /** The virsh state string, e.g. "shut off". */
  state: string;
  powerState: PowerState;
  cpus: number;
  maxMemoryKiB: number;
  usedMemoryKiB: number | null;
  persistent: boolean | null;
  autostart: boolean | null;
}

const UUID_TEXT = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** Parses `virsh dominfo UUID`: all fields, plus typed ones. Name, UUID, State, CPU(s), Max memory are required. */
export function parseDomInfo(stdout: string): DomInfo {
  const what = "virsh dominfo";
  const fields: Record<string, string> = {};
  for (const line of lines(stdout)) {
    const m = /^([A-Za-z][A-Za-z0-9 ()/_-]*):(?:\s+(.*))?$/.exec(line);
    if (!m) throw unparseable(what, `line ${JSON.stringify(line)} is not "Key: value"`, stdout);
    fields[m[1]!] = (m[2] ?? "").trim();
  }
  const need = (key: string): string => {
    const v = fields[key];
    if (v === undefined || v === "") throw unparseable(what, `no ${JSON.stringify(key)} field`, stdout);
    return v;
  };
  const kib = (key: string, value: string): number => {
    const m = /^(\d+) KiB$/.exec(value);
    if (!m) throw unparseable(what, `${key} ${JSON.stringify(value)} is not "<n> KiB"`, stdout);
    return Number(m[1]);
  };
  const yesNo = (key: string): boolean | null => {
    const v = fields[key];
    if (v === undefined) return null;
    if (v === "yes" || v === "enable") return true;
    if (v === "no" || v === "disable") return false;
    throw unparseable(what, `${key} ${JSON.stringify(v)} is not yes/no`, stdout);
  };

  const name = need("Name");
  const uuid = need("UUID");
  if (!UUID_TEXT.test(uuid)) throw unparseable(what, `UUID ${JSON.stringify(uuid)} is not a uuid`, stdout);
  const state = need("State");
  const cpusText = need("CPU(s)");
  if (!/^\d+$/.test(cpusText))
    throw unparseable(what, `CPU(s) ${JSON.stringify(cpusText)} is not a number`, stdout);
  const idText = fields.Id ?? "-";
  if (idText !== "-" && !/^\d+$/.test(idText))
    throw unparseable(what, `Id ${JSON.stringify(idText)}`, stdout);
  const used = fields["Used memory"];
  return {
    fields,
    id: idText === "-" ? null : Number(idText),
    name,
    uuid: uuid.toLowerCase(),
    state,
    powerState: powerStateOf(state),
    cpus: Number(cpusText),
    maxMemoryKiB: kib("Max memory", need("Max memory")),
    usedMemoryKiB: used === undefined || used === "" ? null : kib("Used memory", used),
    persistent: yesNo("Persistent"),
    autostart: yesNo("Autostart"),
  };
}

/** Parses `virsh list --all --uuid` (one uuid a line, possibly none) into lower-case uuids. */
export function parseListUuids(stdout: string): string[] {
  return lines(stdout).map((line) => {
    const u = line.trim();
    if (!UUID_TEXT.test(u))
      throw unparseable("virsh list --uuid", `line ${JSON.stringify(line)} is not a uuid`, stdout);
    return u.toLowerCase();
  });
}

/**
 * Splits a virsh table (header, dashes, rows) into rows of whitespace-separated cells, checking the
 * header is exactly `columns`. Cells other than `free` never contain spaces; the `free` column
 * (index) takes whatever is left between its neighbours (e.g. a source path with spaces).
 */
function table(what: string, stdout: string, columns: readonly string[], free: number): string[][] {
  const ls = lines(stdout);
  const header = ls[0]?.trim().split(/\s+/);
  if (!header || header.join(" ") !== columns.join(" ")) {
    throw unparseable(what, `expected the header ${JSON.stringify(columns.join(" "))}`, stdout);
  }
  if (!ls[1] || !/^-+$/.test(ls[1].trim()))
    throw unparseable(what, "expected a line of dashes under the header", stdout);
  const before = free;
  const after = columns.length - free - 1;
  return ls.slice(2).map((line) => {
    const words = line.trim().split(/\s+/);
    if (words.length < columns.length) {
      throw unparseable(what, `row ${JSON.stringify(line)} has fewer than ${columns.length} columns`, stdout);
    }
    if (words.length === columns.length) return words;
    // More words than columns: re-cut the free column out of the original line.
    const head = words.slice(0, before);
    const tail = words.slice(words.length - after);
    let rest = line.trim();
    for (const w of head) rest = rest.slice(w.length).trimStart();
    for (const w of [...tail].reverse()) rest = rest.slice(0, rest.length - w.length).trimEnd();
    return [...head, rest, ...tail];
  });
}

export interface BlockDevice {
  /** file, block, network, volume, ... */
  type: string;
  /** disk, cdrom, floppy, lun. */
  device: string;
  /** Guest device, e.g. vda. */
  target: string;
  /** Host path, or null when virsh prints `-` (e.g. an empty cdrom). */
  source: string | null;
}

/** Parses `virsh domblklist UUID --details`. */
export function parseDomBlkList(stdout: string): BlockDevice[] {
  return table("virsh domblklist --details", stdout, ["Type", "Device", "Target", "Source"], 3).map(
    ([type, device, target, source]) => ({
      type: type!,
      device: device!,
      target: target!,
      source: source === "-" ? null : source!,
    }),
  );
}

export interface NetInterface {
  /** Host-side device (e.g. vnet0, tap...), null when `-` (e.g. a user-mode interface). */
  interface: string | null;
  /** user, bridge, network, ... */
  type: string;
  /** Bridge or network name, null when `-`. */
  source: string | null;
  /** NIC model, null when `-`. */
  model: string | null;
  /** Lower case. */
  mac: string;
}

const MAC_TEXT = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

/** Parses `virsh domiflist UUID`. */
export function parseDomIfList(stdout: string): NetInterface[] {
  const what = "virsh domiflist";
  const dash = (v: string): string | null => (v === "-" ? null : v);
  return table(what, stdout, ["Interface", "Type", "Source", "Model", "MAC"], 2).map(
    ([iface, type, source, model, mac]) => {
      if (!MAC_TEXT.test(mac!))
        throw unparseable(what, `MAC ${JSON.stringify(mac)} is not a MAC address`, stdout);
      return {
        interface: dash(iface!),
        type: type!,
        source: dash(source!),
        model: dash(model!),
        mac: mac!.toLowerCase(),
      };
    },
  );
}
