/**
 * Adoption: every libvirt domain of a registered host becomes an instance record (with its ports,
 * volumes and a claim on the host), or is reported with the reasons it cannot be recreated faithfully.
 *
 * The only change made on the host: libvirt autostart is turned off for adopted domains (a host that
 * returns after its instances were evacuated must not start stale copies by itself).
 *
 * Invariant, whatever step fails: no instance record exists without its claim, ports and volumes, and
 * nothing is written for a refused domain. Everything is read and decided first; then, per domain, the
 * claim, autostart off, ports, volumes and last the instance record, the commit point. Ids derive from the
 * domain uuid, so a run that stopped half-way is completed by the next run, and a second run of a
 * finished adoption writes nothing (already-adopted domains are reported as such).
 */
import { z } from "zod";
import { ClaimRefused, errorMessage, HostCommandFailed, InvalidInput } from "#shared/domain/errors.js";
import type { Host } from "#shared/domain/schemas.js";
import { ResourceName } from "#shared/domain/values.js";
import { parseDomainXml } from "#shared/hosts/domain-description.js";
import {
  disableAutostart,
  parseDiskChains,
  parseDomainRead,
  parseListUuids,
  readDiskChains,
  readDomain,
} from "#shared/hosts/domain-inventory.js";
import { hostTarget } from "#shared/hosts/layout.js";
import type { QemuImgInfo } from "#shared/hosts/qemu-img.js";
import { validated } from "#shared/hosts/validate.js";
import { listDomains } from "#shared/hosts/virsh.js";
import { activeAttachment, RecordExists } from "#shared/store/index.js";
import { type AdoptionPlan, planAdoption } from "./adoption-plan.js";
import type { InventoryDeps } from "./deps.js";

export const AdoptHostRequest = z.object({
  host: ResourceName,
  /** Masakari's HA flag for every instance adopted in this run. */
  haEnabled: z.boolean().default(true),
});
export type AdoptHostRequest = z.input<typeof AdoptHostRequest>;

export interface AdoptedDomain {
  uuid: string;
  name: string;
  ports: number;
  volumes: number;
  powerState: string;
  onSharedStorage: boolean;
  /** Autostart was on and adoption turned it off. */
  autostartTurnedOff: boolean;
  notes: string[];
}

export interface RefusedDomain {
  uuid: string;
  /** libvirt name, when it could be read. */
  name: string | null;
  reasons: string[];
}

export interface AdoptHostReport {
  host: string;
  adopted: AdoptedDomain[];
  /** Domains whose instance record already exists on this host: left as they are. */
  alreadyAdopted: { uuid: string; name: string; autostartTurnedOff: boolean }[];
  refused: RefusedDomain[];
}

/** The claim owner of an adopted instance: a retried adoption finds its own claim and goes on. */
export function adoptionClaimOwner(uuid: string): string {
  return `adopt:${uuid}`;
}

type Decision =
  | { kind: "plan"; plan: AdoptionPlan }
  | { kind: "already"; uuid: string; name: string; autostart: boolean }
  | { kind: "refuse"; refused: RefusedDomain };

export async function adoptHost(deps: InventoryDeps, input: AdoptHostRequest): Promise<AdoptHostReport> {
  const req = validated(AdoptHostRequest, "adoptHost", input);
  const { stores, executor } = deps;
  const host = await stores.hosts.require(req.host);
  const target = hostTarget(host);
  const now = deps.now().toISOString();

  const uuids = parseListUuids(
    (await executor.run(target, listDomains(), { comment: "lazarus adopt: list" })).stdout,
  );
  const decisions: Decision[] = [];
  for (const uuid of uuids) decisions.push(await decide(deps, host, uuid, req.haEnabled, now));

  const report: AdoptHostReport = { host: host.name, adopted: [], alreadyAdopted: [], refused: [] };
  for (const d of decisions) if (d.kind === "refuse") report.refused.push(d.refused);

  // Claims first: a domain the host has no room for is refused before anything else is written for it.
  const claimed: AdoptionPlan[] = [];
  for (const d of decisions) {
    if (d.kind !== "plan") continue;
    const { instance } = d.plan;
    try {
      await stores.hosts.claim(host.name, {
        instanceUuid: instance.uuid,
        resources: instance.flavor,
        owner: adoptionClaimOwner(instance.uuid),
        serverGroup: null,
      });
      claimed.push(d.plan);
    } catch (e) {
      if (!(e instanceof ClaimRefused)) throw e;
      report.refused.push({
        uuid: instance.uuid,
        name: instance.name,
        reasons: [`claim refused: ${e.message}`],
      });
    }
  }

  const already = decisions.filter((d): d is Extract<Decision, { kind: "already" }> => d.kind === "already");
  const autostartOff = [...claimed.map((p) => p.instance.uuid), ...already.map((d) => d.uuid)];
  if (autostartOff.length > 0) {
    try {
      for (const command of disableAutostart(autostartOff)) {
        await executor.run(target, command, { comment: "lazarus adopt: autostart off" });
      }
    } catch (e) {
      // Nothing recorded yet for these domains: give back the claims so none is left without its instance.
      for (const p of claimed) {
        await stores.hosts
          .release(host.name, p.instance.uuid, { owner: adoptionClaimOwner(p.instance.uuid) })
          .catch(() => undefined);
      }
      throw e;
    }
  }
  for (const d of already) {
    report.alreadyAdopted.push({ uuid: d.uuid, name: d.name, autostartTurnedOff: d.autostart });
  }

  for (const plan of claimed) {
    const { instance } = plan;
    for (const port of plan.ports) await stores.ports.put(port);
    for (const volume of plan.volumes) await stores.volumes.put(volume);
    try {
      await stores.instances.create(instance);
    } catch (e) {
      // Another adoption of the same host got there first (same ids, another createdAt).
      const existing = e instanceof RecordExists ? await stores.instances.get(instance.uuid) : null;
      if (existing?.host !== host.name) throw e;
      report.alreadyAdopted.push({ uuid: instance.uuid, name: existing.name, autostartTurnedOff: false });
      continue;
    }
    report.adopted.push({
      uuid: instance.uuid,
      name: instance.name,
      ports: plan.ports.length,
      volumes: plan.volumes.length,
      powerState: instance.powerState,
      onSharedStorage: instance.onSharedStorage === true,
      autostartTurnedOff: plan.autostartWas === true,
      notes: plan.notes,
    });
  }
  return report;
}

/** Reads one domain and decides: adopt (with the records), already adopted, or refuse (with reasons). */
async function decide(
  deps: InventoryDeps,
  host: Host,
  uuid: string,
  haEnabled: boolean,
  now: string,
): Promise<Decision> {
  const { stores, executor } = deps;
  const target = hostTarget(host);
  const refuse = (name: string | null, reasons: string[]): Decision => ({
    kind: "refuse",
    refused: { uuid, name, reasons },
  });
  let read: ReturnType<typeof parseDomainRead>;
  try {
    read = parseDomainRead(
      (await executor.run(target, readDomain(uuid), { comment: "lazarus adopt: read domain" })).stdout,
    );
  } catch (e) {
    // Undefined meanwhile, or output we do not understand: this domain only; an unreachable host stops the run.
    if (e instanceof HostCommandFailed || e instanceof InvalidInput)
      return refuse(null, [`could not read the domain: ${errorMessage(e)}`]);
    throw e;
  }
  const existing = await stores.instances.get(uuid);
  if (existing) {
    if (existing.host === host.name) {
      return { kind: "already", uuid, name: existing.name, autostart: read.info.autostart === true };
    }
    return refuse(read.info.name, [
      `instance ${uuid} is recorded on host ${existing.host}: this definition is a stale copy, not adopted`,
    ]);
  }
  let description: ReturnType<typeof parseDomainXml>;
  try {
    description = parseDomainXml(read.xml);
  } catch (e) {
    return refuse(read.info.name, [errorMessage(e)]);
  }
  const paths = [
    ...new Set(
      description.disks
        .filter((d) => d.type === "file" && d.device === "disk" && d.source !== null)
        .map((d) => d.source!),
    ),
  ];
  const chains = new Map<string, QemuImgInfo[] | null>();
  if (paths.length > 0) {
    try {
      const out = parseDiskChains(
        (await executor.run(target, readDiskChains(paths), { comment: "lazarus adopt: disks" })).stdout,
        paths.length,
      );
      for (const [i, p] of paths.entries()) chains.set(p, out[i]!);
    } catch (e) {
      if (!(e instanceof HostCommandFailed || e instanceof InvalidInput)) throw e;
      return refuse(description.name, [`could not read the disks: ${errorMessage(e)}`]);
    }
  }
  const result = planAdoption(host, { info: read.info, description, chains }, { haEnabled, now });
  if (result.kind === "refuse") return refuse(description.name, result.reasons);

  // A volume file already attached to another instance would end up attached twice.
  const conflicts: string[] = [];
  for (const volume of result.plan.volumes) {
    const known = await stores.volumes.get(volume.id);
    const live = known ? activeAttachment(known) : null;
    if (live && live.instanceUuid !== uuid) {
      conflicts.push(
        `volume file ${volume.backingFile} is attached to instance ${live.instanceUuid} on ${live.host}`,
      );
    }
  }
  if (conflicts.length > 0) return refuse(description.name, conflicts);
  return { kind: "plan", plan: result.plan };
}
