import type { Instance } from "../domain/schemas.js";
import { assertNotBeingEnded, type TaskState } from "../domain/states.js";
import type { StepDeps } from "./deps.js";

/**
 * Moves the instance's task_state `from` -> `to` (nova's save(expected_task_state=from)). A step retried after
 * it already made this move finds `to` in place, owned by the same request, and changes nothing. `known`:
 * the instance as the step last read or wrote it (not read again; the write is conditional on its version).
 * Refused (UnexpectedTaskState) once another party has taken the ending of the flow (a host evacuation, the
 * sweeper: shared/flow/task-ending.ts): the step must not act on hosts the ender is asking about. A step
 * already past its move when the ending is taken is the window that remains; the ender's probes and the
 * disk lock cover it.
 */
export async function advanceTaskState(
  deps: StepDeps,
  instanceUuid: string,
  requestId: string,
  from: TaskState,
  to: TaskState,
  set: Partial<Pick<Instance, "powerState">> = {},
  known?: Instance,
): Promise<Instance> {
  const current = known ?? (await deps.stores.instances.require(instanceUuid));
  if (current.taskState === to && current.taskRequestId === requestId && from !== to) {
    // A retried step: the move is made; it may go on only while nobody is ending its flow (as the step
    // read the record at its start).
    assertNotBeingEnded(current);
    return current;
  }
  return deps.stores.instances.update(
    instanceUuid,
    {
      expectTaskState: [from],
      expectTaskRequestId: requestId,
      expectNotBeingEnded: true,
      set: { taskState: to, ...set },
    },
    current,
  );
}
