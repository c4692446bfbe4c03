/**
 * nova's select_destinations for a new instance, with the claim made atomic (resources and the server
 * group's slot in one conditional write, shared/flow/placement.ts): the scheduler's filters and weighers
 * (no source host, any host of the asked zone), then the instance record is created on the claimed host,
 * building, in task block_device_mapping, owned by this request: from here it is a server with a host.
 * A retry finds its own claim (by owner) and its own record, and makes neither twice.
 */
import { findFlavor } from "#shared/domain/catalog.js";
import { InvalidInput } from "#shared/domain/errors.js";
import { scheduleHosts } from "#shared/domain/scheduling.js";
import type { BootState } from "#shared/flow/boot-contract.js";
import type { StepDeps } from "#shared/flow/deps.js";
import { claimBestHost } from "#shared/flow/placement.js";

export async function scheduleBoot(deps: StepDeps, state: BootState): Promise<BootState> {
  const { build, requestId } = state;
  const { instances, hosts, actions } = deps.stores;
  const flavor = findFlavor(build.flavorId);
  if (!flavor) throw new InvalidInput(`Flavor ${build.flavorId} could not be found.`);
  const resources = { vcpus: flavor.vcpus, memoryMiB: flavor.memoryMiB, diskGiB: flavor.diskGiB };
  const existing = await instances.get(build.instanceUuid);
  if (existing) {
    if (existing.taskRequestId !== requestId)
      throw new InvalidInput(`instance ${build.instanceUuid} belongs to another request`);
    return { ...state, host: existing.host };
  }
  const all = await hosts.list();
  const own = all.find((h) => h.claims[build.instanceUuid]?.owner === requestId);
  const host =
    own?.name ??
    (await claimBestHost(
      deps,
      { instanceUuid: build.instanceUuid, resources, owner: requestId, serverGroup: build.serverGroup },
      all,
      (candidates, rejected) => {
        const decision = scheduleHosts(candidates, {
          instanceUuid: build.instanceUuid,
          flavor: resources,
          availabilityZone: build.availabilityZone,
          serverGroup: build.serverGroup,
          sourceHost: null,
          purpose: "boot",
          requestedHost: build.host,
          excludedHosts: [],
          sharedPoolId: null,
          now: deps.now(),
          serviceDownSeconds: deps.serviceDownSeconds,
        });
        Object.assign(rejected, decision.rejected);
        return decision.candidates;
      },
    ));
  const placed = await hosts.require(host);
  const action = await actions.require(requestId);
  await instances.create({
    uuid: build.instanceUuid,
    name: build.name,
    host,
    node: host,
    availabilityZone: placed.availabilityZone,
    flavor: resources,
    flavorId: flavor.id,
    imageRef: build.imageRef,
    vmState: "building",
    taskState: "block_device_mapping",
    taskRequestId: requestId,
    taskExecutionArn: state.executionArn,
    lastRequestId: null,
    powerState: "nostate",
    ports: [],
    volumes: [],
    serverGroup: build.serverGroup,
    haEnabled: build.haEnabled,
    onSharedStorage: null,
    launchedAt: null,
    // The build's own times: a retry re-creates exactly this record (an idempotent insert).
    createdAt: action.startTime,
    updatedAt: action.startTime,
    version: 0,
    fault: null,
    metadata: build.metadata,
  });
  await actions.update(requestId, (a) => ({ build: a.build && { ...a.build, status: "placed" } }));
  return { ...state, host };
}
