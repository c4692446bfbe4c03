/**
 * Bash fragments the documents share: idempotent virsh operations on the domain whose uuid is in a shell
 * variable (never a value written into the script), each in its own `( ... )` subshell so its variables
 * never leak. The exit codes are the control plane's vocabulary (shared/hosts/virsh.ts).
 */
import { DISK_LOCK_REFUSAL_PATTERN } from "#shared/domain/fencing.js";
import { EXIT_DOMAIN_ABSENT, EXIT_UNEXPECTED_STATE, EXIT_VIRSH_FAILED } from "#shared/hosts/exit-codes.js";

/** `"$name"`: a shell variable, quoted. */
export const v = (name: string) => `"$${name}"`;

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

const subshell = (lines: string[]) => ["(", ...lines, ")"];

/**
 * Prints `absent` when the domain is not defined, else its `virsh domstate`; EXIT_VIRSH_FAILED when virsh
 * could not answer (never read as absent or stopped).
 */
export function domainStateOrAbsent(uuidVar = "uuid"): string[] {
  const q = v(uuidVar);
  return subshell([
    ...definedCheck(q),
    `  if [ "$lz_defined" = no ]; then echo absent; exit 0; fi`,
    stateRead(q),
    `  printf '%s\\n' "$lz_state"`,
  ]);
}

/** Prints `domain=present|absent`; virsh failing stops the script (exit 2: cannot tell). */
export function domainPresence(uuidVar = "uuid"): string[] {
  const q = v(uuidVar);
  return [
    `lz_uuids="$(virsh list --all --uuid)" || { echo "virsh list failed: cannot tell whether the domain exists" >&2; exit 2; }`,
    `if printf '%s\\n' "$lz_uuids" | grep -xiF -- ${q} >/dev/null; then echo domain=present; else echo domain=absent; fi`,
  ];
}

/** Prints `<key>=present|absent` for the path in `pathVar`; a failing stat other than "no such file" stops it. */
export function pathPresence(key: string, pathVar: string): string[] {
  const q = v(pathVar);
  return [
    `if lz_out="$(stat -c %F -- ${q} 2>&1)"; then echo ${key}=present;`,
    `elif [[ "$lz_out" == *"No such file or directory"* ]]; then echo ${key}=absent;`,
    `else echo "cannot tell whether ${key} exists: $lz_out" >&2; exit 2; fi`,
  ];
}

/**
 * Start the domain unless it already runs. running/idle/blocked: nothing; shut off/crashed: start; paused:
 * resume; pmsuspended: dompmwakeup. EXIT_DOMAIN_ABSENT if it is not defined, EXIT_UNEXPECTED_STATE for
 * `in shutdown` / `no state` (retry later).
 */
export function ensureStarted(uuidVar = "uuid"): string[] {
  const q = v(uuidVar);
  return subshell([
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
 * Start a domain that was just defined: `virsh start` straight away (one virsh call where ensureStarted
 * makes three: on a busy host each is a process and a libvirt connection), and only when that fails,
 * ensureStarted's reading of its state. A start refused for good fails as ensureStarted does, with both
 * attempts' stderr, and with qemu's own reason when it was a disk lock: libvirt may answer "qemu
 * unexpectedly closed the monitor" before virtlogd has written qemu's lock message to the domain's log
 * (seen on a loaded host), so the lines the domain's log (`nameVar`: the domain's name) gained since the
 * start are read for up to 3 s and a lock refusal among them is added to stderr: the caller tells a copy
 * running elsewhere from a failed spawn. The log is libvirt's system daemon's or a session daemon's (the
 * local cloud's hosts); no virsh call is spent finding it.
 */
export function startDefined(uuidVar: string, nameVar: string): string[] {
  const q = v(uuidVar);
  return [
    `lz_qlogs=("/var/log/libvirt/qemu/$${nameVar}.log" "\${XDG_CACHE_HOME:-\${HOME:-/root}/.cache}/libvirt/qemu/log/$${nameVar}.log")`,
    "lz_qfrom=()",
    'for lz_f in "${lz_qlogs[@]}"; do lz_qfrom+=("$(( $(stat -c %s -- "$lz_f" 2>/dev/null || echo 0) + 1 ))"); done',
    `if ! virsh start ${q} >/dev/null; then`,
    "  lz_rc=0",
    ...withStatus(ensureStarted(uuidVar)).map((l) => `  ${l}`),
    '  if [ "$lz_rc" != 0 ]; then',
    // The disk-lock words (shared/domain/fencing.ts), single-quoted: the pattern has no single quote.
    "    for lz_try in 1 2 3 4 5 6 7 8 9 10; do",
    "      lz_seen=no",
    "      for lz_i in 0 1; do",
    `        if tail -c "+\${lz_qfrom[$lz_i]}" -- "\${lz_qlogs[$lz_i]}" 2>/dev/null | grep -iE '${DISK_LOCK_REFUSAL_PATTERN}' >&2; then lz_seen=yes; fi`,
    "      done",
    '      [ "$lz_seen" = no ] || break',
    "      sleep 0.3",
    "    done",
    '    exit "$lz_rc"',
    "  fi",
    "fi",
  ];
}

/** A subshell's lines with its exit status kept in `lz_rc` instead of stopping the script (set -e). */
function withStatus(lines: string[]): string[] {
  return [...lines.slice(0, -1), `${lines.at(-1)} || lz_rc=$?`];
}

/**
 * Power the domain off now: destroy unless it is absent or already shut off (both succeed). A domain that
 * stopped between the state check and destroy also counts as success.
 */
export function ensureDestroyed(uuidVar = "uuid"): string[] {
  const q = v(uuidVar);
  return subshell([
    ...definedCheck(q),
    `  if [ "$lz_defined" = no ]; then exit 0; fi`,
    stateRead(q),
    `  if [ "$lz_state" != "shut off" ]; then`,
    `    virsh destroy ${q} || { lz_after="$(virsh domstate ${q} 2>/dev/null)" || lz_after=absent; case "$lz_after" in "shut off"|absent) ;; *) exit 1 ;; esac; }`,
    `  fi`,
  ]);
}

/**
 * Remove the domain's definition (and any managed-save image or snapshot metadata that would make plain
 * undefine fail), keeping its storage; succeed if it is not defined. Refuses (EXIT_UNEXPECTED_STATE) while
 * the domain is not shut off: undefining a running domain would leave it running as a transient domain.
 */
export function ensureUndefined(uuidVar = "uuid"): string[] {
  const q = v(uuidVar);
  return subshell([
    ...definedCheck(q),
    `  if [ "$lz_defined" = no ]; then exit 0; fi`,
    stateRead(q),
    `  if [ "$lz_state" != "shut off" ]; then echo "domain "${q}" is '$lz_state', not shut off: not undefining it" >&2; exit ${EXIT_UNEXPECTED_STATE}; fi`,
    `  virsh undefine ${q} --managed-save --snapshots-metadata || { lz_uuids="$(virsh list --all --uuid)" && ! printf '%s\\n' "$lz_uuids" | grep -xiF -- ${q} >/dev/null; }`,
  ]);
}

/**
 * Clean power off: if not yet shut off, `virsh shutdown` (ACPI), poll `domstate` once a second for up to
 * the seconds in `timeoutVar`, then `virsh destroy` if still not off. Succeeds if already shut off, if the
 * domain vanished meanwhile, and if it is not defined at all (an absent domain is powered off, as nova's
 * power_off of a domain-less instance). 0 seconds = destroy at once.
 */
export function powerOffClean(uuidVar = "uuid", timeoutVar = "shutdownTimeoutSeconds"): string[] {
  const q = v(uuidVar);
  return subshell([
    ...definedCheck(q),
    `  if [ "$lz_defined" = no ]; then exit 0; fi`,
    stateRead(q),
    `  if [ "$lz_state" = "shut off" ]; then exit 0; fi`,
    `  virsh shutdown ${q} || true`,
    `  for ((lz_i = 0; lz_i < ${timeoutVar}; lz_i++)); do`,
    `    lz_state="$(virsh domstate ${q} 2>/dev/null)" || lz_state=absent`,
    `    case "$lz_state" in "shut off"|absent) exit 0 ;; esac`,
    `    sleep 1`,
    `  done`,
    `  virsh destroy ${q} || { lz_after="$(virsh domstate ${q} 2>/dev/null)" || lz_after=absent; case "$lz_after" in "shut off"|absent) ;; *) exit 1 ;; esac; }`,
  ]);
}
