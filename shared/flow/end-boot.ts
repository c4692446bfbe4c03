/**
 * Ending a boot that did not finish (nova's `_build_and_run_instance` failure: the instance in ERROR with
 * its fault, its allocations, networks and volumes undone), used by the boot machine's HandleBootFailure
 * and by the sweeper (a boot whose execution ended without its failure path). What holds afterwards:
 *  - no task held; the create action says Error; `instance.create.error` once;
 *  - the host proven clean (`cleanBootHost`): nothing of the boot is left: no claim (released by owner), no
 *    port (made ones deleted, given ones unbound), no attachment (made volumes deleted, given ones
 *    available again), no domain, no disk; the instance record stays in ERROR with the fault, holding
 *    nothing, so `DELETE` can remove it (nova keeps a failed build as an ERROR server too);
 *  - the clean-up failed (the host did not answer): the instance keeps all it holds (its claim, ports,
 *    volumes: a copy may be defined there) and the fault says so; deleting it cleans the host first;
 *  - no host was ever claimed (NoValidHost, a refusal): no instance record; the build itself is marked
 *    failed with the fault (`GET /servers/{id}` shows ERROR, as nova shows a server of cell0).
 */
import { HostNotFound } from "../domain/errors.js";
import type { BuildSpec, InstanceFault } from "../domain/schemas.js";
import { BOOT_TASK_STATES } from "../domain/states.js";
import { hostTarget } from "../hosts/layout.js";
import { deleteVolume } from "../hosts/qemu-img.js";
import { removeDomain } from "../hosts/virsh.js";
import { bootPorts, bootVolumes, madeVolumeFile } from "./boot-resources.js";
import type { StepDeps } from "./deps.js";
import type { FailureSummary } from "./flow-state.js";
import { notifyFlow } from "./notify.js";

/**
 * The boot's host made to hold nothing of the instance: the domain destroyed and undefined, the instance
 * folder (root disk, libvirt.xml) removed, the files of the volumes the boot made removed. Idempotent.
 */
export async function cleanBootHost(
  deps: Pick<StepDeps, "executor" | "stores">,
  requestId: string,
  build: BuildSpec,
  hostName: string,
): Promise<void> {
  const host = await deps.stores.hosts.require(hostName);
  const uuid = build.instanceUuid;
  const made = bootVolumes(requestId, build).filter((v) => v.kind === "made");
  const target = hostTarget(host);
  const comment = `clean up failed boot ${uuid}`;
  await deps.executor.run(target, removeDomain(uuid, { instancesPath: host.storage.instancesPath }), {
    comment,
  });
  for (const v of made) {
    await deps.executor.run(target, deleteVolume(host, { backingFile: madeVolumeFile(v.id) }), { comment });
  }
}

export interface BootEnding {
  requestId: string;
  build: BuildSpec;
  /** The host the boot claimed, if it got that far. */
  host: string | null;
  failure: FailureSummary;
  /** The host's clean-up failed: the instance keeps what it holds. */
  cleanUpFailure: FailureSummary | null;
}

/**
 * Ends the boot as described above. "finished": FinishBoot had committed (the server is built, nothing is
 * undone); "not-owned": the boot never recorded its build, or the instance is another request's.
 */
export async function endBoot(
  deps: StepDeps,
  ending: BootEnding,
): Promise<"ended" | "finished" | "not-owned"> {
  const { requestId, build, failure, cleanUpFailure: cleanUp } = ending;
  const uuid = build.instanceUuid;
  const { instances, hosts, ports, volumes, actions, faults } = deps.stores;
  const action = await actions.get(requestId);
  if (!action || action.instanceUuid !== uuid || action.action !== "create") return "not-owned";
  const at = deps.now().toISOString();
  const instance = await instances.get(uuid);
  if (instance?.lastRequestId === requestId) return "finished";
  const ours = instance !== null && instance.taskRequestId === requestId;
  // An instance of this uuid that is not this boot's (a refused request reusing it) is never touched.
  if (instance !== null && !ours) return "not-owned";
  const host = ending.host ?? (ours ? instance.host : null);
  const error = failure.error;
  const fault: InstanceFault = {
    code: cleanUp ? 409 : 500,
    error: cleanUp ? "BootTargetNotClean" : failure.error,
    message: cleanUp
      ? `Build failed at ${failure.step} (${failure.error}: ${failure.message}). Host ${host} may still hold a ` +
        `copy of this instance and could not be cleaned (${cleanUp.error}: ${cleanUp.message}); everything the ` +
        `instance holds is kept. Delete the server once ${host} answers (Lazarus cleans it first).`
      : failure.message,
    step: failure.step,
    details: { requestId, ...(cleanUp && host ? { uncleanHost: host } : {}) },
    createdAt: at,
  };

  if (!cleanUp) {
    // The host is clean (or none was ever touched): undo everything the boot made or took. A claim made
    // before the record was written (ScheduleBoot failing between the two) is on the host the build names
    // (written before each claim): released by key, by owner, never by reading every host.
    const claimedOn = new Set([
      ...(host ? [host] : []),
      ...(action.build?.targetHost ? [action.build.targetHost] : []),
    ]);
    for (const h of claimedOn) {
      try {
        await hosts.release(h, uuid, { owner: requestId });
      } catch (e) {
        if (!(e instanceof HostNotFound)) throw e; // deregistered meanwhile: nothing of it to release
      }
    }
    for (const p of bootPorts(requestId, build)) await ports.releaseFrom(p.id, uuid);
    for (const v of bootVolumes(requestId, build)) {
      if (!(await volumes.get(v.id))) continue;
      await volumes.endAttachments(v.id, { instanceUuid: uuid });
      if (v.kind === "made") await volumes.delete(v.id);
    }
  }
  if (ours) {
    await instances.update(uuid, {
      expectTaskState: [...BOOT_TASK_STATES],
      expectTaskRequestId: requestId,
      set: {
        vmState: "error",
        powerState: "nostate",
        taskState: null,
        taskRequestId: null,
        taskExecutionArn: null,
        fault,
        ...(cleanUp ? {} : { ports: [], volumes: [] }),
      },
    });
    await faults.record(uuid, fault);
  }
  const traceback = `${error}: ${failure.message}`;
  await actions.update(requestId, (a) => ({
    message: "Error",
    events: [
      ...a.events.filter((e) => e.event !== failure.step),
      { event: failure.step, startTime: at, finishTime: at, result: "Error", traceback, host },
    ],
    // Never placed (no instance record): the build shows the server in ERROR with its fault. Placed (the
    // record shows it) but ScheduleBoot died before it said so: the build says placed, or it would be
    // listed as a server still being scheduled beside its record, forever.
    build:
      a.build &&
      (instance === null
        ? { ...a.build, status: "failed", fault }
        : a.build.status === "building"
          ? { ...a.build, status: "placed" }
          : a.build),
  }));
  await notifyFlow(deps, { requestId, instanceUuid: uuid }, "instance.create.error", {
    action: "create",
    step: failure.step,
    error: failure.error,
    message: failure.message,
    unclean_host: cleanUp ? host : null,
  });
  return "ended";
}
