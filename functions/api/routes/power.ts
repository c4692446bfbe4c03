/**
 * nova's `os-stop` and `os-start` server actions. The stop is what tells the instance monitor's report
 * apart from a crash: the task (powering_off, owned by this request) is taken before the domain is shut
 * down, and the record is STOPPED after, so the instance-recovery flow ignores the stop whenever it reads
 * the record (shared/domain/instance-failure.ts `classifyStop`). Both run on the instance's host through
 * SSM within the request (a clean shutdown, then destroy after the API's shutdown timeout) and answer 202.
 * A failure releases the task and leaves vm_state as it was.
 */
import { InstanceInvalidState, InstanceIsLocked } from "#shared/domain/errors.js";
import type { Instance } from "#shared/domain/schemas.js";
import type { TaskState, VmState } from "#shared/domain/states.js";
import { notifyFlow } from "#shared/flow/notify.js";
import type { HostCommand } from "#shared/hosts/host-command.js";
import { hostTarget } from "#shared/hosts/layout.js";
import { startDomain, stopDomain } from "#shared/hosts/virsh.js";
import { ApiError, type ApiResponse, noContent } from "../http.js";
import type { RouteContext } from "../router.js";

interface PowerAction {
  name: "stop" | "start";
  from: VmState;
  task: TaskState;
  to: { vmState: VmState; powerState: Instance["powerState"] };
  events:
    | readonly ["instance.power_off.start", "instance.power_off.end"]
    | readonly ["instance.power_on.start", "instance.power_on.end"];
  command: (uuid: string, shutdownTimeoutSeconds: number) => HostCommand;
}

const STOP: PowerAction = {
  name: "stop",
  from: "active",
  task: "powering_off",
  to: { vmState: "stopped", powerState: "shutdown" },
  events: ["instance.power_off.start", "instance.power_off.end"],
  command: (uuid, timeout) => stopDomain(uuid, timeout),
};
const START: PowerAction = {
  name: "start",
  from: "stopped",
  task: "powering_on",
  to: { vmState: "active", powerState: "running" },
  events: ["instance.power_on.start", "instance.power_on.end"],
  command: (uuid) => startDomain(uuid),
};

export const POWER_ACTIONS = { "os-stop": STOP, "os-start": START } as const;

export function runPowerAction(
  ctx: RouteContext,
  instanceUuid: string,
  action: PowerAction,
): Promise<ApiResponse> {
  return ctx.once(async (requestId) => {
    const { deps } = ctx;
    const { instances } = deps.stores;
    const instance = await instances.get(instanceUuid);
    if (!instance) throw new ApiError(404, `Instance ${instanceUuid} could not be found.`);
    if (instance.locked) throw new InstanceIsLocked(`Instance ${instanceUuid} is locked`);
    if (instance.vmState !== action.from || instance.taskState !== null) {
      throw new InstanceInvalidState(
        `Cannot '${action.name}' instance ${instanceUuid} while it is in vm_state ${instance.vmState}, task_state ${String(instance.taskState)}`,
      );
    }
    const host = await deps.stores.hosts.get(instance.host);
    if (!host) throw new ApiError(409, `Compute host ${instance.host} not found.`);
    await instances.update(instanceUuid, {
      expectTaskState: [null],
      expectVmState: [action.from],
      expectVersion: instance.version,
      set: { taskState: action.task, taskRequestId: requestId, taskExecutionArn: null },
    });
    const flow = { requestId, instanceUuid };
    await notifyFlow(deps, flow, action.events[0], { host: instance.host, reason: "api" });
    try {
      await deps.executor.run(hostTarget(host), action.command(instanceUuid, deps.shutdownTimeoutSeconds), {
        comment: `lazarus os-${action.name} ${requestId}`,
        executionTimeoutSeconds: deps.shutdownTimeoutSeconds + 10,
      });
    } catch (e) {
      await instances.update(instanceUuid, {
        expectTaskRequestId: requestId,
        set: { taskState: null, taskRequestId: null },
      });
      throw e;
    }
    await instances.update(instanceUuid, {
      expectTaskRequestId: requestId,
      set: { taskState: null, taskRequestId: null, ...action.to },
    });
    await notifyFlow(deps, flow, action.events[1], { host: instance.host, reason: "api" });
    return noContent(202, { "x-openstack-request-id": `req-${requestId}` });
  });
}
