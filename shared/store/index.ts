/** The data layer: one store per table, all on one document client. */
import { ActionsStore } from "./actions-store.js";
import type { StoreDeps } from "./dynamo-util.js";
import { FaultsStore } from "./faults-store.js";
import { HostIncidentsStore } from "./host-incidents-store.js";
import { HostMaintenanceStore } from "./host-maintenance-store.js";
import { HostsStore } from "./hosts-store.js";
import { IdempotencyStore } from "./idempotency-store.js";
import { InstancesStore } from "./instances-store.js";
import { MigrationsStore } from "./migrations-store.js";
import { OutboxStore } from "./outbox-store.js";
import { PortsStore } from "./ports-store.js";
import { RecoveriesStore } from "./recoveries-store.js";
import { VolumesStore } from "./volumes-store.js";

export interface Stores {
  instances: InstancesStore;
  hosts: HostsStore;
  migrations: MigrationsStore;
  faults: FaultsStore;
  ports: PortsStore;
  volumes: VolumesStore;
  outbox: OutboxStore;
  idempotency: IdempotencyStore;
  /** Host-failure incidents on the host records (host-failure flows). */
  hostIncidents: HostIncidentsStore;
  /** Planned maintenance (drain, undrain) on the host records. */
  hostMaintenance: HostMaintenanceStore;
  /** Instance recoveries (instance-failure flow), one per crash. */
  recoveries: RecoveriesStore;
  /** Instance actions without a migration, and builds not yet placed (API, boot and delete flows). */
  actions: ActionsStore;
}

export function createStores(deps: StoreDeps): Stores {
  return {
    instances: new InstancesStore(deps),
    hosts: new HostsStore(deps),
    migrations: new MigrationsStore(deps),
    faults: new FaultsStore(deps),
    ports: new PortsStore(deps),
    volumes: new VolumesStore(deps),
    outbox: new OutboxStore(deps),
    idempotency: new IdempotencyStore(deps),
    hostIncidents: new HostIncidentsStore(deps),
    hostMaintenance: new HostMaintenanceStore(deps),
    recoveries: new RecoveriesStore(deps),
    actions: new ActionsStore(deps),
  };
}

export { type ActionOpening, ActionsStore } from "./actions-store.js";
export type { StoreDeps } from "./dynamo-util.js";
export { type FaultInput, FaultsStore } from "./faults-store.js";
export { HostIncidentsStore, type OpenIncidentResult } from "./host-incidents-store.js";
export { HostMaintenanceStore } from "./host-maintenance-store.js";
export {
  type ClaimResult,
  HostRegistration,
  HostsStore,
  type RegisterResult,
  type ReleaseResult,
  type ServicePatch,
} from "./hosts-store.js";
export {
  type BeginResult,
  IdempotencyRecord,
  IdempotencyStore,
  StoredResponse,
} from "./idempotency-store.js";
export { type InstanceMutableFields, InstancesStore, type InstanceUpdate } from "./instances-store.js";
export { type MigrationPatch, MigrationsStore } from "./migrations-store.js";
export { OutboxStore, PendingNotification } from "./outbox-store.js";
export { PortsStore } from "./ports-store.js";
export { RecoveriesStore, type RecoveryOpening } from "./recoveries-store.js";
export * from "./store-errors.js";
export { type AttachRequest, activeAttachment, VolumesStore } from "./volumes-store.js";
