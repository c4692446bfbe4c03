/**
 * Evacuation and drain plans from the records as they are now (read-only): the core's
 * `previewHostEvacuation`, `checkFleetCapacity` and `previewHostDrain` fed from the stores. Used by the API
 * (`GET /os-hosts/{host}/evacuation-plan`, `GET /os-evacuation-capacity[?drain=HOST]`), the demo and the
 * host-drain flow's plan. Instances come from the by-host index, each re-read by key,
 * as the host-evacuation flow reads them.
 */
import {
  checkFleetCapacity,
  type FleetCapacityCheck,
  type HostDrainPreview,
  type HostEvacuationPreview,
  previewHostDrain,
  previewHostEvacuation,
} from "../domain/evacuation-plan.js";
import type { EvacuationPolicy } from "../domain/host-failure.js";
import type { Instance } from "../domain/schemas.js";
import type { Stores } from "../store/index.js";
import { planCandidates } from "./placement.js";

export interface PreviewOptions {
  policy: EvacuationPolicy;
  now: Date;
  serviceDownSeconds?: number;
}

export async function instancesOn(stores: Pick<Stores, "instances">, host: string): Promise<Instance[]> {
  const listed = await stores.instances.listByHost(host);
  const records = await Promise.all(listed.map((i) => stores.instances.get(i.uuid)));
  return records.filter((i): i is Instance => i !== null && i.host === host);
}

export async function readEvacuationPreview(
  stores: Pick<Stores, "hosts" | "instances">,
  host: string,
  opts: PreviewOptions,
): Promise<HostEvacuationPreview> {
  const source = await stores.hosts.require(host);
  const instances = await instancesOn(stores, host);
  // The scheduler's best candidates for these instances (as the flow plans), not the whole fleet.
  const hosts = [source, ...(await planCandidates(stores, source, instances))];
  return previewHostEvacuation(host, hosts, instances, opts);
}

/**
 * Every single-host failure the fleet could not absorb: by its nature a read of the whole fleet (every host
 * and every instance), for an operator's report on demand (the API's GET /os-evacuation-capacity); no flow
 * step and no periodic job calls it (docs/SCALE.md).
 */
export async function readFleetCapacity(
  stores: Pick<Stores, "hosts" | "instances">,
  opts: PreviewOptions,
): Promise<FleetCapacityCheck> {
  const hosts = await stores.hosts.list();
  const instances = (await Promise.all(hosts.map((h) => instancesOn(stores, h.name)))).flat();
  return checkFleetCapacity(hosts, instances, opts);
}

/**
 * Whether `host` can be drained now: the drain's own plan, from the records as they are (read-only), over the
 * scheduler's best candidates for its instances (the migrations' Schedule reads the same index), not the
 * whole fleet. `instances`: the host's instances when the caller has read them already.
 */
export async function readDrainPreview(
  stores: Pick<Stores, "hosts" | "instances">,
  host: string,
  opts: Pick<PreviewOptions, "now" | "serviceDownSeconds">,
  instances?: Instance[],
): Promise<HostDrainPreview> {
  const source = await stores.hosts.require(host);
  const records = instances ?? (await instancesOn(stores, host));
  const hosts = [source, ...(await planCandidates(stores, source, records))];
  return previewHostDrain(host, hosts, records, opts);
}
