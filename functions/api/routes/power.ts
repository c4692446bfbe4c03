/**
 * The server actions that run on the instance's host within the request: nova's `os-stop`, `os-start`
 * and `reboot` (SOFT: a clean shutdown, then started again; HARD: destroyed and started again). The stop
 * is what tells the instance monitor's report apart from a crash: the task (powering_off, owned by this
 * request) is taken before the domain is shut down, and the record is STOPPED after, so the
 * instance-recovery flow ignores the stop whenever it reads the record (shared/domain/instance-failure.ts
 * `classifyStop`); a reboot's task (rebooting, rebooting_hard) is likewise an asked-for stop. Each runs
 * through SSM (a clean shutdown for up to the API's shutdown timeout, then destroy) and answers 202; a
 * failure releases the task and leaves vm_state as it was. Each is recorded as an instance action.
 */
import { InstanceInvalidState, InstanceIsLocked } from "#shared/domain/errors.js";
import type { Instance } from "#shared/domain/schemas.js";
import type { TaskState, VmState } from "#shared/domain/states.js";
import { type FlowEvent, notifyFlow } from "#shared/flow/notify.js";
import { hostTarget } from "#shared/hosts/layout.js";
import { shellScript } from "#shared/hosts/shell.js";
import { ensureDestroyed, ensureStarted, powerOffClean } from "#shared/hosts/virsh.js";
import { ApiError, type ApiResponse, noContent } from "../http.js";
import type { RouteContext } from "../router.js";

export interface PowerAction {
  /** nova's action name in the instance action log (stop, start, reboot). */
  name: "stop" | "start" | "reboot";
  /** nova's word in its refusal ("Cannot 'stop' instance ..."). */
  verb: string;
  from: readonly VmState[];
  task: TaskState;
  to: { vmState: VmState; powerState: Instance["powerState"] };
  events: readonly [FlowEvent, FlowEvent];
  /** nova's event in the action log, e.g. compute_stop_instance. */
  event: string;
  script: (uuid: string, shutdownTimeoutSeconds: number) => string[];
}

const STOP: PowerAction = {
  name: "stop",
  verb: "stop",
  from: ["active", "error"],
  task: "powering_off",
  to: { vmState: "stopped", powerState: "shutdown" },
  events: ["instance.power_off.start", "instance.power_off.end"],
  event: "compute_stop_instance",
  script: (uuid, timeout) => [powerOffClean(uuid, timeout)],
};
const START: PowerAction = {
  name: "start",
  verb: "start",
  from: ["stopped"],
  task: "powering_on",
  to: { vmState: "active", powerState: "running" },
  events: ["instance.power_on.start", "instance.power_on.end"],
  event: "compute_start_instance",
  script: (uuid) => [ensureStarted(uuid)],
};
/** nova's soft reboot: a clean shutdown (destroyed after the timeout), then started again. */
const SOFT_REBOOT: PowerAction = {
  name: "reboot",
  verb: "reboot",
  from: ["active"],
  task: "rebooting",
  to: { vmState: "active", powerState: "running" },
  events: ["instance.reboot.start", "instance.reboot.end"],
  event: "compute_reboot_instance",
  script: (uuid, timeout) => [powerOffClean(uuid, timeout), ensureStarted(uuid)],
};
/** nova's hard reboot: destroyed and started again, also from STOPPED and ERROR (nova allows both). */
const HARD_REBOOT: PowerAction = {
  ...SOFT_REBOOT,
  from: ["active", "stopped", "error"],
  task: "rebooting_hard",
  script: (uuid) => [ensureDestroyed(uuid), ensureStarted(uuid)],
};

export const POWER_ACTIONS = {
  "os-stop": STOP,
  "os-start": START,
  "reboot-soft": SOFT_REBOOT,
  "reboot-hard": HARD_REBOOT,
} as const;

export function runPowerAction(
  ctx: RouteContext,
  instanceUuid: string,
  action: PowerAction,
): Promise<ApiResponse> {
  return ctx.once(async (requestId) => {
    const { deps } = ctx;
    const { instances } = deps.stores;
    const instance = await instances.get(instanceUuid);
    if (!instance || instance.vmState === "deleted")
      throw new ApiError(404, `Instance ${instanceUuid} could not be found.`);
    if (instance.locked) throw new InstanceIsLocked(`Instance ${instanceUuid} is locked`);
    if (!action.from.includes(instance.vmState) || instance.taskState !== null) {
      throw new InstanceInvalidState(
        `Cannot '${action.verb}' instance ${instanceUuid} while it is in vm_state ${instance.vmState}, task_state ${String(instance.taskState)}`,
      );
    }
    const host = await deps.stores.hosts.get(instance.host);
    if (!host) throw new ApiError(409, `Compute host ${instance.host} not found.`);
    await instances.update(instanceUuid, {
      expectTaskState: [null],
      expectVmState: action.from,
      expectVersion: instance.version,
      set: { taskState: action.task, taskRequestId: requestId, taskExecutionArn: null },
    });
    const startTime = deps.now().toISOString();
    await deps.stores.actions.open({
      id: requestId,
      instanceUuid,
      action: action.name,
      startTime,
      message: null,
      events: [],
    });
    const flow = { requestId, instanceUuid };
    await notifyFlow(deps, flow, action.events[0], { host: instance.host, reason: "api" });
    const event = (result: "Success" | "Error", traceback: string | null) => ({
      event: action.event,
      startTime,
      finishTime: deps.now().toISOString(),
      result,
      traceback,
      host: instance.host,
    });
    try {
      await deps.executor.run(
        hostTarget(host),
        shellScript(action.script(instanceUuid, deps.shutdownTimeoutSeconds)),
        {
          comment: `lazarus ${action.name} ${requestId}`,
          executionTimeoutSeconds: deps.shutdownTimeoutSeconds + 10,
        },
      );
    } catch (e) {
      await instances.update(instanceUuid, {
        expectTaskRequestId: requestId,
        set: { taskState: null, taskRequestId: null },
      });
      const why = `${(e as Error).name}: ${(e as Error).message}`;
      await deps.stores.actions.event(requestId, event("Error", why), { failed: true });
      throw e;
    }
    await instances.update(instanceUuid, {
      expectTaskRequestId: requestId,
      set: { taskState: null, taskRequestId: null, ...action.to },
    });
    await deps.stores.actions.event(requestId, event("Success", null));
    await notifyFlow(deps, flow, action.events[1], { host: instance.host, reason: "api" });
    return noContent(202, { "x-openstack-request-id": `req-${requestId}` });
  });
}
