/**
 * nova's checks before a delete (`compute/api.py` delete), as one pure function shared by the API (which
 * refuses synchronously and starts nothing) and the delete flow's AcceptDelete: the instance exists, is not
 * locked, no flow holds it, and its host answers (Lazarus deletes on the host, never "locally": a copy left
 * defined on a host that is down would come back with it).
 */
import {
  ComputeServiceUnavailable,
  InstanceInvalidState,
  InstanceIsLocked,
  InstanceNotFound,
} from "../domain/errors.js";
import { isHostUp } from "../domain/host-liveness.js";
import type { Host, Instance } from "../domain/schemas.js";

export function assertDeletable(
  instance: Instance | null,
  host: Host | null,
  clock: { now: Date; serviceDownSeconds: number },
  uuid: string,
): asserts instance is Instance {
  if (!instance || instance.vmState === "deleted")
    throw new InstanceNotFound(`Instance ${uuid} could not be found.`, { instanceUuid: uuid });
  if (instance.locked) throw new InstanceIsLocked(`Instance ${uuid} is locked`, { instanceUuid: uuid });
  if (instance.taskState !== null) {
    throw new InstanceInvalidState(
      `Cannot 'delete' instance ${uuid} while it is in task_state ${instance.taskState}`,
      { taskState: instance.taskState },
    );
  }
  if (!host || !isHostUp(host, clock.now, clock.serviceDownSeconds)) {
    throw new ComputeServiceUnavailable(
      `Compute service of ${instance.host} is down: the instance cannot be deleted there now. Evacuate it, or wait until the host is back.`,
      { host: instance.host },
    );
  }
}
