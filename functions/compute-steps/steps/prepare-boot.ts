/**
 * nova's build before spawn (`_build_resources`: block devices, then networks) on the host the boot
 * claimed: each blank volume is made (its file created only when absent, its record put if absent) and
 * every volume attached there; a port is made per network and each given port taken, all bound to the host;
 * then the instance record lists them, task block_device_mapping -> networking. Every id derives from the
 * request (shared/flow/boot-resources.ts): a retried step finds what it made and makes nothing twice.
 * A given port another instance holds is PortInUse; a given volume attached elsewhere VolumeAttachRefused.
 */
import { InvalidInput } from "#shared/domain/errors.js";
import { type BootState, macOf, requirePlaced } from "#shared/flow/boot-contract.js";
import { bootPorts, bootVolumes, madeVolumeFile, madeVolumePath } from "#shared/flow/boot-resources.js";
import type { StepDeps } from "#shared/flow/deps.js";
import { advanceTaskState } from "#shared/flow/task-state.js";
import { hostTarget } from "#shared/hosts/layout.js";
import { createBlank } from "#shared/hosts/qemu-img.js";
import { shellQuote, shellScript } from "#shared/hosts/shell.js";

export async function prepareBoot(deps: StepDeps, state: BootState): Promise<BootState> {
  const flow = requirePlaced(state);
  const { build, requestId } = flow;
  const uuid = build.instanceUuid;
  const { ports, volumes, instances } = deps.stores;
  const instance = await instances.require(uuid);
  if (instance.taskRequestId !== requestId)
    throw new InvalidInput(`instance ${uuid} is not this boot's`, { requestId });
  if (instance.taskState === "networking") return state; // a retry after the record listed everything
  const host = await deps.stores.hosts.require(flow.host);

  const wanted = bootVolumes(requestId, build);
  const made = wanted.filter((v) => v.kind === "made");
  if (made.length > 0) {
    const lines = made.flatMap((v) => {
      const path = madeVolumePath(host, v.id);
      return [
        `if [ ! -e ${shellQuote(path)} ]; then`,
        createBlank({ path, sizeGiB: v.sizeGiB!, format: "raw" }),
        "fi",
      ];
    });
    await deps.executor.run(hostTarget(host), shellScript(lines), { comment: `boot volumes of ${uuid}` });
  }
  for (const v of wanted) {
    if (v.kind === "made" && !(await volumes.get(v.id))) {
      await volumes.create({
        id: v.id,
        name: `${build.name}-${v.device}`,
        sizeGiB: v.sizeGiB!,
        backingFile: madeVolumeFile(v.id),
        status: "available",
        attachments: [],
        version: 0,
      });
    }
    await volumes.attach(v.id, {
      attachmentId: v.attachmentId,
      instanceUuid: uuid,
      host: host.name,
      device: v.device,
    });
  }

  for (const p of bootPorts(requestId, build)) {
    if (p.kind === "given") {
      await ports.attachTo(p.id, uuid, host.name);
      continue;
    }
    if (!(await ports.get(p.id))) {
      await ports.put({
        id: p.id,
        instanceUuid: uuid,
        mac: macOf(p.id),
        network: p.network!,
        bindingHost: host.name,
        status: "ACTIVE",
        preserveOnDelete: false,
        version: 0,
      });
    }
  }

  await instances.update(uuid, {
    expectTaskRequestId: requestId,
    expectTaskState: ["block_device_mapping"],
    set: {
      ports: bootPorts(requestId, build).map((p) => p.id),
      volumes: wanted.map((v) => ({
        volumeId: v.id,
        device: v.device,
        deleteOnTermination: v.deleteOnTermination,
      })),
    },
  });
  await advanceTaskState(deps, uuid, requestId, "block_device_mapping", "networking");
  return state;
}
