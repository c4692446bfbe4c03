/**
 * Every host document of Lazarus: the CDK stack deploys each (cdk/host-documents.ts) and the local cloud
 * creates each on its SSM endpoint, under `<prefix>-<id>`. Add a document here (one file of this folder) and
 * both pick it up; a function may send it once its access lists it (shared/definitions/functions.ts).
 * Only the CDK app, the local cloud and tests import this list: a Lambda imports the documents it sends.
 */
import { CHECK_STORAGE } from "./check-storage.js";
import { CREATE_ROOT_DISK } from "./create-root-disk.js";
import { CREATE_VOLUME } from "./create-volume.js";
import { DEFINE_DOMAIN } from "./define-domain.js";
import { DELETE_VOLUME } from "./delete-volume.js";
import { DETACH_VOLUME } from "./detach-volume.js";
import { DISABLE_AUTOSTART } from "./disable-autostart.js";
import type { HostDocument } from "./document.js";
import { FENCE_THROUGH_DELEGATE } from "./fence-through-delegate.js";
import { LIST_DOMAIN_STATES } from "./list-domain-states.js";
import { LIST_DOMAINS } from "./list-domains.js";
import { LIVE_MIGRATE_DOMAIN } from "./live-migrate-domain.js";
import { PROBE_DOMAIN_STATE } from "./probe-domain-state.js";
import { PROBE_LIVENESS } from "./probe-liveness.js";
import { PROBE_TARGET } from "./probe-target.js";
import { READ_CONSOLE_LOG } from "./read-console-log.js";
import { READ_DISK_CHAINS } from "./read-disk-chains.js";
import { READ_DOMAIN } from "./read-domain.js";
import { READ_DOMAIN_DISKS } from "./read-domain-disks.js";
import { READ_HOST_FACTS } from "./read-host-facts.js";
import { READ_UPTIME } from "./read-uptime.js";
import { REBOOT_DOMAIN } from "./reboot-domain.js";
import { REMOVE_DOMAIN } from "./remove-domain.js";
import { REMOVE_STALE_DOMAINS } from "./remove-stale-domains.js";
import { START_DOMAIN } from "./start-domain.js";
import { STOP_DOMAIN } from "./stop-domain.js";
import { STOP_UNDEFINE_DOMAIN } from "./stop-undefine-domain.js";

export const HOST_DOCUMENTS = [
  PROBE_LIVENESS,
  PROBE_TARGET,
  PROBE_DOMAIN_STATE,
  LIST_DOMAINS,
  LIST_DOMAIN_STATES,
  READ_DOMAIN,
  READ_DISK_CHAINS,
  READ_DOMAIN_DISKS,
  READ_HOST_FACTS,
  READ_UPTIME,
  READ_CONSOLE_LOG,
  CHECK_STORAGE,
  DISABLE_AUTOSTART,
  DEFINE_DOMAIN,
  START_DOMAIN,
  STOP_DOMAIN,
  REBOOT_DOMAIN,
  STOP_UNDEFINE_DOMAIN,
  LIVE_MIGRATE_DOMAIN,
  REMOVE_DOMAIN,
  REMOVE_STALE_DOMAINS,
  DETACH_VOLUME,
  CREATE_ROOT_DISK,
  CREATE_VOLUME,
  DELETE_VOLUME,
  FENCE_THROUGH_DELEGATE,
] as const satisfies readonly HostDocument[];

/**
 * Documents deployed for a later issue's code and sent by no function yet (no role may send them). Each
 * entry says which issue fills it in.
 */
export const RESERVED_DOCUMENTS: Readonly<Record<string, string>> = {};

export function hostDocument(id: string): HostDocument {
  const doc = HOST_DOCUMENTS.find((d) => d.id === id);
  if (!doc) throw new Error(`no host document ${id}`);
  return doc;
}
