/**
 * Shell building blocks for the scripts the flows send to hosts (run by bash, see executor.ts).
 * Every value is quoted with `shellQuote`; content that is not a short validated value (domain XML)
 * travels base64-encoded, so no input can ever be read by the host's shell as code.
 */
import { posix } from "node:path";
import { InvalidInput } from "../domain/errors.js";
import { AbsolutePath } from "../domain/values.js";
import { validated } from "./validate.js";

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
