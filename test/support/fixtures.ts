/** Valid fixture records for tests: every builder returns a record its zod schema accepts; override any field. */
import { randomBytes, randomUUID } from "node:crypto";
import { randomMac } from "#local/boot.js";
import { newHostRecord } from "#shared/domain/host-record.js";
import {
  type BuildSpec,
  Host,
  Instance,
  InstanceFault,
  Migration,
  Port,
  Volume,
} from "#shared/domain/schemas.js";
import type { Stores } from "#shared/store/index.js";

const T0 = "2026-01-01T00:00:00.000Z";

export { randomMac };

export function makeInstance(overrides: Partial<Instance> = {}): Instance {
  const uuid = overrides.uuid ?? randomUUID();
  return Instance.parse({
    uuid,
    name: `vm-${uuid.slice(0, 8)}`,
    host: "host-a",
    node: "host-a",
    availabilityZone: "az1",
    flavor: { vcpus: 1, memoryMiB: 512, diskGiB: 2 },
    imageRef: "cirros-0.6.2",
    vmState: "active",
    taskState: null,
    taskRequestId: null,
    powerState: "running",
    ports: [],
    volumes: [],
    serverGroup: null,
    haEnabled: true,
    onSharedStorage: null,
    launchedAt: T0,
    createdAt: T0,
    updatedAt: T0,
    version: 0,
    fault: null,
    ...overrides,
  });
}

export function makeHost(overrides: Partial<Host> = {}): Host {
  const name = overrides.name ?? "host-a";
  const base = newHostRecord(
    {
      name,
      managedInstanceId: `mi-${randomBytes(9).toString("hex").slice(0, 17)}`,
      virtType: "qemu",
      supportsRecreate: true,
      availabilityZone: "az1",
      capacity: { vcpus: 8, memoryMiB: 16384, diskGiB: 200 },
      allocationRatios: { cpu: 1, ram: 1, disk: 1 },
      storage: {
        instancesPath: "/var/lib/lazarus/instances",
        sharedPoolId: "pool-1",
        imageCachePath: "/var/lib/lazarus/images",
        volumesPath: "/var/lib/lazarus/volumes",
      },
    },
    { lastHeartbeatAt: T0 },
  );
  return Host.parse({ ...base, ...overrides });
}

export function makeMigration(overrides: Partial<Migration> = {}): Migration {
  return Migration.parse({
    id: randomUUID(),
    instanceUuid: randomUUID(),
    type: "evacuation",
    sourceHost: "host-a",
    sourceNode: "host-a",
    destHost: null,
    destNode: null,
    status: "accepted",
    attemptedHosts: [],
    error: null,
    createdAt: T0,
    updatedAt: T0,
    version: 0,
    ...overrides,
  });
}

export function makePort(overrides: Partial<Port> = {}): Port {
  return Port.parse({
    id: randomUUID(),
    instanceUuid: null,
    mac: randomMac(),
    network: "net-1",
    bindingHost: "host-a",
    status: "ACTIVE",
    version: 0,
    ...overrides,
  });
}

export function makeVolume(overrides: Partial<Volume> = {}): Volume {
  const id = overrides.id ?? randomUUID();
  return Volume.parse({
    id,
    name: `vol-${id.slice(0, 8)}`,
    sizeGiB: 1,
    backingFile: `volume-${id}.img`,
    status: "available",
    attachments: [],
    version: 0,
    ...overrides,
  });
}

export function makeFault(overrides: Partial<InstanceFault> = {}): InstanceFault {
  return InstanceFault.parse({
    code: 500,
    error: "SpawnFailed",
    message: "the domain did not start",
    step: "spawn",
    details: {},
    createdAt: T0,
    ...overrides,
  });
}

/** A build of one m1.nano cirros server in any zone, with no port or volume unless overridden. */
export function makeBuildSpec(overrides: Partial<BuildSpec> = {}): BuildSpec {
  return {
    instanceUuid: randomUUID(),
    name: "web-1",
    flavorId: "m1.nano",
    imageRef: "cirros-0.6",
    availabilityZone: null,
    host: null,
    ports: [],
    volumes: [],
    serverGroup: null,
    metadata: {},
    haEnabled: true,
    stopped: false,
    ...overrides,
  };
}

/**
 * An instance in ERROR whose failed flow (`owner`) could not prove `target` clean: the target listed on the
 * record and the flow's claim kept there, as a TargetNotClean ending leaves them.
 */
export async function seedUncleanTarget(
  stores: Pick<Stores, "instances" | "hosts">,
  target: string,
  overrides: Partial<Instance> = {},
  owner: string = randomUUID(),
): Promise<{ instance: Instance; owner: string }> {
  const instance = await stores.instances.create(
    makeInstance({ vmState: "error", uncleanTargets: [{ host: target, requestId: owner }], ...overrides }),
  );
  await stores.hosts.claim(target, {
    instanceUuid: instance.uuid,
    resources: instance.flavor,
    owner,
    serverGroup: null,
  });
  return { instance, owner };
}
