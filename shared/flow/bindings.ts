/**
 * Where an instance's ports are bound and its volumes attached (neutron's binding:host_id, cinder's
 * attachments): on one host, and nowhere else. A failed flow puts them back on the host its record names
 * (shared/flow/end-flow.ts); a migration moves them to its target when it commits, and back when it is
 * reverted. Idempotent: attachment ids derive from the request and the host, so a retry finds its own.
 */
import { deterministicUuid } from "../domain/ids.js";
import type { Instance } from "../domain/schemas.js";
import { activeAttachment } from "../store/index.js";
import type { StepDeps } from "./deps.js";

/** Ports bound to `host`, volume attachments live on `host` (others ended); `requestId` names the new ones. */
export async function bindingsOn(
  deps: Pick<StepDeps, "stores">,
  instance: Instance,
  host: string,
  requestId: string,
): Promise<void> {
  for (const portId of instance.ports) {
    const port = await deps.stores.ports.require(portId);
    if (port.bindingHost !== host) await deps.stores.ports.bind(portId, host);
  }
  for (const bdm of instance.volumes) {
    const volume = await deps.stores.volumes.endAttachments(bdm.volumeId, {
      instanceUuid: instance.uuid,
      exceptHost: host,
    });
    const live = activeAttachment(volume);
    if (live?.host === host && live.instanceUuid === instance.uuid) continue;
    await deps.stores.volumes.attach(bdm.volumeId, {
      attachmentId: deterministicUuid(requestId, "restore", host, bdm.volumeId),
      instanceUuid: instance.uuid,
      host,
      device: bdm.device,
    });
  }
}
