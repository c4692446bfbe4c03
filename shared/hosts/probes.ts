/**
 * Probes that answer a question about a host in one command: the target probe (is the domain, the disk,
 * the image there: `key=present|absent` lines) and the domain-state probe (what state is the domain in).
 * When virsh or the file system cannot answer, the script exits non-zero and the caller gets ProbeFailed,
 * never "absent" (a libvirtd that is down must not read as "the domain is not here", nor a permission
 * error as "the disk is not here").
 */
import { z } from "zod";
import { ProbeFailed } from "../domain/errors.js";
import type { PowerState } from "../domain/states.js";
import { AbsolutePath } from "../domain/values.js";
import type { HostExecutor, HostTarget, RunOptions, RunResult } from "./executor.js";
import { shellQuote, shellScript } from "./shell.js";
import { domainStateOrAbsent, domainUuid } from "./virsh.js";
import { powerStateOf } from "./virsh-parsers.js";

const Presence = z.enum(["present", "absent"]);
export type Presence = z.infer<typeof Presence>;

/** `<key>=present|absent` for a path; a failing stat other than "no such file" stops the probe. */
function pathPresence(key: string, path: string): string {
  const q = shellQuote(AbsolutePath.parse(path));
  return [
    `if lz_out="$(stat -c %F -- ${q} 2>&1)"; then echo ${key}=present;`,
    `elif [[ "$lz_out" == *"No such file or directory"* ]]; then echo ${key}=absent;`,
    `else echo "cannot tell whether ${key} exists: $lz_out" >&2; exit 2; fi`,
  ].join(" ");
}

/** `domain=present|absent` for a domain uuid; virsh failing stops the probe. */
function domainPresence(uuid: string): string {
  const q = shellQuote(domainUuid(uuid));
  return [
    `lz_uuids="$(virsh list --all --uuid)" || { echo "virsh list failed: cannot tell whether the domain exists" >&2; exit 2; }`,
    `if printf '%s\\n' "$lz_uuids" | grep -xiF -- ${q} >/dev/null; then echo domain=present; else echo domain=absent; fi`,
  ].join("\n");
}

export interface TargetProbe {
  /** The instance's domain uuid. */
  domain?: string;
  /** The instance's root disk path. */
  disk?: string;
  /** The base image path in the image cache. */
  image?: string;
}

/** One script answering every question asked: whether the domain, the disk and the image are there. */
export function targetProbeScript(q: TargetProbe): string {
  const lines: string[] = [];
  if (q.domain) lines.push(domainPresence(q.domain));
  if (q.disk) lines.push(pathPresence("disk", q.disk));
  if (q.image) lines.push(pathPresence("image", q.image));
  return shellScript(lines);
}

/** The answers of a target probe that exited 0; ProbeFailed if the script failed or an answer is missing. */
export function parseTargetProbe<K extends keyof TargetProbe>(
  host: string,
  asked: K[],
  result: RunResult,
): Record<K, Presence> {
  if (result.exitCode !== 0) {
    throw new ProbeFailed(`probe on ${host} failed (exit ${result.exitCode}): ${result.stderr.trim()}`, {
      host,
      exitCode: result.exitCode,
      stderr: result.stderr,
    });
  }
  const answers: Record<string, Presence> = {};
  for (const line of result.stdout.split("\n")) {
    const m = /^(domain|disk|image)=(present|absent)$/.exec(line.trim());
    if (m) answers[m[1]!] = Presence.parse(m[2]);
  }
  const missing = asked.filter((k) => answers[k] === undefined);
  if (missing.length) {
    throw new ProbeFailed(`probe on ${host} gave no answer for ${missing.join(", ")}`, {
      host,
      stdout: result.stdout,
    });
  }
  return answers as Record<K, Presence>;
}

/** What a host says of a domain: its power state (virsh's, mapped as nova maps it), or not defined there. */
export type DomainState = PowerState | "absent";

/** The domain-state probe: prints `absent`, or the domain's `virsh domstate`; exits 2 when virsh cannot answer. */
export function domainStateProbeScript(uuid: string): string {
  return shellScript([domainStateOrAbsent(uuid)]);
}

/**
 * The answer of a domain-state probe. ProbeFailed when the script failed (virsh could not answer);
 * InvalidInput when the state is not one virsh prints.
 */
export function parseDomainStateProbe(host: string, result: RunResult): DomainState {
  if (result.exitCode !== 0) {
    throw new ProbeFailed(`virsh could not answer on ${host}: ${result.stderr.trim()}`, {
      host,
      exitCode: result.exitCode,
      stderr: result.stderr,
    });
  }
  const out = result.stdout.trim();
  return out === "absent" ? "absent" : powerStateOf(out);
}

/**
 * Asks `host` what state the domain `uuid` is in (one SSM probe, 30 s on the host). Throws what the
 * executor throws when the host does not answer (HostUnreachable, HostCommandTimedOut) and what
 * parseDomainStateProbe throws; each caller decides what a missing answer means for it.
 */
export async function probeDomainState(
  executor: HostExecutor,
  host: HostTarget,
  uuid: string,
  options: Pick<RunOptions, "comment" | "deadlineMs">,
): Promise<DomainState> {
  const result = await executor.probe(host, domainStateProbeScript(uuid), {
    ...options,
    executionTimeoutSeconds: 30,
  });
  return parseDomainStateProbe(host.name, result);
}
