/**
 * Shell building blocks for the local simulation's own scripts, run on a host as its user: what an operator
 * does with virsh and qemu-img before Lazarus knows a domain (local/fleet-domains.ts), and the benchmark's
 * floor. The control plane never sends a script: it sends the stack's documents (ssm-documents/).
 * Every value is quoted with `shellQuote`; content that is not a short validated value (domain XML)
 * travels base64-encoded, so no input can ever be read by the host's shell as code.
 */
import { posix } from "node:path";
import { InvalidInput } from "#shared/domain/errors.js";
import { AbsolutePath } from "#shared/domain/values.js";
import { ImageFormat, SizeGiB } from "#shared/hosts/qemu-img.js";
import { validated } from "#shared/hosts/validate.js";

/** Lone UTF-16 surrogates (with the `u` flag a well-formed pair is one code point and does not match). */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/**
 * POSIX single-quote quoting: the result is one shell word that evaluates to exactly `value`
 * (bash, dash, zsh). An embedded `'` becomes `'\''`; the empty string becomes `''`; newlines, `$`,
 * backticks and all other characters stay literal inside the quotes.
 * Throws InvalidInput for values no shell word can carry: a NUL, or a lone surrogate (not UTF-8-encodable).
 */
export function shellQuote(value: string): string {
  if (typeof value !== "string") {
    throw new InvalidInput(`shellQuote: expected a string, got ${typeof value}`);
  }
  if (value.includes("\0")) {
    throw new InvalidInput("shellQuote: a shell word cannot contain a NUL character", {
      length: value.length,
    });
  }
  if (LONE_SURROGATE.test(value)) {
    throw new InvalidInput("shellQuote: the value is not well-formed Unicode (lone surrogate)", {
      length: value.length,
    });
  }
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** One simple command: every argument (the program name included) quoted and joined by spaces. */
export function shellCommand(argv: readonly string[]): string {
  if (argv.length === 0) throw new InvalidInput("shellCommand: an empty argv");
  return argv.map(shellQuote).join(" ");
}

/** First lines of every script: stop at the first failure, and use the C locale so output parses. */
export const SCRIPT_PRELUDE: readonly string[] = ["set -euo pipefail", "export LC_ALL=C"];

/**
 * A bash script from already-built lines (commands or snippets from this folder), prefixed with
 * `set -euo pipefail` and `export LC_ALL=C` (virsh/qemu-img messages and states in English).
 */
export function shellScript(lines: readonly string[]): string {
  return `${[...SCRIPT_PRELUDE, ...lines].join("\n")}\n`;
}

/**
 * Writes `content` (any text, e.g. a domain XML) to `path` as UTF-8: creates the parent folder,
 * decodes base64 into `<path>.lazarus-tmp`, then renames it over `path` (readers never see half a file).
 * The content only ever appears base64-encoded, so it cannot inject shell.
 */
export function writeFileCommand(path: string, content: string): string {
  const target = validated(AbsolutePath, "path", path);
  if (target === "/" || target.endsWith("/")) {
    throw new InvalidInput(`invalid path: a file path may not end with '/' (got ${JSON.stringify(path)})`, {
      field: "path",
      value: path,
    });
  }
  if (typeof content !== "string" || LONE_SURROGATE.test(content)) {
    throw new InvalidInput("writeFileCommand: content must be well-formed Unicode text");
  }
  const tmp = `${target}.lazarus-tmp`;
  const b64 = Buffer.from(content, "utf8").toString("base64");
  return [
    `mkdir -p -- ${shellQuote(posix.dirname(target))}`,
    `printf %s ${shellQuote(b64)} | base64 -d > ${shellQuote(tmp)}`,
    `mv -f -- ${shellQuote(tmp)} ${shellQuote(target)}`,
  ].join("\n");
}

/**
 * Probe: exit 0 if `path` exists (any file type; a dangling symlink counts as absent), 1 if not.
 * Meant to be the whole script of an executor `probe`.
 */
export function fileExists(path: string): string {
  const target = validated(AbsolutePath, "path", path);
  return `test -e ${shellQuote(target)}`;
}

function parentDir(path: string, field: string): string {
  const dir = posix.dirname(path);
  if (dir === path || path.endsWith("/")) {
    throw new InvalidInput(
      `invalid ${field}: a file path may not be '/' or end with '/' (got ${JSON.stringify(path)})`,
      { field, value: path },
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
