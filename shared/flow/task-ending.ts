/**
 * One ender per unfinished flow. A migrate flow that did not finish can be ended by three parties: its own
 * failure handler, a host evacuation (the flow was moving an instance off the host that died) and the
 * sweeper (its execution ended without its handler). Ending one means asking both hosts where the guest is,
 * then acting on what they said: cleaning a host, starting the guest at home, committing the move. Two
 * enders at once act on answers that the other has made stale: one ender released the task, a host
 * evacuation rebuilt the instance on the target, then the other, whose probe of the dead host had only just
 * timed out, found "a domain on the target" and removed the evacuated instance's domain (a lost instance,
 * seen in a fresh-clone run of test/hosts/host-drain.test.ts).
 *
 * So an ender first takes the ending: a conditional write on the instance (`Instance.taskEnding`), made only
 * while the task is still the flow's and no other ender holds it. A holder that can no longer act gives
 * way to an ender allowed to take over (`holderMayAct`). The same ender taking it again (a retried
 * invocation) renews it.
 * Releasing the task (endFlow, commitMove) releases the ending with it.
 */
import { ConcurrentUpdate, UnexpectedTaskState } from "../domain/errors.js";
import type { Instance } from "../domain/schemas.js";
import { currentTaskEnding } from "../domain/states.js";
import type { StepDeps } from "./deps.js";
import { executionMayAct, STOPPED_EXECUTION_MAY_ACT_SECONDS } from "./executions.js";

export type TaskEndingTaken =
  /** This ender holds the ending; `instance` is the record as the conditional write left it. */
  | { kind: "taken"; instance: Instance }
  /** The task is no longer the flow's: someone ended it (or the flow finished). Nothing to do. */
  | { kind: "not-owned" }
  /** Another ender holds it and may still act. */
  | { kind: "held"; by: string };

export interface TaskEndingRequest {
  instanceUuid: string;
  /** The flow request whose task is being ended. */
  requestId: string;
  /** Who ends it: an execution's ARN (its own, a host evacuation's), or "sweeper". */
  ender: string;
  /** Whether this ender takes the ending over from a holder that can no longer act. */
  takeOver: boolean;
}

/** Conditional writes lost to unrelated changes of the record before the ending is given up as contended. */
const ATTEMPTS = 5;

export async function takeTaskEnding(
  deps: Pick<StepDeps, "stores" | "executions" | "now">,
  req: TaskEndingRequest,
): Promise<TaskEndingTaken> {
  for (let attempt = 1; ; attempt++) {
    const current = await deps.stores.instances.get(req.instanceUuid);
    if (!current || current.taskRequestId !== req.requestId) return { kind: "not-owned" };
    const holder = currentTaskEnding(current);
    if (holder && holder.by !== req.ender) {
      if (!req.takeOver || (await holderMayAct(deps, holder))) return { kind: "held", by: holder.by };
    }
    try {
      const instance = await deps.stores.instances.update(
        req.instanceUuid,
        {
          expectTaskRequestId: req.requestId,
          expectVersion: current.version,
          set: {
            taskEnding: { requestId: req.requestId, by: req.ender, at: deps.now().toISOString() },
          },
        },
        current,
      );
      return { kind: "taken", instance };
    } catch (e) {
      if (e instanceof UnexpectedTaskState) return { kind: "not-owned" };
      // Another write came between the read and this one (another ender's, or one that places nothing):
      // read again and decide again.
      if (e instanceof ConcurrentUpdate && attempt < ATTEMPTS) continue;
      throw e;
    }
  }
}

/**
 * Whether the holder of an ending may still be acting on the hosts (`executionMayAct`): an execution that
 * SUCCEEDED or FAILED ended through its states; one stopped (ABORTED) or TIMED_OUT may have left an
 * invocation running until Lambda's maximum after its stop. A holder that is not an execution, or one not
 * found, may act until Lambda's maximum has passed since it took the ending.
 */
async function holderMayAct(
  deps: Pick<StepDeps, "executions" | "now">,
  holder: NonNullable<Instance["taskEnding"]>,
): Promise<boolean> {
  const since = new Date(holder.at);
  if (holder.by.startsWith("arn:")) {
    const { status, mayAct } = await executionMayAct(deps.executions, holder.by, deps.now(), since);
    if (status !== "NOT_FOUND") return mayAct;
  }
  return deps.now().getTime() - since.getTime() < STOPPED_EXECUTION_MAY_ACT_SECONDS * 1000;
}
