/**
 * Validated scalar values. Everything that ends up in a shell command or a domain XML passes one of
 * these first, so the builders can rely on a narrow alphabet and still quote every value.
 */
import { z } from "zod";

export const Uuid = z.uuid();
export type Uuid = z.infer<typeof Uuid>;

/** Instance, host and group names: DNS-label-like, no spaces or shell metacharacters. */
export const ResourceName = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/,
    "a name is 1-63 letters, digits, '.', '_' or '-', starting alnum",
  );
export type ResourceName = z.infer<typeof ResourceName>;

/** A unicast, locally- or universally-administered MAC in lower case. */
export const MacAddress = z
  .string()
  .regex(/^[0-9a-f][02468ace](:[0-9a-f]{2}){5}$/, "a MAC is six lower-case hex pairs joined by ':', unicast");
export type MacAddress = z.infer<typeof MacAddress>;

/** An absolute path without '..' segments, in a conservative alphabet. */
export const AbsolutePath = z
  .string()
  .max(1024)
  .regex(/^\/[A-Za-z0-9._/@+=,-]*$/, "an absolute path of letters, digits and ._/@+=,-")
  .refine((p) => !p.split("/").includes(".."), "a path may not contain '..'");
export type AbsolutePath = z.infer<typeof AbsolutePath>;

/** Guest disk target device (virtio, scsi or ide naming). */
export const DiskDevice = z.string().regex(/^(vd|sd|hd)[a-z]{1,2}$/, "a disk device is like vda, vdb, sdc");
export type DiskDevice = z.infer<typeof DiskDevice>;

/** An image in a host's image cache: the file `<imageCachePath>/<imageRef>.qcow2`. */
export const ImageRef = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, "an image ref is 1-128 letters, digits, '.', '_' or '-'");
export type ImageRef = z.infer<typeof ImageRef>;

/** SSM managed-instance id: `mi-` for hybrid (on-premises) nodes, `i-` for EC2. */
export const ManagedInstanceId = z
  .string()
  .regex(/^(mi-[0-9a-f]{17}|i-[0-9a-f]{8,17})$/, "a managed-instance id is mi-<17 hex> or i-<8-17 hex>");
export type ManagedInstanceId = z.infer<typeof ManagedInstanceId>;

export const IsoTime = z.iso.datetime();

/**
 * The libvirt URI other hosts reach a host's libvirtd with for a peer-to-peer live migration (nova's
 * `live_migration_uri`): qemu, qemu+tls/tcp/ssh to a host name or address, or qemu+unix with a socket path
 * (the local hosts: each a session libvirtd of its own Unix user). A narrow alphabet: it is a command word.
 */
export const LibvirtUri = z
  .string()
  .max(512)
  .regex(
    /^qemu(\+(tls|tcp|ssh|unix))?:\/\/([A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\])?(:[0-9]{1,5})?\/(system|session)(\?socket=\/[A-Za-z0-9._/-]+)?$/,
    "a libvirt URI is qemu[+tls|tcp|ssh|unix]://[host[:port]]/system|session[?socket=/path]",
  )
  .refine((u) => !u.includes(".."), "a libvirt URI may not contain '..'");
export type LibvirtUri = z.infer<typeof LibvirtUri>;

/** An IPv4 address, a bracket-less IPv6 address or a host name: where a host takes a guest's migration stream. */
export const NetworkAddress = z
  .string()
  .max(253)
  .regex(
    /^([0-9]{1,3}(\.[0-9]{1,3}){3}|[0-9A-Fa-f:]*:[0-9A-Fa-f:]+|[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*)$/,
    "an address is an IPv4 or IPv6 address or a host name",
  );
export type NetworkAddress = z.infer<typeof NetworkAddress>;
