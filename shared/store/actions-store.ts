/**
 * Instance actions (table `actions`, nova's instance_actions): one record per request that is not a
 * migration, keyed by its request id, so a retried step or request finds its own record. Events are
 * appended by name (a retried step replaces its own event instead of adding a second). A create action
 * carries the build until the boot flow placed the instance on a host (shared/domain/schemas.ts).
 */

import { QueryCommand } from "@aws-sdk/lib-dynamodb";
import type { z } from "zod";
import { ConcurrentUpdate } from "../domain/errors.js";
import { InstanceAction, type InstanceActionEvent } from "../domain/schemas.js";
import { definedOnly, Expr, type Item, parseInput, parseStored, type StoreDeps } from "./dynamo-util.js";
import { RecordStore } from "./table-store.js";
import { INDEX } from "./tables.js";

export type ActionOpening = Omit<z.input<typeof InstanceAction>, "updatedAt" | "version">;

/** Build statuses of a create action not placed on a host: what the by-unplaced-build index holds. */
const UNPLACED_BUILD_STATUSES = ["building", "failed"] as const;

/** The by-unplaced-build index key of an action: its build's status while not placed, else none. */
function unplacedBuildKey(a: InstanceAction): string | undefined {
  const status = a.build?.status;
  return (UNPLACED_BUILD_STATUSES as readonly string[]).includes(status ?? "") ? status : undefined;
}

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
    const put = await this.putIfAbsent(this.toItem(record));
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
        // The sparse index's key follows the build's status.
        const key = unplacedBuildKey(next);
        if (key) sets.push(`${x.name("unplacedBuild")} = ${x.value(key)}`);
        return {
          UpdateExpression: `SET ${sets.join(", ")}${key ? "" : ` REMOVE ${x.name("unplacedBuild")}`}`,
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

  /**
   * Create actions whose build has no instance record yet, or failed before one: the sparse index
   * by-unplaced-build (only those carry its key), never the table. Eventually consistent in AWS: a build
   * placed a moment ago may still be listed (its readers check the instance record by key).
   */
  async unplacedBuilds(): Promise<InstanceAction[]> {
    const out: InstanceAction[] = [];
    for (const status of UNPLACED_BUILD_STATUSES) {
      let start: Record<string, unknown> | undefined;
      do {
        const page = await this.doc.send(
          new QueryCommand({
            TableName: this.table,
            IndexName: INDEX.actionsByUnplacedBuild,
            KeyConditionExpression: "#k = :k",
            ExpressionAttributeNames: { "#k": "unplacedBuild" },
            ExpressionAttributeValues: { ":k": status },
            ExclusiveStartKey: start,
          }),
        );
        for (const item of page.Items ?? []) {
          const action = this.parse(item);
          if (unplacedBuildKey(action)) out.push(action);
        }
        start = page.LastEvaluatedKey;
      } while (start);
    }
    return out;
  }

  /** The item of an action: with its by-unplaced-build key while its build is not placed. */
  protected override toItem(record: InstanceAction): Item {
    const key = unplacedBuildKey(record);
    return key ? { ...record, unplacedBuild: key } : (record as Item);
  }
}
