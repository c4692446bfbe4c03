/**
 * Host deregistration (nova: deleting a compute service): the host's alarms are deleted from CloudWatch,
 * its name tag is taken off the managed node, and its record is deleted. Refused (HostInUse) while any
 * instance record names the host or it holds a claim: move or delete those first. Idempotent on what is
 * outside the table: a re-run after a failure completes it. A host that is still registered when the request
 * fails (a claim arrived meanwhile) gets its alarms and its name tag back: it stays watched.
 */
import { z } from "zod";
import { HOST_NAME_TAG_KEY } from "#shared/definitions/host-tag.js";
import { ConcurrentUpdate, HostInUse, HostNotFound } from "#shared/domain/errors.js";
import type { Host } from "#shared/domain/schemas.js";
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

/** How often the record's delete is tried again when a writer that places nothing changed it meanwhile. */
const REMOVE_ATTEMPTS = 5;

export async function deregisterHost(
  deps: InventoryDeps,
  input: DeregisterHostRequest,
): Promise<DeregisterHostReport> {
  const { host: name } = validated(DeregisterHostRequest, "deregisterHost", input);
  let host = await idleHost(deps, name);
  const alarms = await deps.alarms.remove(name);
  const untagged = (await deps.directory.untag(host.managedInstanceId, [HOST_NAME_TAG_KEY]))
    ? [HOST_NAME_TAG_KEY]
    : [];
  try {
    // The delete is conditional on the version checked idle. Writers that place nothing (the service
    // status, power and drift records) may change the record meanwhile: check it again and delete that
    // version; a claim or an instance that arrived meanwhile refuses the deregistration.
    for (let attempt = 1; ; attempt++) {
      try {
        await deps.stores.hosts.remove(name, host.version);
        break;
      } catch (e) {
        if (!(e instanceof ConcurrentUpdate) || attempt >= REMOVE_ATTEMPTS) throw e;
        const again = await idleHost(deps, name).catch((n: unknown) => {
          if (n instanceof HostNotFound) return null; // deleted meanwhile by another deregistration
          throw n;
        });
        if (!again) break;
        host = again;
      }
    }
  } catch (e) {
    // Still registered (in use again, or never quiet): it stays watched and named, as before the request.
    if (await deps.stores.hosts.get(name)) {
      await deps.alarms.put(name);
      if (untagged.length > 0)
        await deps.directory.tag(host.managedInstanceId, { [HOST_NAME_TAG_KEY]: name });
    }
    throw e;
  }
  return { host: name, managedInstanceId: host.managedInstanceId, alarms, untagged };
}

/** The host's record, refused (HostInUse) while any instance record names the host or it holds a claim. */
async function idleHost(deps: InventoryDeps, name: string): Promise<Host> {
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
  return host;
}
