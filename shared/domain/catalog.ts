/**
 * What a server can be built from, as plain definitions read by the API (flavors, images, networks,
 * availability zones) and by the boot flow's steps (the flavor's resources, the image in the hosts' image
 * caches): nothing is written twice. A deployment edits this file (as nova's operator creates flavors and
 * uploads images); the local cloud seeds every host's image cache with `IMAGES`.
 *
 * Images are nova's `_base` images: the file `<imageCachePath>/<id>.qcow2` on every host of the fleet.
 * An id the catalog does not list is refused by the API before anything starts (nova: 400 "Image X could
 * not be found."); a host whose cache lacks a listed image makes the flow fail `ImageNotCached` there.
 */
import { deterministicUuid } from "./ids.js";
import type { Flavor } from "./schemas.js";

export interface FlavorSpec extends Flavor {
  /** nova's flavor id (a string); here also its name. */
  id: string;
  name: string;
}

/** Small flavors: the local hosts' guests boot SeaBIOS from a blank disk and idle. */
export const FLAVORS: readonly FlavorSpec[] = [
  { id: "m1.nano", name: "m1.nano", vcpus: 1, memoryMiB: 64, diskGiB: 1 },
  { id: "m1.micro", name: "m1.micro", vcpus: 1, memoryMiB: 128, diskGiB: 1 },
  { id: "m1.tiny", name: "m1.tiny", vcpus: 1, memoryMiB: 256, diskGiB: 1 },
  { id: "m1.small", name: "m1.small", vcpus: 1, memoryMiB: 512, diskGiB: 2 },
  { id: "m1.medium", name: "m1.medium", vcpus: 2, memoryMiB: 1024, diskGiB: 4 },
];

export interface ImageSpec {
  /** The image ref: the base image's file name in every host's image cache (without `.qcow2`). */
  id: string;
  name: string;
  /** The base image's virtual size (qemu-img's size suffixes). */
  virtualSize: string;
  sizeBytes: number;
  minDiskGiB: number;
  minRamMiB: number;
  createdAt: string;
}

export const IMAGES: readonly ImageSpec[] = [
  {
    id: "cirros-0.6",
    name: "cirros-0.6",
    virtualSize: "64M",
    sizeBytes: 64 * 1024 * 1024,
    minDiskGiB: 1,
    minRamMiB: 0,
    createdAt: "2026-01-01T00:00:00.000Z",
  },
  {
    id: "ubuntu-24.04",
    name: "ubuntu-24.04",
    virtualSize: "64M",
    sizeBytes: 64 * 1024 * 1024,
    minDiskGiB: 1,
    minRamMiB: 0,
    createdAt: "2026-01-01T00:00:00.000Z",
  },
];

export interface NetworkSpec {
  id: string;
  name: string;
}

/** The networks a port can be on. Locally every NIC is qemu user-mode networking (no bridge). */
export const NETWORKS: readonly NetworkSpec[] = [
  { id: deterministicUuid("lazarus-network", "default"), name: "default" },
];
export const DEFAULT_NETWORK = NETWORKS[0]!;

export function findFlavor(idOrName: string): FlavorSpec | undefined {
  return FLAVORS.find((f) => f.id === idOrName || f.name === idOrName);
}

/** The catalog flavor with exactly these resources (an adopted instance may have none). */
export function flavorOf(resources: Flavor): FlavorSpec | undefined {
  return FLAVORS.find(
    (f) =>
      f.vcpus === resources.vcpus && f.memoryMiB === resources.memoryMiB && f.diskGiB === resources.diskGiB,
  );
}

export function findImage(idOrName: string): ImageSpec | undefined {
  return IMAGES.find((i) => i.id === idOrName) ?? IMAGES.find((i) => i.name === idOrName);
}

export function findNetwork(idOrName: string): NetworkSpec | undefined {
  return NETWORKS.find((n) => n.id === idOrName || n.name === idOrName);
}
