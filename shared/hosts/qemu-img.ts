/**
 * qemu-img: the builders of the disk operations' host commands (the documents create-root-disk and
 * create-volume run qemu-img there) and the parsers of what `qemu-img info` answers.
 */

import { z } from "zod";
import { CREATE_ROOT_DISK } from "#ssm-documents/create-root-disk.js";
import { CREATE_VOLUME } from "#ssm-documents/create-volume.js";
import { DELETE_VOLUME } from "#ssm-documents/delete-volume.js";
import { InvalidInput } from "../domain/errors.js";
import type { Host, Volume } from "../domain/schemas.js";
import { FileName, ImageRef } from "../domain/values.js";
import { type HostCommand, hostCommand } from "./host-command.js";
import { validated } from "./validate.js";
import { domainUuid } from "./virsh.js";

export const SizeGiB = z.number().int().positive().max(65_536);
export const ImageFormat = z.enum(["qcow2", "raw"]);
export type ImageFormat = z.infer<typeof ImageFormat>;

/**
 * The instance's root disk on `host`, copy-on-write on the cached image `imageRef` (nova's `_base`), of
 * `sizeGiB`. `replace`: a rebuild re-images (the old disk is removed first); otherwise a disk that is there
 * is kept (an evacuation never deletes or overwrites a root disk). Exit 2: the image is not in the cache.
 */
export function createRootDisk(
  host: Pick<Host, "storage">,
  opts: { instanceUuid: string; imageRef: string; sizeGiB: number; replace: boolean },
): HostCommand {
  return hostCommand(CREATE_ROOT_DISK, {
    uuid: domainUuid(opts.instanceUuid),
    instancesPath: host.storage.instancesPath,
    imageCachePath: host.storage.imageCachePath,
    imageRef: validated(ImageRef, "imageRef", opts.imageRef),
    sizeGiB: String(validated(SizeGiB, "sizeGiB", opts.sizeGiB)),
    replace: String(opts.replace),
  });
}

/** A new empty raw volume file in the host's volumes folder (refused if its file exists). */
export function createVolume(host: Host, volume: Pick<Volume, "backingFile" | "sizeGiB">): HostCommand {
  return hostCommand(CREATE_VOLUME, {
    volumesPath: host.storage.volumesPath,
    fileName: validated(FileName, "backingFile", volume.backingFile),
    sizeGiB: String(validated(SizeGiB, "sizeGiB", volume.sizeGiB)),
  });
}

/** A volume's file removed from the host's volumes folder (an absent one is removed). */
export function deleteVolume(host: Host, volume: Pick<Volume, "backingFile">): HostCommand {
  return hostCommand(DELETE_VOLUME, {
    volumesPath: host.storage.volumesPath,
    fileName: validated(FileName, "backingFile", volume.backingFile),
  });
}

const QemuImgInfoJson = z.looseObject({
  filename: z.string(),
  format: z.string(),
  "virtual-size": z.number().int().nonnegative(),
  "actual-size": z.number().int().nonnegative().optional(),
  "cluster-size": z.number().int().positive().optional(),
  "backing-filename": z.string().optional(),
  "full-backing-filename": z.string().optional(),
  "backing-filename-format": z.string().optional(),
  "dirty-flag": z.boolean().optional(),
});

export interface QemuImgInfo {
  filename: string;
  /** e.g. "qcow2", "raw". */
  format: string;
  virtualSizeBytes: number;
  /** Bytes used on the host's file system (absent on some protocols). */
  actualSizeBytes: number | null;
  /** The backing file as written in the image (may be relative), or null. */
  backingFilename: string | null;
  /** The backing file resolved to a full path, or null. */
  fullBackingFilename: string | null;
  backingFormat: string | null;
  dirty: boolean | null;
}

/** Parses `qemu-img info --output=json` of one image. Throws InvalidInput on anything else. */
export function parseQemuImgInfo(stdout: string): QemuImgInfo {
  let json: unknown;
  try {
    json = JSON.parse(stdout);
  } catch (e) {
    throw new InvalidInput(
      `qemu-img info output is not JSON: ${excerpt(stdout)}`,
      { output: excerpt(stdout) },
      { cause: e },
    );
  }
  const parsed = QemuImgInfoJson.safeParse(json);
  if (!parsed.success) {
    throw new InvalidInput(
      `qemu-img info output not understood (${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}): ${excerpt(stdout)}`,
      { output: excerpt(stdout) },
    );
  }
  const d = parsed.data;
  return {
    filename: d.filename,
    format: d.format,
    virtualSizeBytes: d["virtual-size"],
    actualSizeBytes: d["actual-size"] ?? null,
    backingFilename: d["backing-filename"] ?? null,
    fullBackingFilename: d["full-backing-filename"] ?? null,
    backingFormat: d["backing-filename-format"] ?? null,
    dirty: d["dirty-flag"] ?? null,
  };
}

/** Parses `qemu-img info --backing-chain --output=json` (a JSON array, top image first). */
export function parseQemuImgBackingChain(stdout: string): QemuImgInfo[] {
  let json: unknown;
  try {
    json = JSON.parse(stdout);
  } catch (e) {
    throw new InvalidInput(
      `qemu-img info --backing-chain output is not JSON: ${excerpt(stdout)}`,
      { output: excerpt(stdout) },
      { cause: e },
    );
  }
  if (!Array.isArray(json) || json.length === 0) {
    throw new InvalidInput(`qemu-img info --backing-chain: expected a non-empty array: ${excerpt(stdout)}`);
  }
  return json.map((entry) => parseQemuImgInfo(JSON.stringify(entry)));
}

function excerpt(text: string): string {
  const t = JSON.stringify(text);
  return t.length > 300 ? `${t.slice(0, 300)}...` : t;
}
