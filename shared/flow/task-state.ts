import type { Instance } from "../domain/schemas.js";
import type { TaskState } from "../domain/states.js";
import type { StepDeps } from "./deps.js";

/**
 * Moves the instance's task_state `from` -> `to` (nova's save(expected_task_state=from)). A step retried after
 * it already made this move finds `to` in place, owned by the same request, and changes nothing. `known`:
 * the instance as the step last read or wrote it (not read again; the write is conditional on its version).
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
  if (current.taskState === to && current.taskRequestId === requestId && from !== to) return current;
  return deps.stores.instances.update(
    instanceUuid,
    { expectTaskState: [from], expectTaskRequestId: requestId, set: { taskState: to, ...set } },
    current,
  );
}
