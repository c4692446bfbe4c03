/**
 * An instance as a libvirt domain on a given host: the one place that turns records (instance, host,
 * ports, volumes) into a domain definition and the script that defines (and maybe starts) it. Used by the
 * spawn step and by the local cloud's boot, so both produce the same domains.
 */
import { InvalidInput } from "../domain/errors.js";
import type { Host, Instance, Port, Volume } from "../domain/schemas.js";
import { buildDomainXml, domainName } from "./domain-xml.js";
import { consoleLogPath, domainXmlPath, instanceDir, rootDiskPath, volumePath } from "./layout.js";
import { shellQuote, shellScript, writeFileCommand } from "./shell.js";
import { autostartOff, define, startDefined } from "./virsh.js";

export interface InstanceDomainParts {
  instance: Instance;
  host: Host;
  /** The instance's ports, in `instance.ports` order. */
  ports: readonly Port[];
  /** The instance's volumes, in `instance.volumes` order. */
  volumes: readonly Volume[];
  /** The image the root disk was made from (a rebuild's new image before the record says so). */
  imageRef?: string;
}

export function instanceDomainXml(parts: InstanceDomainParts): string {
  const { instance, host, ports, volumes } = parts;
  return buildDomainXml({
    uuid: instance.uuid,
    name: domainName(instance.uuid),
    virtType: host.virtType,
    memoryMiB: instance.flavor.memoryMiB,
    vcpus: instance.flavor.vcpus,
    rootDisk: { path: rootDiskPath(host, instance.uuid), format: "qcow2" },
    consoleLog: consoleLogPath(host, instance.uuid),
    volumes: instance.volumes.map((bdm) => {
      const volume = volumes.find((v) => v.id === bdm.volumeId);
      if (!volume) {
        throw new InvalidInput(`volume ${bdm.volumeId} of instance ${instance.uuid} was not given`, {
          instanceUuid: instance.uuid,
          volumeId: bdm.volumeId,
        });
      }
      return { path: volumePath(host, volume), device: bdm.device, format: "raw" as const };
    }),
    interfaces: ports.map((p) => ({ mac: p.mac, network: { type: "user" as const } })),
    metadata: {
      instanceName: instance.name,
      flavor: instance.flavor,
      imageRef: parts.imageRef ?? instance.imageRef,
    },
  });
}

/**
 * Writes `libvirt.xml` beside the disk, defines the domain with autostart off, and starts it unless
 * `start` is false. Autostart is off always (only the control plane starts Lazarus domains). A domain
 * defined anew has it off already: libvirt defines new domains without autostart, and undefining one
 * removes its autostart link. So `absent: true` (the caller proved the domain not defined on this host,
 * as an evacuation's CheckInstanceNotOnTarget does) saves the `virsh autostart --disable` call: one
 * libvirt round trip less per instance while a host evacuation starts N domains on each target at once.
 * A definition that replaces one (rebuild in place, or nothing proven) always turns it off.
 */
export function defineDomainScript(
  parts: InstanceDomainParts,
  options: { start: boolean; absent?: boolean },
): string {
  const { instance, host } = parts;
  const xmlPath = domainXmlPath(host, instance.uuid);
  const log = shellQuote(consoleLogPath(host, instance.uuid));
  const lines = [
    `mkdir -p ${shellQuote(instanceDir(host, instance.uuid))}`,
    // libvirt creates a file chardev's file 0600 for the host's qemu user when it starts the domain. Hosts
    // sharing a pool may run qemu as different users of one group (the local cloud's hosts do), and a live
    // migration's target opens the log while its source still writes it: the log is made group-writable
    // before libvirt first opens it, which then keeps its mode.
    `[ -e ${log} ] || { : > ${log} && chmod 0660 -- ${log}; }`,
    writeFileCommand(xmlPath, instanceDomainXml(parts)),
    define(xmlPath),
    ...(options.absent ? [] : [autostartOff(instance.uuid)]),
  ];
  if (options.start) lines.push(startDefined(instance.uuid));
  return shellScript(lines);
}
