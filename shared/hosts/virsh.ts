/**
 * virsh command builders. Domains are addressed by instance uuid (lower-cased, as virsh prints it).
 * No `-c URI`: virsh uses the host's default libvirt URI (root: qemu:///system; local hosts set
 * LIBVIRT_DEFAULT_URI). Every value is validated with its schema and quoted.
 *
 * The `ensure*` / `powerOffClean` / `domainExists` snippets are idempotent multi-line bash fragments,
 * each in its own `( ... )` subshell so their variables never leak; put them in a `shellScript`.
 */
import { z } from "zod";
import { AbsolutePath, DiskDevice, Uuid } from "../domain/values.js";
import { shellQuote } from "./shell.js";
import { validated } from "./validate.js";

export { fileExists } from "./shell.js";

/** Exit code of a snippet when virsh itself failed (libvirt unreachable, unexpected output). */
export const EXIT_VIRSH_FAILED = 2;
/** Exit code of a snippet when the domain is in a state the snippet refuses to act on. */
export const EXIT_UNEXPECTED_STATE = 3;
/** Exit code of `ensureStarted` / `powerOffClean` when the domain is not defined on the host. */
export const EXIT_DOMAIN_ABSENT = 4;

export const DiskFormat = z.enum(["qcow2", "raw"]);
export type DiskFormat = z.infer<typeof DiskFormat>;

function domainArg(domain: string): string {
  return shellQuote(domainUuid(domain));
}

function virsh(...words: string[]): string {
  return ["virsh", ...words].join(" ");
}

/** `virsh domstate UUID` -> parseDomState. */
export function domState(domain: string): string {
  return virsh("domstate", domainArg(domain));
}

/** `virsh dominfo UUID` -> parseDomInfo. */
export function domInfo(domain: string): string {
  return virsh("dominfo", domainArg(domain));
}

/** `virsh list --all --uuid` (active and inactive domains) -> parseListUuids. */
export function listAllUuids(): string {
  return virsh("list", "--all", "--uuid");
}

/** `virsh domblklist UUID --details` -> parseDomBlkList. */
export function domBlkList(domain: string): string {
  return virsh("domblklist", domainArg(domain), "--details");
}

/** `virsh domiflist UUID` -> parseDomIfList. */
export function domIfList(domain: string): string {
  return virsh("domiflist", domainArg(domain));
}

/** `virsh dumpxml UUID [--inactive]`. */
export function dumpXml(domain: string, options: { inactive?: boolean } = {}): string {
  return virsh("dumpxml", domainArg(domain), ...(options.inactive ? ["--inactive"] : []));
}

/** `virsh define XMLPATH` (the XML file is on the host, e.g. written by writeFileCommand). */
export function define(xmlPath: string): string {
  return virsh("define", shellQuote(validated(AbsolutePath, "xmlPath", xmlPath)));
}

/**
 * `virsh autostart --disable UUID`: libvirt must never start a Lazarus domain by itself (a returning host
 * would otherwise boot stale copies of evacuated instances before the control plane removes them).
 */
export function autostartOff(domain: string): string {
  return virsh("autostart", "--disable", domainArg(domain));
}

/** `virsh start UUID` (fails if already running; see ensureStarted). */
export function start(domain: string): string {
  return virsh("start", domainArg(domain));
}

/** `virsh shutdown UUID`: asks the guest (ACPI) to power off; returns before it has. */
export function shutdown(domain: string): string {
  return virsh("shutdown", domainArg(domain));
}

/** `virsh destroy UUID`: immediate power off (the domain stays defined). */
export function destroy(domain: string): string {
  return virsh("destroy", domainArg(domain));
}

/**
 * `virsh undefine UUID --managed-save --snapshots-metadata`: removes the persistent definition and
 * any managed-save image / snapshot metadata that would make plain undefine fail. Storage is kept
 * (no --remove-all-storage); no --nvram, as these domains boot SeaBIOS without NVRAM.
 */
export function undefine(domain: string): string {
  return virsh("undefine", domainArg(domain), "--managed-save", "--snapshots-metadata");
}

/**
 * `virsh autostart --disable UUID`: libvirt will not start the domain when its daemon starts. Lazarus
 * turns it off on every domain it defines or adopts: a host that comes back after its instances were
 * evacuated must not start stale copies by itself.
 */
export function disableAutostart(domain: string): string {
  return virsh("autostart", "--disable", domainArg(domain));
}

/** Which definitions a hot(un)plug changes; both false = virsh's `--current`. */
export interface LiveConfig {
  live: boolean;
  config: boolean;
}

function liveConfigFlags(opts: LiveConfig, fn: string): string[] {
  const live = validated(z.boolean(), `${fn}.live`, opts.live);
  const config = validated(z.boolean(), `${fn}.config`, opts.config);
  const flags = [...(live ? ["--live"] : []), ...(config ? ["--config"] : [])];
  return flags.length > 0 ? flags : ["--current"];
}

export interface AttachDiskOptions extends LiveConfig {
  /** Absolute path of the file on the host. */
  source: string;
  /** Guest device, e.g. vdb. */
  target: string;
  /** Image format; omitted = libvirt's default (raw). */
  format?: DiskFormat;
}

/** `virsh attach-disk UUID SOURCE TARGET [--driver qemu --subdriver FMT] [--live] [--config]`. */
export function attachDisk(domain: string, opts: AttachDiskOptions): string {
  const dom = domainArg(domain);
  const source = validated(AbsolutePath, "attachDisk.source", opts.source);
  const target = validated(DiskDevice, "attachDisk.target", opts.target);
  const format =
    opts.format === undefined
      ? []
      : ["--driver", "qemu", "--subdriver", validated(DiskFormat, "attachDisk.format", opts.format)];
  return virsh(
    "attach-disk",
    dom,
    shellQuote(source),
    shellQuote(target),
    ...format.map(shellQuote),
    ...liveConfigFlags(opts, "attachDisk"),
  );
}

export interface DetachDiskOptions extends LiveConfig {
  target: string;
}

/**
 * `virsh detach-disk UUID TARGET [--live] [--config]`. A live detach waits for the guest to
 * acknowledge (a guest without an OS never does): prefer `--config` on a stopped domain.
 */
export function detachDisk(domain: string, opts: DetachDiskOptions): string {
  const dom = domainArg(domain);
  const target = validated(DiskDevice, "detachDisk.target", opts.target);
  return virsh("detach-disk", dom, shellQuote(target), ...liveConfigFlags(opts, "detachDisk"));
}

// ---- composite, idempotent snippets ------------------------------------------------------------

/** Sets `lz_defined` to yes/no from `virsh list --all --uuid`; exits EXIT_VIRSH_FAILED if virsh fails. */
function definedCheck(q: string): string[] {
  return [
    `  lz_uuids="$(virsh list --all --uuid)" || { echo "virsh list failed" >&2; exit ${EXIT_VIRSH_FAILED}; }`,
    `  if printf '%s\\n' "$lz_uuids" | grep -xiF -- ${q} >/dev/null; then lz_defined=yes; else lz_defined=no; fi`,
  ];
}

/** Sets `lz_state` from `virsh domstate`; exits EXIT_VIRSH_FAILED if virsh fails. */
function stateRead(q: string): string {
  return `  lz_state="$(virsh domstate ${q})" || { echo "virsh domstate failed" >&2; exit ${EXIT_VIRSH_FAILED}; }`;
}

function snippet(lines: string[]): string {
  return ["(", ...lines, ")"].join("\n");
}

/**
 * Probe: exit 0 if the domain is defined (active or inactive), 1 if not, EXIT_VIRSH_FAILED (2) if
 * virsh could not list domains (so "absent" is never confused with "libvirt is down").
 */
export function domainExists(uuid: string): string {
  const q = domainArg(uuid);
  return snippet([...definedCheck(q), `  [ "$lz_defined" = yes ]`]);
}

/**
 * Probe: prints `absent` when the domain is not defined, else its `virsh domstate`; EXIT_VIRSH_FAILED (2)
 * when virsh could not answer (never read as absent or stopped).
 */
export function domainStateOrAbsent(uuid: string): string {
  const q = domainArg(uuid);
  return snippet([
    ...definedCheck(q),
    `  if [ "$lz_defined" = no ]; then echo absent; exit 0; fi`,
    stateRead(q),
    `  printf '%s\n' "$lz_state"`,
  ]);
}

/**
 * Start a domain that was just defined: `virsh start` straight away (one virsh call, where ensureStarted
 * makes three: on a busy host each is a process and a libvirt connection), and only when that fails,
 * ensureStarted's reading of its state (already running, paused, ...). A start refused for good fails as
 * ensureStarted does, with both attempts' stderr (a disk-lock refusal stays recognisable).
 */
export function startDefined(uuid: string): string {
  const q = domainArg(uuid);
  return [`if ! virsh start ${q} >/dev/null; then`, ensureStarted(uuid), "fi"].join("\n");
}

/**
 * Start the domain unless it already runs. running/idle/blocked: nothing; shut off/crashed: start;
 * paused: resume; pmsuspended: dompmwakeup. Fails with EXIT_DOMAIN_ABSENT if it is not defined and
 * EXIT_UNEXPECTED_STATE for `in shutdown` / `no state` (retry later).
 */
export function ensureStarted(uuid: string): string {
  const q = domainArg(uuid);
  return snippet([
    ...definedCheck(q),
    `  if [ "$lz_defined" = no ]; then echo "domain "${q}" is not defined" >&2; exit ${EXIT_DOMAIN_ABSENT}; fi`,
    stateRead(q),
    `  case "$lz_state" in`,
    `    running|idle|blocked) ;;`,
    `    "shut off"|crashed) virsh start ${q} || { [ "$(virsh domstate ${q})" = running ] || exit 1; } ;;`,
    `    paused) virsh resume ${q} ;;`,
    `    pmsuspended) virsh dompmwakeup ${q} ;;`,
    `    *) echo "domain "${q}" is in state '$lz_state', not starting it" >&2; exit ${EXIT_UNEXPECTED_STATE} ;;`,
    `  esac`,
  ]);
}

/**
 * Power the domain off now: destroy unless it is absent or already shut off (both succeed).
 * A domain that stopped between the state check and destroy also counts as success.
 */
export function ensureDestroyed(uuid: string): string {
  const q = domainArg(uuid);
  return snippet([
    ...definedCheck(q),
    `  if [ "$lz_defined" = no ]; then exit 0; fi`,
    stateRead(q),
    `  if [ "$lz_state" != "shut off" ]; then`,
    `    virsh destroy ${q} || { lz_after="$(virsh domstate ${q} 2>/dev/null)" || lz_after=absent; case "$lz_after" in "shut off"|absent) ;; *) exit 1 ;; esac; }`,
    `  fi`,
  ]);
}

/**
 * Remove the domain's definition, keeping its storage; succeed if it is not defined.
 * Refuses (EXIT_UNEXPECTED_STATE) while the domain is not shut off: undefining a running domain
 * would leave it running as a transient domain. Use ensureDestroyed first (or ensureRemoved).
 */
export function ensureUndefined(uuid: string): string {
  const q = domainArg(uuid);
  return snippet([
    ...definedCheck(q),
    `  if [ "$lz_defined" = no ]; then exit 0; fi`,
    stateRead(q),
    `  if [ "$lz_state" != "shut off" ]; then echo "domain "${q}" is '$lz_state', not shut off: not undefining it" >&2; exit ${EXIT_UNEXPECTED_STATE}; fi`,
    `  ${undefine(uuid)} || { lz_uuids="$(virsh list --all --uuid)" && ! printf '%s\\n' "$lz_uuids" | grep -xiF -- ${q} >/dev/null; }`,
  ]);
}

/** ensureDestroyed then ensureUndefined: afterwards the domain is not defined on the host. */
export function ensureRemoved(uuid: string): string {
  return [ensureDestroyed(uuid), ensureUndefined(uuid)].join("\n");
}

/**
 * Clean power off: if not yet shut off, `virsh shutdown` (ACPI), poll `domstate` once a second for
 * up to `timeoutSeconds`, then `virsh destroy` if still not off. Succeeds if already shut off, or
 * if the domain vanished meanwhile (a transient domain), and if it is not defined at all: an absent domain
 * is powered off (nova's power_off of a domain-less instance succeeds, so a rebuild of it can go on).
 * `timeoutSeconds` 0 = destroy at once.
 */
export function powerOffClean(uuid: string, timeoutSeconds: number): string {
  const q = domainArg(uuid);
  const timeout = validated(z.number().int().min(0).max(86_400), "timeoutSeconds", timeoutSeconds);
  return snippet([
    ...definedCheck(q),
    `  if [ "$lz_defined" = no ]; then exit 0; fi`,
    stateRead(q),
    `  if [ "$lz_state" = "shut off" ]; then exit 0; fi`,
    `  virsh shutdown ${q} || true`,
    `  for ((lz_i = 0; lz_i < ${timeout}; lz_i++)); do`,
    `    lz_state="$(virsh domstate ${q} 2>/dev/null)" || lz_state=absent`,
    `    case "$lz_state" in "shut off"|absent) exit 0 ;; esac`,
    `    sleep 1`,
    `  done`,
    `  virsh destroy ${q} || { lz_after="$(virsh domstate ${q} 2>/dev/null)" || lz_after=absent; case "$lz_after" in "shut off"|absent) ;; *) exit 1 ;; esac; }`,
  ]);
}

/** Throws unless `value` is a domain uuid; returns it lower-cased (as virsh prints uuids). */
export function domainUuid(value: string): string {
  return validated(Uuid, "domain", value).toLowerCase();
}
