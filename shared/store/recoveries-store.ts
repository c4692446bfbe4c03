/**
 * Instance recoveries (table `recoveries`, shared/domain/instance-failure.ts): one record per crash, keyed
 * by the id derived from the crash, so that opening it is the conditional write that lets one delivery of
 * a crash report recover the instance and every other delivery find it open. Changes are conditional on
 * the version read (a lost race re-reads and re-applies).
 */
import type { z } from "zod";
import { ConcurrentUpdate } from "../domain/errors.js";
import { Recovery } from "../domain/schemas.js";
import { definedOnly, Expr, parseInput, parseStored, type StoreDeps } from "./dynamo-util.js";
import { RecordStore } from "./table-store.js";
import { INDEX } from "./tables.js";

export type RecoveryOpening = Omit<z.input<typeof Recovery>, "updatedAt" | "version">;

/** A recovery that is not there: the flow that asked for it lost a race with its removal (never, today). */
const recoveryNotFound = (id: string) =>
  new ConcurrentUpdate(`recovery ${id} does not exist`, { recoveryId: id });

export class RecoveriesStore extends RecordStore<typeof Recovery> {
  constructor(deps: StoreDeps) {
    super(deps, "recoveries", { schema: Recovery, what: "recovery", notFound: recoveryNotFound });
  }

  /** Create the recovery unless one with its id exists: `{opened: false}` returns the existing one. */
  async open(recovery: RecoveryOpening): Promise<{ opened: boolean; recovery: Recovery }> {
    const record = parseInput(
      Recovery,
      { ...recovery, updatedAt: this.now().toISOString(), version: 0 },
      "recovery",
    );
    const put = await this.putIfAbsent(record);
    if (put.written) return { opened: true, recovery: record };
    if (!put.existing) throw recoveryNotFound(record.id);
    return { opened: false, recovery: parseStored(Recovery, put.existing, "recovery") };
  }

  /**
   * Apply `change` to the current record and write it conditionally on its version; a lost race re-reads
   * and applies `change` again (it must be a function of the record, e.g. "append this attempt unless there").
   */
  async update(id: string, change: (current: Recovery) => Partial<Recovery>): Promise<Recovery> {
    return this.changeRecord(
      id,
      (current) => {
        const next = definedOnly(
          parseInput(
            Recovery,
            {
              ...current,
              ...change(current),
              id,
              updatedAt: this.now().toISOString(),
              version: current.version + 1,
            },
            "recovery",
          ),
        ) as Recovery;
        // The whole record replaced, as of the version read: what `change` dropped is removed.
        const x = new Expr();
        const sets = Object.entries(next)
          .filter(([k]) => k !== "id")
          .map(([k, v]) => `${x.name(k)} = ${x.value(v)}`);
        const removes = Object.keys(current)
          .filter((k) => !(k in next))
          .map((k) => x.name(k));
        return {
          UpdateExpression: `SET ${sets.join(", ")}${removes.length > 0 ? ` REMOVE ${removes.join(", ")}` : ""}`,
          ConditionExpression: `${x.name("version")} = ${x.value(current.version)}`,
          ...x.attributes(),
          expectedResult: next,
        };
      },
      { recoveryId: id },
    );
  }

  /** An instance's recoveries, oldest first (GSI by-instance on detectedAt). */
  listByInstance(instanceUuid: string): Promise<Recovery[]> {
    return this.queryIndex(Recovery, "recovery", INDEX.recoveriesByInstance, "instanceUuid", instanceUuid);
  }

  /** A host's crash reports, oldest first (GSI by-host on detectedAt): the storm guard counts them. */
  listByHost(host: string): Promise<Recovery[]> {
    return this.queryIndex(Recovery, "recovery", INDEX.recoveriesByHost, "host", host);
  }
}
