/**
 * Instances. Every state change is one conditional UpdateItem on the version that was read (and on
 * the expected task_state), after states.ts has allowed the transition: two flows can never both
 * move an instance out of "no task" (nova's `expected_task_state=[None]`).
 *
 * `taskState: null` is stored as a DynamoDB NULL, so a condition can test it with `attribute_type`.
 */

import { BatchGetCommand, QueryCommand, type QueryCommandInput, ScanCommand } from "@aws-sdk/lib-dynamodb";
import type { z } from "zod";
import {
  ConcurrentUpdate,
  InstanceInvalidState,
  InstanceNotFound,
  UnexpectedTaskState,
} from "../domain/errors.js";
import { Instance } from "../domain/schemas.js";
import {
  assertNotBeingEnded,
  assertTaskTransition,
  assertVmTransition,
  type TaskState,
  type VmState,
} from "../domain/states.js";
import {
  definedOnly,
  Expr,
  type Item,
  parseInput,
  queryAll,
  type StoreDeps,
  scanAll,
  updateExpression,
} from "./dynamo-util.js";
import { RecordStore } from "./table-store.js";
import { INDEX } from "./tables.js";

/**
 * Shards of the by-held-task index: a mass failure takes tens of thousands of tasks within minutes, and one
 * index partition takes about 1,000 writes a second; the sweeper reads every shard (docs/SCALE.md).
 */
export const TASK_SHARDS = 8;

/** The shard of an instance's held task (a stable hash of its uuid). */
export function taskShard(uuid: string): string {
  let h = 2166136261;
  for (const ch of uuid) h = Math.imul(h ^ ch.charCodeAt(0), 16777619);
  return String((h >>> 0) % TASK_SHARDS);
}

/** The index attributes of an instance item (sparse: present only when they say something). */
function instanceIndexAttributes(i: Instance): Item {
  return {
    ...(i.taskState !== null ? { taskShard: taskShard(i.uuid), taskSince: i.updatedAt } : {}),
    ...(i.serverGroup !== null ? { serverGroupId: i.serverGroup.id } : {}),
  };
}

/** A held task as the by-held-task index lists it. */
export interface HeldTask {
  uuid: string;
  taskSince: string;
}

/** Everything but the identity and the bookkeeping the store maintains itself. */
export type InstanceMutableFields = Omit<Instance, "uuid" | "createdAt" | "updatedAt" | "version">;

export interface InstanceUpdate {
  /** Refuse (UnexpectedTaskState) unless the current task_state is one of these; `null` = no task. */
  expectTaskState?: readonly (TaskState | null)[];
  /** Refuse (UnexpectedTaskState) unless the current task is owned by this flow request (`null` = by none). */
  expectTaskRequestId?: string | null;
  /** Refuse (InstanceInvalidState) unless the current vm_state is one of these. */
  expectVmState?: readonly VmState[];
  /**
   * Refuse (UnexpectedTaskState) while another party is ending the current task's flow (its
   * `taskEnding`, shared/flow/task-ending.ts): the flow's own steps no longer act once it is taken.
   */
  expectNotBeingEnded?: boolean;
  /** Refuse (ConcurrentUpdate) unless the record is still at this version. Without it, a write that
   * lost a race to an unrelated change is re-read, re-checked and retried (bounded). */
  expectVersion?: number;
  set: Partial<InstanceMutableFields>;
}

export class InstancesStore extends RecordStore<typeof Instance> {
  constructor(deps: StoreDeps) {
    super(deps, "instances", {
      schema: Instance,
      what: "instance",
      notFound: (uuid) =>
        new InstanceNotFound(`Instance ${uuid} could not be found.`, { instanceUuid: uuid }),
    });
  }

  /** Insert a new instance. Re-creating an identical record is a no-op; a different one is RecordExists. */
  async create(instance: z.input<typeof Instance>): Promise<Instance> {
    return this.insert(Instance, instance, "instance", "instanceUuid", (r) => this.toItem(r));
  }

  /** An instance item: the record and its index attributes (held task, server group). */
  protected override toItem(record: Instance): Item {
    return { ...record, ...instanceIndexAttributes(record) };
  }

  /**
   * Tasks held since `before` or earlier (the by-held-task index, every shard, oldest first per shard), at
   * most `limit` in all. Eventually consistent in AWS: the sweeper re-reads each by key before it acts.
   */
  async heldTasks(before: string, limit: number): Promise<HeldTask[]> {
    const out: HeldTask[] = [];
    for (let shard = 0; shard < TASK_SHARDS && out.length < limit; shard++) {
      let start: Record<string, unknown> | undefined;
      do {
        const page = await this.doc.send(
          new QueryCommand({
            TableName: this.table,
            IndexName: INDEX.instancesByHeldTask,
            KeyConditionExpression: "#k = :k AND #s <= :before",
            ExpressionAttributeNames: { "#k": "taskShard", "#s": "taskSince" },
            ExpressionAttributeValues: { ":k": String(shard), ":before": before },
            Limit: limit - out.length,
            ...(start ? { ExclusiveStartKey: start } : {}),
          } satisfies QueryCommandInput),
        );
        for (const i of page.Items ?? []) out.push({ uuid: String(i.uuid), taskSince: String(i.taskSince) });
        start = page.LastEvaluatedKey;
      } while (start && out.length < limit);
    }
    return out.sort((a, b) => a.taskSince.localeCompare(b.taskSince));
  }

  /** The uuids of a server group's members (by-server-group index; eventually consistent in AWS). */
  async memberUuids(serverGroupId: string): Promise<string[]> {
    const items = await queryAll(this.doc, {
      TableName: this.table,
      IndexName: INDEX.instancesByServerGroup,
      KeyConditionExpression: "#k = :k",
      ExpressionAttributeNames: { "#k": "serverGroupId" },
      ExpressionAttributeValues: { ":k": serverGroupId },
    });
    return items.map((i) => String(i.uuid));
  }

  /** Instances by uuid, each read consistently (BatchGetItem, 100 a call); missing ones left out. */
  async getMany(uuids: readonly string[]): Promise<Instance[]> {
    const unique = [...new Set(uuids)];
    const found: Instance[] = [];
    for (let i = 0; i < unique.length; i += 100) {
      let keys: Record<string, unknown>[] = unique.slice(i, i + 100).map((u) => this.keyOf(u));
      for (let attempt = 0; keys.length > 0; attempt++) {
        const out = await this.doc.send(
          new BatchGetCommand({ RequestItems: { [this.table]: { Keys: keys, ConsistentRead: true } } }),
        );
        for (const item of out.Responses?.[this.table] ?? []) found.push(this.parse(item));
        keys = (out.UnprocessedKeys?.[this.table]?.Keys ?? []) as Record<string, unknown>[];
        if (keys.length > 0) await new Promise((r) => setTimeout(r, Math.min(1000, 25 * 2 ** attempt)));
      }
    }
    return found;
  }

  /**
   * One page of instances straight from the table (a consistent Scan of at most `limit` items from the
   * instance after `after`): paged lists.
   */
  async page(opts: { limit: number; after?: string }): Promise<{ instances: Instance[]; last?: string }> {
    const out = await this.doc.send(
      new ScanCommand({
        TableName: this.table,
        ConsistentRead: true,
        Limit: opts.limit,
        ...(opts.after ? { ExclusiveStartKey: this.keyOf(opts.after) } : {}),
      }),
    );
    const instances = (out.Items ?? []).map((i) => this.parse(i));
    const last = out.LastEvaluatedKey ? String(out.LastEvaluatedKey.uuid) : undefined;
    return { instances, ...(last ? { last } : {}) };
  }

  /** Every instance (a consistent scan: the API's list pages over it; the sweeper and sync audit it). */
  async list(): Promise<Instance[]> {
    const items = await scanAll(this.doc, { TableName: this.table, ConsistentRead: true });
    return items.map((i) => this.parse(i));
  }

  /**
   * Instances on this host (GSI by-host; eventually consistent on AWS). A deleted instance's record keeps
   * the host it was deleted from, but it is on no host any more: it is not listed.
   */
  async listByHost(host: string): Promise<Instance[]> {
    const all = await this.queryIndex(Instance, "instance", INDEX.instancesByHost, "host", host);
    return all.filter((i) => i.vmState !== "deleted");
  }

  /**
   * Every instance whose record names `host` now: the by-host index (eventually consistent in AWS), each
   * listed one re-read by key (consistent; BatchGetItem, 100 a call, not one GetItem each) and kept only
   * while its record still names the host. In the index's order.
   */
  async readOnHost(host: string): Promise<Instance[]> {
    const listed = await this.listByHost(host);
    const byUuid = new Map((await this.getMany(listed.map((i) => i.uuid))).map((i) => [i.uuid, i]));
    return listed.flatMap((l) => {
      const record = byUuid.get(l.uuid);
      return record && record.host === host ? [record] : [];
    });
  }

  /**
   * Change an instance: checks the expectations, then the task/vm transitions (states.ts) from the
   * current values, then writes conditionally on the version read (and the expected task_state).
   * Returns the instance as written. `known`: the record as the caller last read or wrote it (no read then).
   */
  async update(uuid: string, update: InstanceUpdate, known?: Instance): Promise<Instance> {
    return this.changeRecord(
      uuid,
      // After a lost race, checkExpectations raises UnexpectedTaskState / InstanceInvalidState /
      // ConcurrentUpdate (expectVersion given) when it was lost for good; otherwise the write is retried.
      (current) => {
        this.checkExpectations(current, update);
        const next = this.next(current, update.set);
        return { ...this.writeOf(current, next, update), expectedResult: next };
      },
      undefined,
      known,
    );
  }

  private checkExpectations(current: Instance, update: InstanceUpdate): void {
    const { expectTaskState, expectTaskRequestId, expectVmState, expectVersion } = update;
    if (expectTaskState && !expectTaskState.includes(current.taskState)) {
      throw new UnexpectedTaskState(
        `Unexpected task state: expecting ${formatStates(expectTaskState)} but the actual state is ${String(current.taskState)}`,
        { instanceUuid: current.uuid, expected: [...expectTaskState], actual: current.taskState },
      );
    }
    if (expectTaskRequestId !== undefined && current.taskRequestId !== expectTaskRequestId) {
      throw new UnexpectedTaskState(
        `Unexpected task owner: instance ${current.uuid} is in task ${String(current.taskState)} of request ${String(current.taskRequestId)}, expected request ${String(expectTaskRequestId)}`,
        {
          instanceUuid: current.uuid,
          expectedTaskRequestId: expectTaskRequestId,
          actualTaskRequestId: current.taskRequestId,
          actual: current.taskState,
        },
      );
    }
    if (expectVmState && !expectVmState.includes(current.vmState)) {
      throw new InstanceInvalidState(
        `Instance ${current.uuid} is in vm_state ${current.vmState}; expected ${expectVmState.join(" or ")}`,
        { instanceUuid: current.uuid, expected: [...expectVmState], actual: current.vmState },
      );
    }
    if (update.expectNotBeingEnded) assertNotBeingEnded(current);
    if (expectVersion !== undefined && current.version !== expectVersion) {
      throw new ConcurrentUpdate(
        `instance ${current.uuid} changed: version ${current.version}, expected ${expectVersion}`,
        { instanceUuid: current.uuid, expected: expectVersion, actual: current.version },
      );
    }
  }

  /** The record after `set`, with the transitions checked (a field set to its current value is not a transition). */
  private next(current: Instance, set: Partial<InstanceMutableFields>): Instance {
    const patch = definedOnly(set);
    if ("taskState" in patch && patch.taskState !== current.taskState) {
      assertTaskTransition(current.taskState, patch.taskState ?? null);
    }
    if (patch.vmState !== undefined && patch.vmState !== current.vmState) {
      assertVmTransition(current.vmState, patch.vmState);
    }
    return parseInput(
      Instance,
      { ...current, ...patch, version: current.version + 1, updatedAt: this.now().toISOString() },
      "instance update",
    );
  }

  private writeOf(current: Instance, next: Instance, update: InstanceUpdate) {
    const x = new Expr();
    const fields = [...Object.keys(definedOnly(update.set)), "updatedAt", "version"] as (keyof Instance)[];
    const sets = fields.map((f) => `${x.name(f)} = ${x.value(next[f])}`);
    const removes: string[] = [];
    // The index attributes follow the task (taken: its shard and time; released: gone) and the group.
    if ((current.taskState === null) !== (next.taskState === null)) {
      const after = instanceIndexAttributes(next);
      for (const a of ["taskShard", "taskSince"])
        if (after[a] === undefined) removes.push(x.name(a));
        else sets.push(`${x.name(a)} = ${x.value(after[a])}`);
    }
    if (current.serverGroup?.id !== next.serverGroup?.id) {
      if (next.serverGroup === null) removes.push(x.name("serverGroupId"));
      else sets.push(`${x.name("serverGroupId")} = ${x.value(next.serverGroup.id)}`);
    }
    let condition = `${x.name("version")} = ${x.value(current.version)}`;
    if (update.expectTaskState) condition += ` AND (${taskStateCondition(x, update.expectTaskState)})`;
    if (update.expectTaskRequestId !== undefined) {
      const owner = x.name("taskRequestId");
      condition +=
        update.expectTaskRequestId === null
          ? ` AND (attribute_not_exists(${owner}) OR attribute_type(${owner}, ${x.value("NULL")}))`
          : ` AND ${owner} = ${x.value(update.expectTaskRequestId)}`;
    }
    return {
      UpdateExpression: updateExpression(sets, removes),
      ConditionExpression: condition,
      ...x.attributes(),
    };
  }
}

function taskStateCondition(x: Expr, expected: readonly (TaskState | null)[]): string {
  const ts = x.name("taskState");
  const terms: string[] = [];
  const named = expected.filter((s): s is TaskState => s !== null);
  if (named.length > 0) terms.push(`${ts} IN (${named.map((s) => x.value(s)).join(", ")})`);
  if (expected.includes(null)) {
    terms.push(`attribute_type(${ts}, ${x.value("NULL")})`, `attribute_not_exists(${ts})`);
  }
  // An empty expectation never reaches a write (checkExpectations refuses it first).
  return terms.length > 0 ? terms.join(" OR ") : `attribute_exists(${x.name("__never__")})`;
}

function formatStates(states: readonly (TaskState | null)[]): string {
  return `[${states.map((s) => String(s)).join(", ")}]`;
}
