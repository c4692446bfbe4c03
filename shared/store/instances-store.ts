/**
 * Instances. Every state change is one conditional UpdateItem on the version that was read (and on
 * the expected task_state), after states.ts has allowed the transition: two flows can never both
 * move an instance out of "no task" (nova's `expected_task_state=[None]`).
 *
 * `taskState: null` is stored as a DynamoDB NULL, so a condition can test it with `attribute_type`.
 */

import type { z } from "zod";
import {
  ConcurrentUpdate,
  InstanceInvalidState,
  InstanceNotFound,
  UnexpectedTaskState,
} from "../domain/errors.js";
import { Instance } from "../domain/schemas.js";
import { assertTaskTransition, assertVmTransition, type TaskState, type VmState } from "../domain/states.js";
import { definedOnly, Expr, parseInput, type StoreDeps, scanAll } from "./dynamo-util.js";
import { RecordStore } from "./table-store.js";
import { INDEX } from "./tables.js";

/** Everything but the identity and the bookkeeping the store maintains itself. */
export type InstanceMutableFields = Omit<Instance, "uuid" | "createdAt" | "updatedAt" | "version">;

export interface InstanceUpdate {
  /** Refuse (UnexpectedTaskState) unless the current task_state is one of these; `null` = no task. */
  expectTaskState?: readonly (TaskState | null)[];
  /** Refuse (UnexpectedTaskState) unless the current task is owned by this flow request (`null` = by none). */
  expectTaskRequestId?: string | null;
  /** Refuse (InstanceInvalidState) unless the current vm_state is one of these. */
  expectVmState?: readonly VmState[];
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
    return this.insert(Instance, instance, "instance", "instanceUuid");
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
    let condition = `${x.name("version")} = ${x.value(current.version)}`;
    if (update.expectTaskState) condition += ` AND (${taskStateCondition(x, update.expectTaskState)})`;
    if (update.expectTaskRequestId !== undefined) {
      const owner = x.name("taskRequestId");
      condition +=
        update.expectTaskRequestId === null
          ? ` AND (attribute_not_exists(${owner}) OR attribute_type(${owner}, ${x.value("NULL")}))`
          : ` AND ${owner} = ${x.value(update.expectTaskRequestId)}`;
    }
    return { UpdateExpression: `SET ${sets.join(", ")}`, ConditionExpression: condition, ...x.attributes() };
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
