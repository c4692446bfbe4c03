/** Migration records (nova's `migrations` table): status changes checked by states.ts, conditional on the status read. */

import { isDeepStrictEqual } from "node:util";
import { z } from "zod";
import { ConcurrentUpdate, MigrationNotFound } from "../domain/errors.js";
import { Migration, MigrationFollowUp } from "../domain/schemas.js";
import { assertMigrationTransition, canMigrationTransition, type MigrationStatus } from "../domain/states.js";
import { ResourceName } from "../domain/values.js";
import { definedOnly, Expr, parseInput, type StoreDeps, scanAll } from "./dynamo-util.js";
import { RecordStore } from "./table-store.js";
import { INDEX } from "./tables.js";

export const MigrationPatch = z.object({
  destHost: ResourceName.nullable().optional(),
  destNode: ResourceName.nullable().optional(),
  error: z.string().nullable().optional(),
  attemptedHosts: z.array(ResourceName).optional(),
  // No default here: a patch that does not name them must not write them.
  followUps: z.array(MigrationFollowUp).optional(),
});
export type MigrationPatch = z.infer<typeof MigrationPatch>;

const migrationNotFound = (id: string) =>
  new MigrationNotFound(`Migration ${id} could not be found.`, { migrationId: id });

export class MigrationsStore extends RecordStore<typeof Migration> {
  constructor(deps: StoreDeps) {
    super(deps, "migrations", { schema: Migration, what: "migration", notFound: migrationNotFound });
  }

  /** Insert a migration. Re-creating an identical record is a no-op; a different one is RecordExists. */
  async create(migration: z.input<typeof Migration>): Promise<Migration> {
    return this.insert(Migration, migration, "migration", "migrationId");
  }

  /**
   * Insert a migration unless one with its id exists, whatever that one holds (a flow's record, made once
   * by the step that opens the flow: a retry of that step finds it, moved on or not, and keeps it). One
   * conditional write, no read. Returns whether it was written.
   */
  async createIfAbsent(migration: z.input<typeof Migration>): Promise<boolean> {
    const record = parseInput(Migration, migration, "migration");
    return (await this.putIfAbsent(record)).written;
  }

  /**
   * Move a migration to `to` (checked by assertMigrationTransition), setting the given fields, as a
   * write conditional on the status and version read. Already at `to` with the same values: no-op.
   * Lost a race: re-checked against what won; still allowed -> retried, else ConcurrentUpdate.
   */
  async transition(
    id: string,
    to: MigrationStatus,
    opts: {
      set?: MigrationPatch;
      /** Called with the record the transition's write replaced (not when it was already there). */
      replaced?: (previous: Migration) => void;
    } = {},
  ): Promise<Migration> {
    const patch = definedOnly(parseInput(MigrationPatch, opts.set ?? {}, "migration patch"));
    let replaced: Migration | null = null;
    const out = await this.changeRecord(
      id,
      (current, attempt) => {
        replaced = null;
        if (alreadyThere(current, to, patch)) return null;
        if (attempt === 1) assertMigrationTransition(current.status, to);
        else if (!canMigrationTransition(current.status, to)) {
          // Lost a race to another transition: not a bug in the caller, so not InvalidStateTransition.
          throw new ConcurrentUpdate(`migration ${id} changed to ${current.status} while moving to ${to}`, {
            migrationId: id,
            to,
            actual: current.status,
          });
        }
        replaced = current;
        return rewrite(current, { ...patch, status: to }, this.now());
      },
      { migrationId: id, to },
    );
    if (replaced) opts.replaced?.(replaced);
    return out;
  }

  /**
   * Names `host` as the flow's destination before the flow claims there (accepted -> pre-migrating, or a
   * pre-migrating flow moving on to another candidate): a claim is only ever made on a host its migration
   * names, so a retried Schedule and the flow's end find it by key (never by reading every host). `known`:
   * the migration as the caller last read or wrote it (not read again: the write is conditional on its
   * status and version, so a stale one costs a refused write and is decided on again as the item is).
   */
  async setDestination(
    id: string,
    host: string,
    attemptedHosts: readonly string[],
    known?: Migration,
  ): Promise<Migration> {
    const tried = parseInput(z.array(ResourceName), [...attemptedHosts], "attempted hosts");
    return this.changeRecord(
      id,
      (current, attempt) => {
        if (
          current.status === "pre-migrating" &&
          current.destHost === host &&
          isDeepStrictEqual(current.attemptedHosts, tried)
        )
          return null;
        if (current.status !== "accepted" && current.status !== "pre-migrating") {
          if (attempt === 1) assertMigrationTransition(current.status, "pre-migrating");
          throw new ConcurrentUpdate(`migration ${id} changed to ${current.status} while naming ${host}`, {
            migrationId: id,
            actual: current.status,
          });
        }
        return rewrite(
          current,
          { status: "pre-migrating", destHost: host, destNode: host, attemptedHosts: tried },
          this.now(),
        );
      },
      { migrationId: id, destHost: host },
      known,
    );
  }

  /**
   * Names `host` as the destination of a migrate flow (live or cold) before it claims there, its status
   * staying `accepted` (nova's statuses of a migration: the target is scheduled, not yet prepared): its
   * retried ScheduleMigration and its end find the claim by key. Only an `accepted` migration is named.
   */
  async nameTarget(id: string, host: string): Promise<Migration> {
    return this.changeRecord(
      id,
      (current) => {
        if (current.status !== "accepted") {
          if (current.destHost === host) return null;
          throw new ConcurrentUpdate(`migration ${id} changed to ${current.status} while naming ${host}`, {
            migrationId: id,
            actual: current.status,
          });
        }
        if (current.destHost === host) return null;
        return rewrite(current, { destHost: host, destNode: host }, this.now());
      },
      { migrationId: id, destHost: host },
    );
  }

  /** Every migration, oldest first (a consistent scan). */
  async list(): Promise<Migration[]> {
    const items = await scanAll(this.doc, { TableName: this.table, ConsistentRead: true });
    return items
      .map((i) => this.parse(i))
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  }

  /** An instance's migrations, oldest first. */
  async listByInstance(instanceUuid: string): Promise<Migration[]> {
    return this.queryIndex(Migration, "migration", INDEX.migrationsByInstance, "instanceUuid", instanceUuid);
  }

  /** Migrations away from a host, oldest first (what a returning host must clean up). */
  async listBySourceHost(host: string): Promise<Migration[]> {
    return this.queryIndex(Migration, "migration", INDEX.migrationsBySourceHost, "sourceHost", host);
  }
}

function alreadyThere(m: Migration, to: MigrationStatus, patch: MigrationPatch): boolean {
  return (
    m.status === to &&
    Object.entries(patch).every(([k, v]) => isDeepStrictEqual(m[k as keyof MigrationPatch], v))
  );
}

/**
 * The conditional write that makes `current` into itself with `changes` (its updatedAt and version moved
 * on), taken only while it is still at its status and version; `expectedResult` is the record it makes.
 */
function rewrite(current: Migration, changes: Partial<Migration>, now: Date) {
  const next = parseInput(
    Migration,
    { ...current, ...changes, updatedAt: now.toISOString(), version: current.version + 1 },
    "migration",
  );
  const x = new Expr();
  const fields = [...Object.keys(changes), "updatedAt", "version"] as (keyof Migration)[];
  return {
    UpdateExpression: `SET ${fields.map((f) => `${x.name(f)} = ${x.value(next[f])}`).join(", ")}`,
    ConditionExpression: `${x.name("status")} = ${x.value(current.status)} AND ${x.name("version")} = ${x.value(current.version)}`,
    ...x.attributes(),
    expectedResult: next,
  };
}
