/**
 * The DynamoDB tables, as plain data. The CDK stack and the local cloud both create tables from
 * these specs, and the data layer reads their names from the environment: nothing is defined twice.
 */

export interface KeyAttribute {
  name: string;
  type: "S" | "N";
}

export interface IndexSpec {
  indexName: string;
  partitionKey: KeyAttribute;
  sortKey?: KeyAttribute;
  /**
   * What the index holds of each item (default ALL). KEYS_ONLY or a few INCLUDEd attributes for an index
   * over large or often-written items (a host item holds its claims): DynamoDB writes an index entry only
   * when an attribute it projects changes, and each entry costs write units by its own size. A reader of
   * such an index re-reads the items it found by key (consistently) before deciding anything.
   */
  projection?: "ALL" | "KEYS_ONLY" | { include: string[] };
}

/** The DynamoDB actions a store reads with (GetItem, BatchGetItem, Query, Scan) and writes with. */
export type TableReadAction = "GetItem" | "BatchGetItem" | "Query" | "Scan";
export type TableWriteAction = "PutItem" | "UpdateItem" | "DeleteItem";

export interface TableSpec {
  /** Logical id, used for the environment variable and the CDK construct id. */
  id: TableId;
  /**
   * The actions its stores call (test/unit/cdk/least-privilege.test.ts reads the stores and fails on a
   * difference): a function with "read" access to the table is granted `read`, one with "write" `read`
   * and `write`, one with "remove" also `remove` (deleting a record outright: host deregistration).
   */
  actions: {
    read: readonly TableReadAction[];
    write: readonly TableWriteAction[];
    remove?: readonly TableWriteAction[];
  };
  partitionKey: KeyAttribute;
  sortKey?: KeyAttribute;
  globalIndexes: IndexSpec[];
  /** A Number attribute holding epoch seconds after which DynamoDB may delete the item (TTL). */
  timeToLiveAttribute?: string;
}

export const TABLE_IDS = [
  "instances",
  "hosts",
  "migrations",
  "faults",
  "ports",
  "volumes",
  "outbox",
  "idempotency",
  "recoveries",
  "leases",
  "fleet",
  "actions",
] as const;
export type TableId = (typeof TABLE_IDS)[number];

/**
 * What the scheduler's indexes project of each host: every field its filters and RAM weigher read, nothing
 * that changes without changing placement (no version, no claims, no power log). The claim re-checks on the
 * item itself what it relies on (the host still schedulable and as weighed: hosts-store.ts).
 */
export const PLACEMENT_FIELDS = [
  "managedInstanceId",
  "virtType",
  "supportsRecreate",
  "availabilityZone",
  "capacity",
  "allocationRatios",
  "usage",
  "antiAffinity",
  "enabled",
  "disabledReason",
  "forcedDown",
  "status",
  "lastHeartbeatAt",
  "storage",
  // LiveMigrationFilter: a live migration's (and a drain plan's) target must take one.
  "liveMigration",
] as const;

export const INDEX = {
  instancesByHost: "by-host",
  migrationsByInstance: "by-instance",
  migrationsBySourceHost: "by-source-host",
  portsByInstance: "by-instance",
  recoveriesByInstance: "by-instance",
  recoveriesByHost: "by-host",
  /** Schedulable hosts of a zone (enabled, up, not forced down), by free RAM: the scheduler's candidates. */
  hostsByZoneFree: "by-zone-free",
  /** Schedulable hosts of a zone's shared pool, by free RAM (a shared-disk evacuation stays in its pool). */
  hostsByPoolFree: "by-pool-free",
  /** Hosts that look dead (status down, or a suspect incident), by since when: the mass-failure guard. */
  hostsBySuspect: "by-suspect",
  /** A host by its managed instance (registration refuses a second name for one node). */
  hostsByManagedInstance: "by-managed-instance",
  /** Instances holding a task, sharded, by when the task was taken: what the sweeper looks at. */
  instancesByHeldTask: "by-held-task",
  /** The members of a server group (the scheduler's group policies: where the other members are). */
  instancesByServerGroup: "by-server-group",
  actionsByInstance: "by-instance",
  /** Create actions whose build is not placed (building, or failed before a host): sweeper, server list. */
  actionsByUnplacedBuild: "by-unplaced-build",
} as const;

export const TABLE_SPECS: Record<TableId, TableSpec> = {
  instances: {
    id: "instances",
    actions: { read: ["GetItem", "BatchGetItem", "Query", "Scan"], write: ["PutItem", "UpdateItem"] },
    partitionKey: { name: "uuid", type: "S" },
    globalIndexes: [
      { indexName: INDEX.instancesByHost, partitionKey: { name: "host", type: "S" } },
      {
        // Sparse: `taskShard` exists only while the instance holds a task (instances-store.ts).
        indexName: INDEX.instancesByHeldTask,
        partitionKey: { name: "taskShard", type: "S" },
        sortKey: { name: "taskSince", type: "S" },
        projection: "KEYS_ONLY",
      },
      {
        // Sparse: `serverGroupId` exists only for an instance in a server group.
        indexName: INDEX.instancesByServerGroup,
        partitionKey: { name: "serverGroupId", type: "S" },
        projection: "KEYS_ONLY",
      },
    ],
  },
  /**
   * Host items carry top-level attributes that exist for the indexes only (shared/store/host-index.ts):
   * `placementZone`, `placementPool` (present while the host is schedulable), `freeRamMiB`, `suspect` and
   * `suspectSince` (present while the host looks dead). No index projects the items' claims.
   */
  hosts: {
    id: "hosts",
    actions: {
      read: ["GetItem", "BatchGetItem", "Query", "Scan"],
      write: ["PutItem", "UpdateItem"],
      remove: ["DeleteItem"],
    },
    partitionKey: { name: "name", type: "S" },
    globalIndexes: [
      {
        indexName: INDEX.hostsByZoneFree,
        partitionKey: { name: "placementZone", type: "S" },
        sortKey: { name: "freeRamMiB", type: "N" },
        projection: { include: [...PLACEMENT_FIELDS] },
      },
      {
        indexName: INDEX.hostsByPoolFree,
        partitionKey: { name: "placementPool", type: "S" },
        sortKey: { name: "freeRamMiB", type: "N" },
        projection: { include: [...PLACEMENT_FIELDS] },
      },
      {
        indexName: INDEX.hostsBySuspect,
        partitionKey: { name: "suspect", type: "S" },
        sortKey: { name: "suspectSince", type: "S" },
        projection: { include: ["status", "incident"] },
      },
      {
        indexName: INDEX.hostsByManagedInstance,
        partitionKey: { name: "managedInstanceId", type: "S" },
        projection: "KEYS_ONLY",
      },
    ],
  },
  migrations: {
    id: "migrations",
    actions: { read: ["GetItem", "Query", "Scan"], write: ["PutItem", "UpdateItem"] },
    partitionKey: { name: "id", type: "S" },
    globalIndexes: [
      {
        indexName: INDEX.migrationsByInstance,
        partitionKey: { name: "instanceUuid", type: "S" },
        sortKey: { name: "createdAt", type: "S" },
      },
      {
        indexName: INDEX.migrationsBySourceHost,
        partitionKey: { name: "sourceHost", type: "S" },
        sortKey: { name: "createdAt", type: "S" },
      },
    ],
  },
  faults: {
    id: "faults",
    actions: { read: ["Query"], write: ["PutItem"] },
    partitionKey: { name: "instanceUuid", type: "S" },
    sortKey: { name: "faultKey", type: "S" },
    globalIndexes: [],
  },
  ports: {
    id: "ports",
    // DeleteItem: a port made for an instance goes with it (releaseFrom); Scan: the store's list (audits).
    actions: { read: ["GetItem", "Query", "Scan"], write: ["PutItem", "UpdateItem", "DeleteItem"] },
    partitionKey: { name: "id", type: "S" },
    globalIndexes: [{ indexName: INDEX.portsByInstance, partitionKey: { name: "instanceUuid", type: "S" } }],
  },
  volumes: {
    id: "volumes",
    // DeleteItem: a volume made for an instance goes with it; Scan: the store's list (audits).
    actions: { read: ["GetItem", "Scan"], write: ["PutItem", "UpdateItem", "DeleteItem"] },
    partitionKey: { name: "id", type: "S" },
    globalIndexes: [],
  },
  outbox: {
    id: "outbox",
    actions: { read: ["Scan"], write: ["PutItem", "DeleteItem"] },
    partitionKey: { name: "id", type: "S" },
    globalIndexes: [],
  },
  /** The API's answers to mutating requests, by idempotency key (shared/store/idempotency-store.ts). */
  idempotency: {
    id: "idempotency",
    actions: { read: ["GetItem"], write: ["PutItem", "UpdateItem", "DeleteItem"] },
    partitionKey: { name: "key", type: "S" },
    globalIndexes: [],
    timeToLiveAttribute: "expiresAt",
  },
  /** Instance recoveries, one per crash (shared/store/recoveries-store.ts). */
  recoveries: {
    id: "recoveries",
    actions: { read: ["GetItem", "Query"], write: ["PutItem", "UpdateItem"] },
    partitionKey: { name: "id", type: "S" },
    globalIndexes: [
      {
        indexName: INDEX.recoveriesByInstance,
        partitionKey: { name: "instanceUuid", type: "S" },
        sortKey: { name: "detectedAt", type: "S" },
      },
      {
        indexName: INDEX.recoveriesByHost,
        partitionKey: { name: "host", type: "S" },
        sortKey: { name: "detectedAt", type: "S" },
      },
    ],
  },
  /**
   * One item per scheduled function while one of its runs holds the lease (shared/store/leases-store.ts):
   * a run that finds it held does nothing. Expired leases are deleted by DynamoDB itself.
   */
  leases: {
    id: "leases",
    actions: { read: [], write: ["PutItem", "DeleteItem"] },
    partitionKey: { name: "name", type: "S" },
    globalIndexes: [],
    timeToLiveAttribute: "expiresAtEpoch",
  },
  /**
   * Small records about the fleet as a whole (shared/store/fleet-store.ts): its host count (the mass-failure
   * guard's denominator), which hosts reach each BMC network (the fence's delegates), the fleet sync's
   * place in the hosts table. One item per fact, so no read of it grows with the fleet.
   */
  fleet: {
    id: "fleet",
    actions: { read: ["GetItem", "Query"], write: ["PutItem", "UpdateItem", "DeleteItem"] },
    partitionKey: { name: "set", type: "S" },
    sortKey: { name: "member", type: "S" },
    globalIndexes: [],
  },
  /** Instance actions without a migration (create, delete, reboot, ...) and builds not yet placed. */
  actions: {
    id: "actions",
    actions: { read: ["GetItem", "Query"], write: ["PutItem", "UpdateItem"] },
    partitionKey: { name: "id", type: "S" },
    globalIndexes: [
      {
        indexName: INDEX.actionsByInstance,
        partitionKey: { name: "instanceUuid", type: "S" },
        sortKey: { name: "startTime", type: "S" },
      },
      {
        // Sparse: only a build not placed carries `unplacedBuild` (its status), so no reader scans history.
        indexName: INDEX.actionsByUnplacedBuild,
        partitionKey: { name: "unplacedBuild", type: "S" },
        sortKey: { name: "startTime", type: "S" },
      },
    ],
  },
};

/** `LAZARUS_TABLE_INSTANCES`, `LAZARUS_TABLE_HOSTS`, ... */
export function tableEnvVar(id: TableId): string {
  return `LAZARUS_TABLE_${id.toUpperCase()}`;
}

export type TableNames = Record<TableId, string>;

/** The deployment prefix (LAZARUS_TABLE_PREFIX) when none is set: tables, functions and machines `lazarus-<id>`. */
export const DEFAULT_PREFIX = "lazarus";

/** Table names from the environment, each defaulting to `<prefix>-<id>` (unset or empty: the default). */
export function tableNamesFromEnv(env: NodeJS.ProcessEnv = process.env): TableNames {
  const prefix = env.LAZARUS_TABLE_PREFIX?.trim() || DEFAULT_PREFIX;
  const names = {} as TableNames;
  for (const id of TABLE_IDS) names[id] = env[tableEnvVar(id)]?.trim() || `${prefix}-${id}`;
  return names;
}
