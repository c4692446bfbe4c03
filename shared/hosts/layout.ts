/** Where an instance's files live on a host, as nova lays out `instances_path` and its `_base` image cache. */
import type { Host, Volume } from "../domain/schemas.js";
import type { HostTarget } from "./executor.js";

export function instanceDir(host: Host, instanceUuid: string): string {
  return `${host.storage.instancesPath}/${instanceUuid}`;
}

export function rootDiskPath(host: Host, instanceUuid: string): string {
  return `${instanceDir(host, instanceUuid)}/disk`;
}

/** nova keeps the domain definition beside the disk as `libvirt.xml`. */
export function domainXmlPath(host: Host, instanceUuid: string): string {
  return `${instanceDir(host, instanceUuid)}/libvirt.xml`;
}

/** The serial console's log (nova's `console.log` beside the disk), written by the host's qemu. */
export function consoleLogPath(host: Host, instanceUuid: string): string {
  return `${instanceDir(host, instanceUuid)}/console.log`;
}

export function baseImagePath(host: Host, imageRef: string): string {
  return `${host.storage.imageCachePath}/${imageRef}.qcow2`;
}

export function volumePath(host: Host, volume: Volume): string {
  return `${host.storage.volumesPath}/${volume.backingFile}`;
}

export function hostTarget(host: Host): HostTarget {
  return { name: host.name, managedInstanceId: host.managedInstanceId };
}
