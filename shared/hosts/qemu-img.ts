/**
 * qemu-img command builders and parsers, plus a first-MiB checksum (cheap identity check of a disk,
 * e.g. "is this the same file the other host sees" for shared-storage detection).
 */
import { posix } from "node:path";
import { z } from "zod";
import { InvalidInput } from "../domain/errors.js";
import { AbsolutePath } from "../domain/values.js";
import { shellQuote } from "./shell.js";
import { validated } from "./validate.js";

const SizeGiB = z.number().int().positive().max(65_536);
export const ImageFormat = z.enum(["qcow2", "raw"]);
export type ImageFormat = z.infer<typeof ImageFormat>;

function parentDir(path: string, field: string): string {
  const dir = posix.dirname(path);
  if (dir === path || path.endsWith("/")) {
    throw new InvalidInput(
      `invalid ${field}: a file path may not be '/' or end with '/' (got ${JSON.stringify(path)})`,
      {
        field,
        value: path,
      },
    );
  }
  return dir;
}

export interface CreateOverlayOptions {
  /** The cached base image (qcow2), e.g. `<imageCachePath>/<imageRef>.qcow2`. */
  base: string;
  /** The instance disk to create, e.g. `<instancesPath>/<uuid>/disk`. */
  disk: string;
  /** Virtual size; omitted = the base image's size. */
  sizeGiB?: number;
}

/**
 * `mkdir -p DIR` + `qemu-img create -f qcow2 -b BASE -F qcow2 DISK [SIZEG]`: a copy-on-write disk
 * on top of a cached base (nova's `_base`). Overwrites an existing DISK.
 */
export function createOverlay(opts: CreateOverlayOptions): string {
  const base = validated(AbsolutePath, "createOverlay.base", opts.base);
  const disk = validated(AbsolutePath, "createOverlay.disk", opts.disk);
  const dir = parentDir(disk, "createOverlay.disk");
  if (base === disk) {
    throw new InvalidInput(
      `invalid createOverlay: base and disk are the same file (${JSON.stringify(disk)})`,
      {
        field: "createOverlay.disk",
        value: disk,
      },
    );
  }
  const size =
    opts.sizeGiB === undefined ? [] : [`${validated(SizeGiB, "createOverlay.sizeGiB", opts.sizeGiB)}G`];
  return [
    `mkdir -p -- ${shellQuote(dir)}`,
    [
      "qemu-img",
      "create",
      "-q",
      "-f",
      "qcow2",
      "-b",
      shellQuote(base),
      "-F",
      "qcow2",
      shellQuote(disk),
      ...size.map(shellQuote),
    ].join(" "),
    groupWritable(disk),
  ].join("\n");
}

export interface CreateBlankOptions {
  path: string;
  sizeGiB: number;
  format: ImageFormat;
}

/** `mkdir -p DIR` + `qemu-img create -f FORMAT PATH SIZEG` (an empty disk; overwrites PATH). */
export function createBlank(opts: CreateBlankOptions): string {
  const path = validated(AbsolutePath, "createBlank.path", opts.path);
  const dir = parentDir(path, "createBlank.path");
  const size = validated(SizeGiB, "createBlank.sizeGiB", opts.sizeGiB);
  const format = validated(ImageFormat, "createBlank.format", opts.format);
  return [
    `mkdir -p -- ${shellQuote(dir)}`,
    ["qemu-img", "create", "-q", "-f", shellQuote(format), shellQuote(path), shellQuote(`${size}G`)].join(
      " ",
    ),
    groupWritable(path),
  ].join("\n");
}

/**
 * qemu-img creates files 0644 whatever the umask. Hosts that share storage open each other's disks (an
 * evacuated instance's disk, a volume), and they share a group, not a user: give the group read-write.
 */
function groupWritable(path: string): string {
  return `chmod 0660 -- ${shellQuote(path)}`;
}

/** `qemu-img info --output=json -U PATH` (-U: also works on a disk a running domain holds) -> parseQemuImgInfo. */
export function info(path: string): string {
  const p = validated(AbsolutePath, "path", path);
  return ["qemu-img", "info", "--output=json", "-U", shellQuote(p)].join(" ");
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

/**
 * `qemu-img info --output=json -U --backing-chain PATH` -> parseQemuImgBackingChain: the image and every
 * backing file below it, top first.
 */
export function infoBackingChain(path: string): string {
  const p = validated(AbsolutePath, "path", path);
  return ["qemu-img", "info", "--output=json", "-U", "--backing-chain", shellQuote(p)].join(" ");
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

/** Bytes hashed by firstMiBChecksum. */
export const CHECKSUM_BYTES = 1_048_576;

/** `head -c 1048576 PATH | sha256sum`: SHA-256 of the file's first MiB -> parseSha256sum. */
export function firstMiBChecksum(path: string): string {
  const p = validated(AbsolutePath, "path", path);
  return `head -c ${CHECKSUM_BYTES} -- ${shellQuote(p)} | sha256sum`;
}

/** Parses `sha256sum` output of stdin (`<64 hex>  -`) and returns the lower-case hex digest. */
export function parseSha256sum(stdout: string): string {
  const m = /^([0-9a-f]{64}) [ *]-\n?$/.exec(stdout.trim() === "" ? stdout : `${stdout.trimEnd()}\n`);
  if (!m)
    throw new InvalidInput(`sha256sum output not understood: ${excerpt(stdout)}`, {
      output: excerpt(stdout),
    });
  return m[1]!;
}

function excerpt(text: string): string {
  const t = JSON.stringify(text);
  return t.length > 300 ? `${t.slice(0, 300)}...` : t;
}
