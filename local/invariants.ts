/**
 * The invariants the control plane promises, checked against the local cloud as it is: the records in
 * DynamoDB and every running hypervisor (asked directly with virsh, not through the control plane).
 * Used by the tests after every failure they make happen, and by the chaos run after each round.
 *
 *  1. one copy: an instance is defined on no running host but the one its record names; the one its
 *     record names (if running) has it, unless the instance is in ERROR with a fault. An instance whose
 *     fault is TargetNotClean may also be defined on the host the fault names (the documented state).
 *     "Fencing required" (fault FencingRequired, `fencingRequired` set) is the other documented state: no
 *     task, not ERROR, the record still names the host that holds the disk, and no copy anywhere else.
 *  2. no leaked claim: a host's usage is the sum of its claims; a claim of an instance on a host other
 *     than its record's is allowed only on the unclean host its fault names, on a host it was
 *     evacuated away from that is not running (the returning host's recovery releases it), or on the
 *     source of its cold migration waiting in VERIFY_RESIZE (nova's reservation for a revert).
 *  3. bindings on the instance's host: ports bound and volume attachments live there and nowhere else.
 *  3b. nothing left behind: a deleted instance, and a build that failed and was undone, has no domain, no
 *     instance folder (root disk) on any running host, no claim, no port, no live volume attachment.
 *  4. forced down means proven: a host is forced down exactly while its proof of death is recorded.
 *  5. quiet means done: no task held, every migration terminal (or a cold migration waiting for its
 *     confirm or revert), no host incident left open, no execution
 *     still running (only checked
 *     with `quiet: true`; executions only when `executions` is given).
 * Each violation is one line `<kind>: <what>`, kind one of INVARIANT_KINDS (`violationKind` reads it back),
 * so a chaos run can count lost instances and double runs apart from the rest.
 */

import { existsSync } from "node:fs";
import { join } from "node:path";
import { holdsNothing, type Instance } from "#shared/domain/schemas.js";
import { isMigrationInFlight } from "#shared/domain/states.js";
import type { Stores } from "#shared/store/index.js";
import type { LocalHost } from "./hosts/local-host.js";

export interface InvariantOptions {
  /** The system is quiet (no flow running): no task may be held, every migration must be terminal. */
  quiet?: boolean;
  /** With `quiet`: the executions still running, of every machine (`executionArn (machine)` each). */
  executions?: () => string[] | Promise<string[]>;
}

export const INVARIANT_KINDS = [
  /** A record names an up host that does not have the instance (and it is not in ERROR). */
  "lost",
  /** Defined (or running) on a host other than the one its record names. */
  "double",
  "claim",
  "usage",
  "binding",
  "fault",
  "task",
  "migration",
  "execution",
  /** A host incident left open (confirming/evacuating) once nothing runs. */
  "incident",
  /** Something of a deleted instance, or of a build that failed, is still there: domain, disk, claim, binding. */
  "leftover",
  "host",
] as const;
export type InvariantKind = (typeof INVARIANT_KINDS)[number];

/** The kind of a violation line returned by checkInvariants. */
export function violationKind(violation: string): InvariantKind {
  const kind = violation.slice(0, violation.indexOf(":"));
  return (INVARIANT_KINDS as readonly string[]).includes(kind) ? (kind as InvariantKind) : "host";
}

/**
 * No disk is used by two running domains, whatever their names (a copy started by hand included): every
 * running domain's disks (`virsh domblklist --details`, files only) across every running host. The hosts
 * are asked one after the other, so a disk seen used on two of them is looked at again on all but the last
 * host that reported it: a live migration's switch-over between two looks (the guest left the first host,
 * then ran on the second) is not two running copies; a copy still running on the earlier host is.
 */
export async function disksOpenedTwice(hosts: readonly LocalHost[]): Promise<string[]> {
  const users = new Map<string, { dom: string; host: LocalHost }[]>();
  for (const h of hosts) {
    for (const [dom, disks] of await runningDisks(h)) {
      for (const source of disks) users.set(source, [...(users.get(source) ?? []), { dom, host: h }]);
    }
  }
  const out: string[] = [];
  for (const [disk, seen] of users) {
    if (seen.length < 2) continue;
    const still: typeof seen = [];
    for (const [i, u] of seen.entries()) {
      if (i === seen.length - 1 || (await runningDisks(u.host)).get(u.dom)?.includes(disk)) still.push(u);
    }
    if (still.length > 1)
      out.push(
        `disk ${disk} is used by ${still.length} running domains: ${still.map((u) => `${u.dom} on ${u.host.name}`).join(", ")}`,
      );
  }
  return out;
}

/** The running domains of a host, each with the files it uses as disks. */
async function runningDisks(h: LocalHost): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  const list = await h.virsh(["list", "--state-running", "--name"], { allowFail: true });
  if (list.exitCode !== 0) return out;
  for (const dom of list.stdout
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean)) {
    const blk = await h.virsh(["domblklist", dom, "--details"], { allowFail: true });
    if (blk.exitCode !== 0) continue; // stopped between the two looks
    const disks: string[] = [];
    for (const line of blk.stdout.split("\n")) {
      const [type, device, , source] = line.trim().split(/\s+/);
      if (type !== "file" || device !== "disk" || !source || source === "-") continue;
      disks.push(source);
    }
    out.set(dom, disks);
  }
  return out;
}

/** What an instance that must hold nothing is called in a violation (shared/domain/schemas.ts `holdsNothing`). */
function goneWhat(i: Instance): "deleted instance" | "failed build" | null {
  if (!holdsNothing(i)) return null;
  return i.vmState === "deleted" ? "deleted instance" : "failed build";
}

export async function checkInvariants(
  stores: Stores,
  hosts: ReadonlyMap<string, LocalHost>,
  opts: InvariantOptions = {},
): Promise<string[]> {
  const violations: string[] = [];
  const violation = (kind: InvariantKind, what: string) => violations.push(`${kind}: ${what}`);
  const running = [...hosts.values()].filter((h) => h.running);
  const defined = new Map<string, Set<string>>();
  for (const h of running) {
    const r = await h.virsh(["list", "--all", "--uuid"], { allowFail: true });
    if (r.exitCode !== 0) {
      violation("host", `cannot list domains on ${h.name}: ${r.stderr.trim()}`);
      continue;
    }
    for (const uuid of r.stdout
      .split("\n")
      .map((l) => l.trim().toLowerCase())
      .filter(Boolean)) {
      if (!defined.has(uuid)) defined.set(uuid, new Set());
      defined.get(uuid)!.add(h.name);
    }
  }
  for (const v of await disksOpenedTwice(running)) violation("double", v);
  const isRunning = (name: string) => hosts.get(name)?.running === true;
  const instances = await stores.instances.list();
  const byUuid = new Map(instances.map((i) => [i.uuid, i]));
  const ports = await stores.ports.list();
  const volumes = await stores.volumes.list();
  for (const i of instances) {
    // Nothing of a deleted instance or an undone build: no domain, no folder, no port, no attachment
    // (its claims are checked with the hosts below).
    const gone = goneWhat(i);
    if (gone) {
      const what = gone;
      for (const h of defined.get(i.uuid) ?? [])
        violation("leftover", `${what} ${i.name} is defined on ${h}`);
      for (const h of running) {
        if (existsSync(join(h.storage.instancesPath, i.uuid)))
          violation("leftover", `${what} ${i.name} left its folder (root disk) on ${h.name}`);
      }
      for (const p of ports.filter((p) => p.instanceUuid === i.uuid))
        violation("leftover", `${what} ${i.name} still holds port ${p.id}`);
      for (const v of volumes) {
        if (v.attachments.some((a) => a.status === "attached" && a.instanceUuid === i.uuid))
          violation("leftover", `${what} ${i.name} is still attached to volume ${v.id}`);
      }
      continue;
    }
    const where = defined.get(i.uuid) ?? new Set<string>();
    const unclean = i.fault?.error === "TargetNotClean" ? String(i.fault.details.uncleanHost ?? "") : null;
    const extra = [...where].filter((h) => h !== i.host && h !== unclean);
    if (extra.length)
      violation(
        "double",
        `instance ${i.name} (${i.uuid}) is defined on ${extra.join(", ")}, its record names ${i.host}`,
      );
    if (isRunning(i.host) && !where.has(i.host) && !(i.vmState === "error" && i.fault)) {
      violation(
        "lost",
        `instance ${i.name} is lost: its record names ${i.host}, which is up and does not have it`,
      );
    }
    if (i.vmState === "error" && !i.fault)
      violation("fault", `instance ${i.name} is in ERROR without a fault`);
    if (i.fencingRequired) {
      if (i.fault?.error !== "FencingRequired")
        violation("fault", `instance ${i.name} is "fencing required" without its FencingRequired fault`);
      if (i.fencingRequired.host !== i.host)
        violation(
          "fault",
          `instance ${i.name} is "fencing required" for ${i.fencingRequired.host}, but its record names ${i.host}`,
        );
    }
    for (const portId of i.ports) {
      const port = await stores.ports.get(portId);
      if (port && port.bindingHost !== i.host)
        violation("binding", `port ${portId} of ${i.name} is bound to ${port.bindingHost}, not ${i.host}`);
    }
    for (const bdm of i.volumes) {
      const volume = await stores.volumes.get(bdm.volumeId);
      const live = volume?.attachments.filter((a) => a.status === "attached") ?? [];
      const off = live.filter((a) => a.host !== i.host || a.instanceUuid !== i.uuid);
      if (off.length)
        violation(
          "binding",
          `volume ${bdm.volumeId} of ${i.name} is attached on ${off.map((a) => a.host).join(", ")}`,
        );
      if (!live.some((a) => a.host === i.host))
        violation("binding", `volume ${bdm.volumeId} of ${i.name} has no attachment on ${i.host}`);
    }
    if (opts.quiet && i.taskState !== null)
      violation("task", `instance ${i.name} still holds task ${i.taskState}`);
  }
  for (const h of await stores.hosts.list()) {
    if (h.forcedDown !== (h.deathProof !== null))
      violation(
        "host",
        `host ${h.name} is ${h.forcedDown ? "" : "not "}forced down ${h.deathProof ? `with proof ${h.deathProof.kind}` : "without a proof of death"}`,
      );
    if (opts.quiet && (h.incident?.status === "confirming" || h.incident?.status === "evacuating"))
      violation("incident", `host ${h.name} incident ${h.incident.id} is still ${h.incident.status}`);
    const sum = { vcpus: 0, memoryMiB: 0, diskGiB: 0 };
    for (const c of Object.values(h.claims)) {
      sum.vcpus += c.resources.vcpus;
      sum.memoryMiB += c.resources.memoryMiB;
      sum.diskGiB += c.resources.diskGiB;
      const owner = byUuid.get(c.instanceUuid);
      if (!owner) {
        // A boot between its claim and its record (ScheduleBoot) holds a claim of no record yet.
        if (!opts.quiet) continue;
        violation("claim", `host ${h.name} holds a claim of unknown instance ${c.instanceUuid}`);
        continue;
      }
      const gone = goneWhat(owner);
      if (gone) {
        violation("leftover", `host ${h.name} still holds a claim of ${gone} ${owner.name}`);
        continue;
      }
      if (owner.host === h.name) continue;
      const unclean = owner.fault?.error === "TargetNotClean" && owner.fault.details.uncleanHost === h.name;
      const staleOnDeadHost = !isRunning(h.name);
      const inFlight = !opts.quiet && owner.taskState !== null;
      const resizeReservation =
        owner.vmState === "resized" &&
        (await stores.migrations.listByInstance(owner.uuid)).some(
          (m) => m.type === "migration" && m.status === "finished" && m.sourceHost === h.name,
        );
      if (!unclean && !staleOnDeadHost && !inFlight && !resizeReservation) {
        violation(
          "claim",
          `host ${h.name} holds a leaked claim of ${owner.name} (its record names ${owner.host})`,
        );
      }
    }
    if (JSON.stringify(sum) !== JSON.stringify(h.usage)) {
      violation(
        "usage",
        `host ${h.name} usage ${JSON.stringify(h.usage)} is not the sum of its claims ${JSON.stringify(sum)}`,
      );
    }
  }
  if (opts.quiet && opts.executions) {
    for (const e of await opts.executions()) violation("execution", `execution ${e} is still running`);
  }
  if (opts.quiet) {
    for (const i of instances) {
      for (const m of await stores.migrations.listByInstance(i.uuid)) {
        if (isMigrationInFlight(m.status))
          violation("migration", `migration ${m.id} of ${i.name} is still ${m.status}`);
      }
    }
  }
  return violations;
}
