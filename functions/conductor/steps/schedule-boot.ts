/**
 * nova's select_destinations for a new instance, with the claim made atomic (resources and the server
 * group's slot in one conditional write, shared/flow/placement.ts): the scheduler's filters and weighers
 * (no source host, any host of the asked zone, or of every zone when none is asked) over bounded reads (the
 * index's best pages, the requested host, the group members' hosts), then the instance record is created on
 * the claimed host, building, in task block_device_mapping, owned by this request: from here it is a server
 * with a host, and the build is marked placed. Each host is named on the build before its claim (write-ahead),
 * so a retry finds its own claim by key and its own record, makes neither twice, and marks the build placed
 * if a crash came before that; the boot's failure end releases it there. The record is where the placement
 * commits: an attempt that stalled and woke while its retry placed the build names nothing once it is
 * placed, and one whose record lost to another attempt's gives its own claim up.
 */
import { findFlavor } from "#shared/domain/catalog.js";
import { ConcurrentUpdate, InvalidInput } from "#shared/domain/errors.js";
import { scheduleHosts } from "#shared/domain/scheduling.js";
import type { BootState } from "#shared/flow/boot-contract.js";
import type { StepDeps } from "#shared/flow/deps.js";
import {
  claimFromIndex,
  groupMemberHosts,
  groupNeedsClaims,
  placementScopes,
  releaseStrayClaim,
} from "#shared/flow/placement.js";
import { RecordExists } from "#shared/store/index.js";

export async function scheduleBoot(deps: StepDeps, state: BootState): Promise<BootState> {
  const { build, requestId } = state;
  const { instances, hosts, actions } = deps.stores;
  const flavor = findFlavor(build.flavorId);
  if (!flavor) throw new InvalidInput(`Flavor ${build.flavorId} could not be found.`);
  const resources = { vcpus: flavor.vcpus, memoryMiB: flavor.memoryMiB, diskGiB: flavor.diskGiB };
  // The record is on `host`: the build says placed there. A claim of this boot on another host the build
  // named (an attempt of this step that stalled, woke, claimed there and died) is let go.
  const markPlaced = async (host: string) => {
    let named: string | null = null;
    await actions.update(requestId, (a) => {
      named = a.build?.targetHost ?? null;
      return { build: a.build && { ...a.build, status: "placed", targetHost: host } };
    });
    if (named !== null && named !== host)
      await releaseStrayClaim(deps.stores, named, build.instanceUuid, requestId);
  };
  const existing = await instances.get(build.instanceUuid);
  if (existing) {
    if (existing.taskRequestId !== requestId)
      throw new InvalidInput(`instance ${build.instanceUuid} belongs to another request`);
    // A retry after a crash between the record and `placed`: the build still says it is being scheduled
    // (listed as a server of its own, by-unplaced-build) until it is marked placed here.
    if ((await actions.require(requestId)).build?.status === "building") await markPlaced(existing.host);
    return { ...state, host: existing.host };
  }
  // A retry after the claim was made: the build names the host (written before the claim). One read.
  const named = (await actions.require(requestId)).build?.targetHost ?? null;
  const namedHost = named ? await hosts.get(named) : null;
  // The host as the claim left it (or as read, when the claim was made before): its zone is the record's.
  const placed =
    namedHost?.claims[build.instanceUuid]?.owner === requestId
      ? namedHost
      : await claimFromIndex(deps, {
          // A requested host is the only candidate: no index is read for it.
          scopes: build.host ? [] : await placementScopes(deps.stores, build.availabilityZone, null),
          named: [
            ...(build.host ? [build.host] : []),
            ...(await groupMemberHosts(deps.stores, {
              uuid: build.instanceUuid,
              serverGroup: build.serverGroup,
            })),
          ],
          withClaims: groupNeedsClaims(build.serverGroup),
          candidates: (seen, rejected) => {
            const decision = scheduleHosts(seen, {
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
          spec: {
            instanceUuid: build.instanceUuid,
            resources,
            owner: requestId,
            serverGroup: build.serverGroup,
          },
          nameTarget: async (h) => {
            await actions.update(requestId, (a) => {
              // Placed (or ended) meanwhile by another attempt of this step: its host stands, none is claimed.
              if (a.build?.status !== "building")
                throw new ConcurrentUpdate(`build ${requestId} is ${a.build?.status} while naming ${h}`, {
                  requestId,
                  actual: a.build?.status ?? null,
                });
              return { build: { ...a.build, targetHost: h } };
            });
          },
        });
  const host = placed.name;
  const action = await actions.require(requestId);
  const record = instances.create({
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
  const recordedOn = await record.then(
    () => host,
    async (e: unknown) => {
      // Another attempt of this step (one that stalled, or ran at once) wrote the record first, on another
      // host: that placement stands, this attempt's claim goes.
      const other = e instanceof RecordExists ? await instances.get(build.instanceUuid) : null;
      if (other?.taskRequestId !== requestId) throw e;
      if (other.host !== host) await releaseStrayClaim(deps.stores, host, build.instanceUuid, requestId);
      return other.host;
    },
  );
  await markPlaced(recordedOn);
  return { ...state, host: recordedOn };
}
