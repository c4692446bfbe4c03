/**
 * What a boot makes or takes, from its build and request id alone (so a retried step, the clean-up and
 * the failure handler all name the same things): a port per network (made) or per port given, a volume
 * per block device (made blank, or given), each attachment with its derived id.
 */
import type { BuildSpec, Host, Volume } from "../domain/schemas.js";
import { volumePath } from "../hosts/layout.js";
import { bootAttachmentId, bootPortId, bootVolumeId } from "./boot-contract.js";

export interface BootPort {
  id: string;
  /** made: created for this instance (deleted with it); given: the caller's port (unbound when done). */
  kind: "made" | "given";
  network: string | null;
}

export interface BootVolume {
  id: string;
  kind: "made" | "given";
  device: string;
  /** Made volumes: their size. */
  sizeGiB: number | null;
  deleteOnTermination: boolean;
  attachmentId: string;
}

export function bootPorts(requestId: string, build: BuildSpec): BootPort[] {
  return build.ports.map((p, i) =>
    "network" in p
      ? { id: bootPortId(requestId, i), kind: "made", network: p.network }
      : { id: p.portId, kind: "given", network: null },
  );
}

export function bootVolumes(requestId: string, build: BuildSpec): BootVolume[] {
  return build.volumes.map((v, i) => ({
    id: "volumeId" in v ? v.volumeId : bootVolumeId(requestId, i),
    kind: "volumeId" in v ? "given" : "made",
    device: v.device,
    sizeGiB: "blankGiB" in v ? v.blankGiB : null,
    deleteOnTermination: v.deleteOnTermination,
    attachmentId: bootAttachmentId(requestId, i),
  }));
}

/** The backing file of a volume a boot makes (`<volumesPath>/<file>` on every host). */
export const madeVolumeFile = (volumeId: string) => `volume-${volumeId}.img`;

/** The file of a made volume on `host`. */
export function madeVolumePath(host: Host, volumeId: string): string {
  return volumePath(host, { backingFile: madeVolumeFile(volumeId) } as Volume);
}
