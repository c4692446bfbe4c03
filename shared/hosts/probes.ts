/**
 * Probes that answer a question about a host in one command: the liveness probe, the target probe (is the
 * domain, the disk, the image there: `key=present|absent` lines) and the domain-state probe (what state is
 * the domain in).
 * When virsh or the file system cannot answer, the script exits non-zero and the caller gets ProbeFailed,
 * never "absent" (a libvirtd that is down must not read as "the domain is not here", nor a permission
 * error as "the disk is not here").
 */

import { z } from "zod";
import { PROBE_DOMAIN_STATE } from "#ssm-documents/probe-domain-state.js";
import { PROBE_LIVENESS } from "#ssm-documents/probe-liveness.js";
import { PROBE_TARGET } from "#ssm-documents/probe-target.js";
import { ProbeFailed } from "../domain/errors.js";
import type { PowerState } from "../domain/states.js";
import { AbsolutePath } from "../domain/values.js";
import type { HostExecutor, HostTarget, RunOptions, RunResult } from "./executor.js";
import { type HostCommand, hostCommand } from "./host-command.js";
import { validated } from "./validate.js";
import { domainUuid } from "./virsh.js";
import { powerStateOf } from "./virsh-parsers.js";

const Presence = z.enum(["present", "absent"]);
export type Presence = z.infer<typeof Presence>;

/** The host-failure flow's liveness probe: any answer at all means the host's agent runs commands. */
export function livenessProbe(): HostCommand {
  return hostCommand(PROBE_LIVENESS, {});
}

export interface TargetProbe {
  /** The instance's domain uuid. */
  domain?: string;
  /** The instance's root disk path. */
  disk?: string;
  /** The base image path in the image cache. */
  image?: string;
}

/** One command answering every question asked: whether the domain, the disk and the image are there. */
export function targetProbe(q: TargetProbe): HostCommand {
  return hostCommand(PROBE_TARGET, {
    ...(q.domain ? { domainUuid: domainUuid(q.domain) } : {}),
    ...(q.disk ? { disk: validated(AbsolutePath, "disk", q.disk) } : {}),
    ...(q.image ? { image: validated(AbsolutePath, "image", q.image) } : {}),
  });
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
export function domainStateProbe(uuid: string): HostCommand {
  return hostCommand(PROBE_DOMAIN_STATE, { uuid: domainUuid(uuid) });
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
  const result = await executor.probe(host, domainStateProbe(uuid), {
    ...options,
    executionTimeoutSeconds: 30,
  });
  return parseDomainStateProbe(host.name, result);
}
