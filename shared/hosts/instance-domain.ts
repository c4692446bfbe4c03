/**
 * An instance as a libvirt domain on a given host: the one place that turns records (instance, host,
 * ports, volumes) into a domain definition and the command that defines (and maybe starts) it. Used by the
 * spawn step and by the local cloud's boot, so both produce the same domains.
 */
import { DEFINE_DOMAIN, DOMAIN_XML_MAX_CHARS } from "#ssm-documents/define-domain.js";
import { InvalidInput } from "../domain/errors.js";
import type { Host, Instance, Port, Volume } from "../domain/schemas.js";
import { buildDomainXml, domainName } from "./domain-xml.js";
import { type HostCommand, hostCommand } from "./host-command.js";
import { consoleLogPath, rootDiskPath, volumePath } from "./layout.js";
import { domainUuid } from "./virsh.js";

export interface InstanceDomainParts {
  instance: Instance;
  /** The host it is defined on: its agent, its hypervisor's domain type, its folders. */
  host: Pick<Host, "name" | "managedInstanceId" | "virtType" | "storage">;
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
 * Defines the domain on the host with autostart off (the define-domain document writes `libvirt.xml` beside
 * the disk, checks it, defines it), and starts it unless `start` is false. Autostart is off always (only the
 * control plane starts Lazarus domains). A domain defined anew has it off already: libvirt defines new
 * domains without autostart, and undefining one removes its autostart link. So `absent: true` (the caller
 * proved the domain not defined on this host, as an evacuation's CheckInstanceNotOnTarget does) saves the
 * `virsh autostart --disable` call: one libvirt round trip less per instance while a host evacuation starts
 * N domains on each target at once. A definition that replaces one (rebuild in place, or nothing proven)
 * always turns it off.
 */
export function defineDomain(
  parts: InstanceDomainParts,
  options: { start: boolean; absent?: boolean },
): HostCommand {
  const { instance, host } = parts;
  const xml = Buffer.from(instanceDomainXml(parts), "utf8").toString("base64");
  if (xml.length > DOMAIN_XML_MAX_CHARS) {
    throw new InvalidInput(
      `the domain XML of ${instance.uuid} is ${xml.length} characters base64, above the ${DOMAIN_XML_MAX_CHARS} a command carries`,
      { instanceUuid: instance.uuid, length: xml.length },
    );
  }
  return hostCommand(DEFINE_DOMAIN, {
    uuid: domainUuid(instance.uuid),
    instancesPath: host.storage.instancesPath,
    volumesPath: host.storage.volumesPath,
    domainXml: xml,
    start: String(options.start),
    knownAbsent: String(options.absent === true),
  });
}
