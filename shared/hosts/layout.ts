/** Where an instance's files live on a host, as nova lays out `instances_path` and its `_base` image cache. */
import type { Host, Volume } from "../domain/schemas.js";
import type { HostTarget } from "./executor.js";

/** What the layout needs of a host: its storage folders. */
type Folders = Pick<Host, "storage">;

/**
 * The names of the layout, which the host documents (ssm-documents/) use too: they compute these paths on
 * the host from the folders and ids they are given, so a caller names an instance, never a file to write.
 */
export const LAYOUT = {
  /** An instance's root disk, in its folder `<instancesPath>/<uuid>`. */
  rootDisk: "disk",
  /** nova keeps the domain definition beside the disk as `libvirt.xml`. */
  domainXml: "libvirt.xml",
  /** A cached base image is `<imageCachePath>/<imageRef><imageSuffix>`. */
  imageSuffix: ".qcow2",
  /** The serial console's log beside the disk (nova's `console.log`), written by the host's qemu. */
  consoleLog: "console.log",
} as const;

export function instanceDir(host: Folders, instanceUuid: string): string {
  return `${host.storage.instancesPath}/${instanceUuid}`;
}

export function rootDiskPath(host: Folders, instanceUuid: string): string {
  return `${instanceDir(host, instanceUuid)}/${LAYOUT.rootDisk}`;
}

export function domainXmlPath(host: Folders, instanceUuid: string): string {
  return `${instanceDir(host, instanceUuid)}/${LAYOUT.domainXml}`;
}

/** The serial console's log (nova's `console.log` beside the disk), written by the host's qemu. */
export function consoleLogPath(host: Folders, instanceUuid: string): string {
  return `${instanceDir(host, instanceUuid)}/${LAYOUT.consoleLog}`;
}

export function baseImagePath(host: Folders, imageRef: string): string {
  return `${host.storage.imageCachePath}/${imageRef}${LAYOUT.imageSuffix}`;
}

export function volumePath(host: Folders, volume: Volume): string {
  return `${host.storage.volumesPath}/${volume.backingFile}`;
}

export function hostTarget(host: Pick<Host, "name" | "managedInstanceId">): HostTarget {
  return { name: host.name, managedInstanceId: host.managedInstanceId };
}
