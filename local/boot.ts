/**
 * A server booted on a local host through the real boot flow (state-machines/boot.asl.json, the same
 * execution `POST /servers` starts): placed by the scheduler on the host asked for, its ports and blank
 * volumes made and bound there, its root disk from the image cache, the domain defined and started (or
 * left stopped). Lazarus's own policy that a build does not carry (HA priority, the operator's word on
 * shared storage) is set on the record afterwards, as an operator would.
 *
 * The tests, the demo and the chaos run get their instances by adoption (fleet-domains.ts: domains defined
 * with virsh, as a real fleet has them) or through the API (`POST /servers`); this is `cloud.boot`, which
 * the evacuation benchmark (bench/evacuation.ts) uses to boot batches of instances on one source host.
 * `DEFAULT_FLAVOR` and `randomMac` are shared with fleet-domains.ts and the test fixtures.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { DEFAULT_NETWORK, FLAVORS, flavorOf, IMAGES } from "#shared/domain/catalog.js";
import type { BuildSpec, Flavor, Instance, ServerGroup } from "#shared/domain/schemas.js";
import type { BootRequest as BootFlowRequest } from "#shared/flow/boot-contract.js";
import type { Stores } from "#shared/store/index.js";
import type { LocalStepFunctions } from "./stepfunctions/runner.js";

export interface BootRequest {
  name: string;
  host: string;
  /** Resources of a catalog flavor (shared/domain/catalog.ts); default its smallest. */
  flavor?: Flavor;
  imageRef?: string;
  /** How many NICs (one port each, on the default network). */
  ports?: number;
  /** Blank volumes made for it (name: `<server>-<device>`). */
  volumes?: { sizeGiB: number; device: string }[];
  serverGroup?: ServerGroup | null;
  /** Define only: the instance is STOPPED. */
  stopped?: boolean;
  haEnabled?: boolean;
  /** Restart order after a host failure (higher first; default 0). */
  haPriority?: number;
  /** The operator's word on where the disk lives (null = detect on the target). */
  onSharedStorage?: boolean | null;
}

/** The catalog's smallest flavor: what the local guests (SeaBIOS, a blank disk) need. */
const SMALLEST = FLAVORS[0]!;
export const DEFAULT_FLAVOR: Flavor = {
  vcpus: SMALLEST.vcpus,
  memoryMiB: SMALLEST.memoryMiB,
  diskGiB: SMALLEST.diskGiB,
};

/** A locally administered unicast MAC (02:...). */
export function randomMac(): string {
  return ["02", ...[...randomBytes(5)].map((b) => b.toString(16).padStart(2, "0"))].join(":");
}

export async function bootInstance(
  deps: { stores: Stores; stepFunctions: LocalStepFunctions; bootStateMachineArn: string },
  req: BootRequest,
): Promise<Instance> {
  const flavor = flavorOf(req.flavor ?? DEFAULT_FLAVOR);
  if (!flavor) throw new Error(`boot ${req.name}: no catalog flavor has ${JSON.stringify(req.flavor)}`);
  const build: BuildSpec = {
    instanceUuid: randomUUID(),
    name: req.name,
    flavorId: flavor.id,
    imageRef: req.imageRef ?? IMAGES[0]!.id,
    availabilityZone: null,
    host: req.host,
    ports: Array.from({ length: req.ports ?? 1 }, () => ({ network: DEFAULT_NETWORK.name })),
    volumes: (req.volumes ?? []).map((v) => ({
      blankGiB: v.sizeGiB,
      device: v.device,
      deleteOnTermination: false,
    })),
    serverGroup: req.serverGroup ?? null,
    metadata: {},
    haEnabled: req.haEnabled ?? true,
    stopped: req.stopped === true,
  };
  const requestId = randomUUID();
  const input: BootFlowRequest = { requestId, build };
  const { executionArn } = deps.stepFunctions.startExecution({
    stateMachineArn: deps.bootStateMachineArn,
    name: requestId,
    input: JSON.stringify(input),
  });
  const done = await deps.stepFunctions.waitForExecution(executionArn!, 180_000);
  if (done.status !== "SUCCEEDED")
    throw new Error(`boot of ${req.name} on ${req.host} ended ${done.status}: ${done.error}: ${done.cause}`);
  if (req.haPriority === undefined && req.onSharedStorage === undefined)
    return deps.stores.instances.require(build.instanceUuid);
  return deps.stores.instances.update(build.instanceUuid, {
    expectTaskState: [null],
    set: {
      ...(req.haPriority !== undefined ? { haPriority: req.haPriority } : {}),
      ...(req.onSharedStorage !== undefined ? { onSharedStorage: req.onSharedStorage } : {}),
    },
  });
}
