/**
 * Records-first boot: an instance on a local host the way nova's boot leaves it (a claim on the host, ports
 * bound there, volumes attached, a root disk from the image cache, the domain defined and running unless
 * asked for a stopped instance, and the instance record), all written directly, not through adoption.
 *
 * The tests, the demo and the chaos run do NOT boot through here: they define domains on the hosts with
 * virsh and adopt them (fleet-domains.ts), as a real fleet gets its instances into Lazarus. What this is
 * still for: the evacuation benchmark (bench/evacuation.ts, `cloud.boot`), which boots batches of
 * instances in parallel on one source host and whose subject is the evacuation afterwards, not how the
 * instances came in (moving it to adoption means re-measuring its recorded baseline). `DEFAULT_FLAVOR` and `randomMac` are
 * shared with fleet-domains.ts and the test fixtures.
 */
import { randomBytes, randomUUID } from "node:crypto";
import {
  type Flavor,
  type Host,
  type Instance,
  Instance as InstanceSchema,
  type Port,
  type ServerGroup,
  type Volume,
} from "#shared/domain/schemas.js";
import type { HostExecutor } from "#shared/hosts/executor.js";
import { defineDomain } from "#shared/hosts/instance-domain.js";
import { hostTarget } from "#shared/hosts/layout.js";
import { createRootDisk, createVolume } from "#shared/hosts/qemu-img.js";
import type { Stores } from "#shared/store/index.js";

export interface BootRequest {
  name: string;
  host: string;
  flavor?: Flavor;
  imageRef?: string;
  /** How many NICs (one port each). */
  ports?: number;
  volumes?: { name: string; sizeGiB: number; device: string }[];
  serverGroup?: ServerGroup | null;
  /** Define only: the instance is STOPPED. */
  stopped?: boolean;
  haEnabled?: boolean;
  /** Restart order after a host failure (higher first; default 0). */
  haPriority?: number;
  /** The operator's word on where the disk lives (null = detect on the target). */
  onSharedStorage?: boolean | null;
}

export const DEFAULT_FLAVOR: Flavor = { vcpus: 1, memoryMiB: 64, diskGiB: 1 };

/** A locally administered unicast MAC (02:...). */
export function randomMac(): string {
  return ["02", ...[...randomBytes(5)].map((b) => b.toString(16).padStart(2, "0"))].join(":");
}

export async function bootInstance(
  deps: { stores: Stores; executor: HostExecutor; now?: () => Date },
  req: BootRequest,
): Promise<Instance> {
  const { stores, executor } = deps;
  const at = (deps.now ?? (() => new Date()))().toISOString();
  const host: Host = await stores.hosts.require(req.host);
  const uuid = randomUUID();
  const flavor = req.flavor ?? DEFAULT_FLAVOR;
  const imageRef = req.imageRef ?? "cirros-0.6";
  const serverGroup = req.serverGroup ?? null;

  await stores.hosts.claim(host.name, {
    instanceUuid: uuid,
    resources: flavor,
    owner: `boot:${uuid}`,
    serverGroup,
  });

  const ports: Port[] = [];
  for (let i = 0; i < (req.ports ?? 1); i++) {
    ports.push(
      await stores.ports.put({
        id: randomUUID(),
        instanceUuid: uuid,
        mac: randomMac(),
        network: "default",
        bindingHost: host.name,
        status: "ACTIVE",
        version: 0,
      }),
    );
  }

  const volumes: Volume[] = [];
  for (const v of req.volumes ?? []) {
    const id = randomUUID();
    const volume: Volume = {
      id,
      name: v.name,
      sizeGiB: v.sizeGiB,
      backingFile: `volume-${id}.img`,
      status: "in-use",
      attachments: [
        {
          attachmentId: randomUUID(),
          instanceUuid: uuid,
          host: host.name,
          device: v.device,
          status: "attached",
          attachedAt: at,
          detachedAt: null,
        },
      ],
      version: 0,
    };
    await executor.run(hostTarget(host), createVolume(host, volume));
    volumes.push(await stores.volumes.put(volume));
  }

  const instance = InstanceSchema.parse({
    uuid,
    name: req.name,
    host: host.name,
    node: host.name,
    availabilityZone: host.availabilityZone,
    flavor,
    imageRef,
    vmState: req.stopped ? "stopped" : "active",
    taskState: null,
    taskRequestId: null,
    powerState: req.stopped ? "shutdown" : "running",
    ports: ports.map((p) => p.id),
    volumes: volumes.map((v) => ({ volumeId: v.id, device: v.attachments[0]!.device })),
    serverGroup,
    haEnabled: req.haEnabled ?? true,
    haPriority: req.haPriority ?? 0,
    onSharedStorage: req.onSharedStorage ?? null,
    launchedAt: at,
    createdAt: at,
    updatedAt: at,
    version: 0,
    fault: null,
    fencingRequired: null,
  });

  await executor.run(
    hostTarget(host),
    createRootDisk(host, { instanceUuid: uuid, imageRef, sizeGiB: flavor.diskGiB, replace: true }),
  );
  await executor.run(
    hostTarget(host),
    defineDomain({ instance, host, ports, volumes }, { start: !req.stopped }),
  );
  return stores.instances.create(instance);
}
