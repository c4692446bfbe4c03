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
}

export interface TableSpec {
  /** Logical id, used for the environment variable and the CDK construct id. */
  id: TableId;
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
  "actions",
] as const;
export type TableId = (typeof TABLE_IDS)[number];

export const INDEX = {
  instancesByHost: "by-host",
  migrationsByInstance: "by-instance",
  migrationsBySourceHost: "by-source-host",
  portsByInstance: "by-instance",
  recoveriesByInstance: "by-instance",
  recoveriesByHost: "by-host",
  actionsByInstance: "by-instance",
} as const;

export const TABLE_SPECS: Record<TableId, TableSpec> = {
  instances: {
    id: "instances",
    partitionKey: { name: "uuid", type: "S" },
    globalIndexes: [{ indexName: INDEX.instancesByHost, partitionKey: { name: "host", type: "S" } }],
  },
  hosts: {
    id: "hosts",
    partitionKey: { name: "name", type: "S" },
    globalIndexes: [],
  },
  migrations: {
    id: "migrations",
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
    partitionKey: { name: "instanceUuid", type: "S" },
    sortKey: { name: "faultKey", type: "S" },
    globalIndexes: [],
  },
  ports: {
    id: "ports",
    partitionKey: { name: "id", type: "S" },
    globalIndexes: [{ indexName: INDEX.portsByInstance, partitionKey: { name: "instanceUuid", type: "S" } }],
  },
  volumes: {
    id: "volumes",
    partitionKey: { name: "id", type: "S" },
    globalIndexes: [],
  },
  outbox: {
    id: "outbox",
    partitionKey: { name: "id", type: "S" },
    globalIndexes: [],
  },
  /** The API's answers to mutating requests, by idempotency key (shared/store/idempotency-store.ts). */
  idempotency: {
    id: "idempotency",
    partitionKey: { name: "key", type: "S" },
    globalIndexes: [],
    timeToLiveAttribute: "expiresAt",
  },
  /** Instance recoveries, one per crash (shared/store/recoveries-store.ts). */
  recoveries: {
    id: "recoveries",
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
  /** Instance actions without a migration (create, delete, reboot, ...) and builds not yet placed. */
  actions: {
    id: "actions",
    partitionKey: { name: "id", type: "S" },
    globalIndexes: [
      {
        indexName: INDEX.actionsByInstance,
        partitionKey: { name: "instanceUuid", type: "S" },
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
