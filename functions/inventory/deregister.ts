/**
 * Host deregistration (nova: deleting a compute service): the host's alarms are deleted from CloudWatch,
 * its name tag is taken off the managed node, and its record is deleted. Refused (HostInUse) while any
 * instance record names the host or it holds a claim: move or delete those first. Idempotent on what is
 * outside the table: a re-run after a failure completes it.
 */
import { z } from "zod";
import { HOST_NAME_TAG_KEY } from "#shared/definitions/host-tag.js";
import { HostInUse, HostNotFound } from "#shared/domain/errors.js";
import { ResourceName } from "#shared/domain/values.js";
import { validated } from "#shared/hosts/validate.js";
import type { InventoryDeps } from "./deps.js";

export const DeregisterHostRequest = z.strictObject({ host: ResourceName });
export type DeregisterHostRequest = z.input<typeof DeregisterHostRequest>;

export interface DeregisterHostReport {
  host: string;
  managedInstanceId: string;
  /** The alarms deleted. */
  alarms: string[];
  /** The tag keys taken off the managed node. */
  untagged: string[];
}

export async function deregisterHost(
  deps: InventoryDeps,
  input: DeregisterHostRequest,
): Promise<DeregisterHostReport> {
  const { host: name } = validated(DeregisterHostRequest, "deregisterHost", input);
  const host = await deps.stores.hosts.get(name);
  if (!host) throw new HostNotFound(`host ${name} is not registered`, { host: name });
  const instances = await deps.stores.instances.listByHost(name);
  const claims = Object.keys(host.claims);
  if (instances.length > 0 || claims.length > 0) {
    throw new HostInUse(
      `host ${name} still holds ${instances.length} instance(s) and ${claims.length} claim(s): evacuate or delete them before deregistering it`,
      { host: name, instances: instances.map((i) => i.uuid), claims },
    );
  }
  const alarms = await deps.alarms.remove(name);
  const untagged = (await deps.directory.untag(host.managedInstanceId, [HOST_NAME_TAG_KEY]))
    ? [HOST_NAME_TAG_KEY]
    : [];
  await deps.stores.hosts.remove(name, host.version);
  return { host: name, managedInstanceId: host.managedInstanceId, alarms, untagged };
}
