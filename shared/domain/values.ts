/**
 * Validated scalar values. Everything that ends up in a host command or a domain XML passes one of
 * these first. The patterns are the host documents' `allowedPattern`s too (ssm-documents/): anchored, in the
 * common subset of JavaScript, Java (SSM) and POSIX ERE (bash's `=~`, which re-checks each parameter on
 * the host), so SSM refuses what the schemas refuse (test/unit/document-patterns.test.ts).
 */
import { z } from "zod";

export const Uuid = z.uuid();
export type Uuid = z.infer<typeof Uuid>;

const DOMAIN_UUID =
  "([0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}|00000000-0000-0000-0000-000000000000|ffffffff-ffff-ffff-ffff-ffffffffffff)";
/** A domain uuid as virsh prints it and the hosts' documents take it: zod's uuid, lower case. */
export const DOMAIN_UUID_PATTERN = `^${DOMAIN_UUID}$`;
/** A domain uuid, or nothing. */
export const OPTIONAL_DOMAIN_UUID_PATTERN = `^(${DOMAIN_UUID})?$`;
/** Domain uuids separated by single spaces. */
export const DOMAIN_UUID_LIST_PATTERN = `^${DOMAIN_UUID}( ${DOMAIN_UUID})*$`;
/** The same, or empty. */
export const OPTIONAL_DOMAIN_UUID_LIST_PATTERN = `^(${DOMAIN_UUID}( ${DOMAIN_UUID})*)?$`;

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

/** One path segment of a conservative alphabet, never `..` (but `.`, `...` and `..x` are names). */
const PATH_SEGMENT =
  "([A-Za-z0-9_@+=,-][A-Za-z0-9._@+=,-]*|\\.[A-Za-z0-9_@+=,-][A-Za-z0-9._@+=,-]*|\\.\\.[A-Za-z0-9._@+=,-]+|\\.)";
/** An absolute path: `/`, then segments (empty ones allowed, as `//` is), none of them `..`. */
const PATH_BODY = `(/${PATH_SEGMENT}?)+`;
export const ABSOLUTE_PATH_PATTERN = `^${PATH_BODY}$`;
/** An absolute path, or nothing. */
export const OPTIONAL_ABSOLUTE_PATH_PATTERN = `^(${PATH_BODY})?$`;
export const ABSOLUTE_PATH_MAX_CHARS = 1024;
/** Paths separated by single spaces (a list in one document parameter). */
export const ABSOLUTE_PATH_LIST_PATTERN = `^${PATH_BODY}( ${PATH_BODY})*$`;

/** An absolute path without '..' segments, in a conservative alphabet. */
export const AbsolutePath = z
  .string()
  .max(ABSOLUTE_PATH_MAX_CHARS)
  .regex(/^\/[A-Za-z0-9._/@+=,-]*$/, "an absolute path of letters, digits and ._/@+=,-")
  .refine((p) => !p.split("/").includes(".."), "a path may not contain '..'");
export type AbsolutePath = z.infer<typeof AbsolutePath>;

export const DISK_DEVICE_PATTERN = "^(vd|sd|hd)[a-z]{1,2}$";
/** Guest disk target device (virtio, scsi or ide naming). */
export const DiskDevice = z
  .string()
  .regex(new RegExp(DISK_DEVICE_PATTERN), "a disk device is like vda, vdb, sdc");
export type DiskDevice = z.infer<typeof DiskDevice>;

export const IMAGE_REF_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$";
/** An image in a host's image cache: the file `<imageCachePath>/<imageRef>.qcow2`. */
export const ImageRef = z
  .string()
  .regex(new RegExp(IMAGE_REF_PATTERN), "an image ref is 1-128 letters, digits, '.', '_' or '-'");
export type ImageRef = z.infer<typeof ImageRef>;

/** SSM managed-instance id: `mi-` for hybrid (on-premises) nodes, `i-` for EC2. */
export const ManagedInstanceId = z
  .string()
  .regex(/^(mi-[0-9a-f]{17}|i-[0-9a-f]{8,17})$/, "a managed-instance id is mi-<17 hex> or i-<8-17 hex>");
export type ManagedInstanceId = z.infer<typeof ManagedInstanceId>;

export const IsoTime = z.iso.datetime();

/** A file name in one folder (a volume's backing file): no `/`, not starting with a dot. */
export const FILE_NAME_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$";
export const FileName = z
  .string()
  .regex(new RegExp(FILE_NAME_PATTERN), "a file name is 1-128 letters, digits, '.', '_' or '-'");

/**
 * An anchored pattern of the decimal integers min..max (no sign, no leading zero), for a document
 * parameter: SSM passes every value as a string. Ranges split on digit counts, then on leading digits.
 */
export function integerRangePattern(min: number, max: number): string {
  if (!Number.isInteger(min) || !Number.isInteger(max) || min < 0 || max < min) {
    throw new RangeError(`integerRangePattern(${min}, ${max})`);
  }
  const alternatives: string[] = [];
  const rangeOf = (lo: string, hi: string): string => {
    // Same length: a common prefix, then one digit range, then free digits, recursively.
    if (lo.length === 0) return "";
    if (lo === hi) return lo;
    const [a, b] = [Number(lo[0]), Number(hi[0])];
    const rest = lo.length - 1;
    const free = rest > 0 ? `[0-9]{${rest}}` : "";
    if (a === b) return `${lo[0]}(${rangeOf(lo.slice(1), hi.slice(1))})`;
    const parts: string[] = [];
    const loAllZero = /^0*$/.test(lo.slice(1));
    const hiAllNine = /^9*$/.test(hi.slice(1));
    let from = a;
    let to = b;
    if (!loAllZero) {
      parts.push(`${a}(${rangeOf(lo.slice(1), "9".repeat(rest))})`);
      from = a + 1;
    }
    if (!hiAllNine) {
      parts.push(`${b}(${rangeOf("0".repeat(rest), hi.slice(1))})`);
      to = b - 1;
    }
    if (from <= to) parts.push(`${from === to ? from : `[${from}-${to}]`}${free}`);
    return parts.join("|");
  };
  for (let digits = String(min).length; digits <= String(max).length; digits++) {
    const lo = Math.max(min, digits === 1 ? 0 : 10 ** (digits - 1));
    const hi = Math.min(max, 10 ** digits - 1);
    if (lo <= hi) alternatives.push(rangeOf(String(lo), String(hi)));
  }
  return `^(${alternatives.join("|")})$`;
}

/** A disk's size in GiB, as qemu-img is asked for it (SizeGiB of shared/hosts/qemu-img.ts). */
export const DISK_GIB_MAX = 65_536;
export const DISK_GIB_PATTERN = integerRangePattern(1, DISK_GIB_MAX);
/** Whole seconds up to a day (a clean shutdown's wait). */
export const SECONDS_UP_TO_A_DAY_PATTERN = integerRangePattern(0, 86_400);
/** Whole seconds from 1 up to a day (a time limit that cannot be none). */
export const SECONDS_1_TO_A_DAY_PATTERN = integerRangePattern(1, 86_400);
export const BOOLEAN_PATTERN = "^(true|false)$";
/** A TCP/UDP port. */
export const PORT_PATTERN = integerRangePattern(1, 65_535);
/** An AWS region, e.g. eu-west-1. */
export const AWS_REGION_PATTERN = "^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$";
/** Standard base64 (a domain XML in a document parameter). */
export const BASE64_PATTERN = "^[A-Za-z0-9+/]*={0,2}$";

/**
 * The libvirt URI other hosts reach a host's libvirtd with for a peer-to-peer live migration (nova's
 * `live_migration_uri`): qemu, qemu+tls/tcp/ssh to a host name or address, or qemu+unix with a socket path
 * (the local hosts: each a session libvirtd of its own Unix user). A narrow alphabet: it is a command word.
 */
export const LIBVIRT_URI_PATTERN =
  "^qemu(\\+(tls|tcp|ssh|unix))?://([A-Za-z0-9.-]+|\\[[0-9A-Fa-f:]+\\])?(:[0-9]{1,5})?/(system|session)(\\?socket=/[A-Za-z0-9._/-]+)?$";
export const LibvirtUri = z
  .string()
  .max(512)
  .regex(
    new RegExp(LIBVIRT_URI_PATTERN),
    "a libvirt URI is qemu[+tls|tcp|ssh|unix]://[host[:port]]/system|session[?socket=/path]",
  )
  .refine((u) => !u.includes(".."), "a libvirt URI may not contain '..'");
export type LibvirtUri = z.infer<typeof LibvirtUri>;

/** An IPv4 address, a bracket-less IPv6 address or a host name: where a host takes a guest's migration stream. */
export const NETWORK_ADDRESS_PATTERN =
  "^([0-9]{1,3}(\\.[0-9]{1,3}){3}|[0-9A-Fa-f:]*:[0-9A-Fa-f:]+|[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*)$";
export const NetworkAddress = z
  .string()
  .max(253)
  .regex(new RegExp(NETWORK_ADDRESS_PATTERN), "an address is an IPv4 or IPv6 address or a host name");
export type NetworkAddress = z.infer<typeof NetworkAddress>;
