/**
 * Instance actions (table `actions`, nova's instance_actions): one record per request that is not a
 * migration, keyed by its request id, so a retried step or request finds its own record. Events are
 * appended by name (a retried step replaces its own event instead of adding a second). A create action
 * carries the build until the boot flow placed the instance on a host (shared/domain/schemas.ts).
 */
import type { z } from "zod";
import { ConcurrentUpdate } from "../domain/errors.js";
import { InstanceAction, type InstanceActionEvent } from "../domain/schemas.js";
import { definedOnly, Expr, parseInput, parseStored, type StoreDeps, scanAll } from "./dynamo-util.js";
import { RecordStore } from "./table-store.js";
import { INDEX } from "./tables.js";

export type ActionOpening = Omit<z.input<typeof InstanceAction>, "updatedAt" | "version">;

const actionNotFound = (id: string) => new ConcurrentUpdate(`action ${id} does not exist`, { actionId: id });

export class ActionsStore extends RecordStore<typeof InstanceAction> {
  constructor(deps: StoreDeps) {
    super(deps, "actions", { schema: InstanceAction, what: "action", notFound: actionNotFound });
  }

  /** Records the action unless one with its id exists (a retry): either way, the record as stored. */
  async open(action: ActionOpening): Promise<InstanceAction> {
    const record = parseInput(
      InstanceAction,
      { ...action, updatedAt: this.now().toISOString(), version: 0 },
      "action",
    );
    const put = await this.putIfAbsent(record);
    if (put.written) return record;
    if (!put.existing) throw actionNotFound(record.id);
    return parseStored(InstanceAction, put.existing, "action");
  }

  /**
   * Apply `change` to the current record and write it conditionally on its version; a lost race re-reads
   * and applies it again (it must be a function of the record).
   */
  async update(
    id: string,
    change: (current: InstanceAction) => Partial<InstanceAction>,
  ): Promise<InstanceAction> {
    return this.changeRecord(
      id,
      (current) => {
        const next = definedOnly(
          parseInput(
            InstanceAction,
            {
              ...current,
              ...change(current),
              id,
              updatedAt: this.now().toISOString(),
              version: current.version + 1,
            },
            "action",
          ),
        ) as InstanceAction;
        const x = new Expr();
        const sets = Object.entries(next)
          .filter(([k]) => k !== "id")
          .map(([k, v]) => `${x.name(k)} = ${x.value(v)}`);
        return {
          UpdateExpression: `SET ${sets.join(", ")}`,
          ConditionExpression: `${x.name("version")} = ${x.value(current.version)}`,
          ...x.attributes(),
          expectedResult: next,
        };
      },
      { actionId: id },
    );
  }

  /** Adds (or replaces, by its name) an event; `message` "Error" when `failed`. */
  async event(
    id: string,
    event: InstanceActionEvent,
    opts: { failed?: boolean } = {},
  ): Promise<InstanceAction> {
    return this.update(id, (current) => ({
      events: [...current.events.filter((e) => e.event !== event.event), event],
      ...(opts.failed ? { message: "Error" } : {}),
    }));
  }

  /** An instance's actions, oldest first (GSI by-instance on startTime; eventually consistent in AWS). */
  listByInstance(instanceUuid: string): Promise<InstanceAction[]> {
    return this.queryIndex(InstanceAction, "action", INDEX.actionsByInstance, "instanceUuid", instanceUuid);
  }

  /** Create actions whose build has no instance record yet, or failed before one (a consistent scan). */
  async unplacedBuilds(): Promise<InstanceAction[]> {
    const items = await scanAll(this.doc, { TableName: this.table, ConsistentRead: true });
    return items
      .map((i) => this.parse(i))
      .filter((a) => a.build !== null && (a.build.status === "building" || a.build.status === "failed"));
  }
}
