/**
 * The local simulation's shell building blocks (local/hosts/shell.ts): quoting, argv and validation,
 * checked by evaluating the commands with a real bash (stubs replace the programs where nothing should
 * run), and the qemu-img script builders for real. The control plane sends no script: its host commands are
 * documents (test/unit/host-documents.test.ts).
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import * as shell from "#local/hosts/shell.js";
import {
  createBlank,
  createOverlay,
  shellCommand,
  shellQuote,
  shellScript,
  writeFileCommand,
} from "#local/hosts/shell.js";
import { InvalidInput } from "#shared/domain/errors.js";
import { parseQemuImgInfo } from "#shared/hosts/qemu-img.js";
import { useTempDir } from "#test/support/temp-dir.js";

const work = useTempDir("lazarus-local-shell-");

function bash(
  script: string,
  env: Record<string, string> = {},
): { status: number; stdout: string; stderr: string } {
  const r = spawnSync("bash", ["-c", script], { env: { ...process.env, ...env }, encoding: "utf8" });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

// ---- arbitraries ---------------------------------------------------------------------------------

const dangerous = [
  "'",
  '"',
  "\\",
  "$(",
  ")",
  "`",
  "\n",
  "\r",
  "\t",
  " ",
  ";",
  "&&",
  "||",
  "|",
  ">",
  "<",
  "*",
  "?",
  "~",
  "#",
  "!",
  "{",
  "}",
  "$'",
  "$" + "{IFS}",
  "$HOME",
  "'\\''",
  "é",
  "日本",
  "🙂",
  "\u00a0",
  "--",
  "-e",
];
const nastyString = fc.oneof(
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.array(fc.constantFrom(...dangerous), { maxLength: 12 }).map((parts) => parts.join("")),
  fc
    .array(fc.oneof(fc.constantFrom(...dangerous), fc.string({ maxLength: 4 })), { maxLength: 10 })
    .map((p) => p.join("")),
);
const shellSafe = nastyString.map((s) => s.replaceAll("\0", ""));

const segment = fc.stringMatching(/^[A-Za-z0-9._@+=,-]{1,12}$/).filter((s) => s !== ".." && s !== ".");
const absPath = fc.array(segment, { minLength: 1, maxLength: 5 }).map((segs) => `/${segs.join("/")}`);
const format = fc.constantFrom("qcow2" as const, "raw" as const);

// ---- argv capture: stub functions print their argv NUL-separated to fd 3 --------------------------

const STUBS = ["virsh", "qemu-img", "mkdir", "head", "sha256sum", "test", "base64", "mv", "chmod"];
function argvOf(command: string): string[][] {
  const stubs = STUBS.map((name) => `${name}() { printf '%s\\0' CALL ${name} "$#" "$@" >&3; }`).join("\n");
  const r = bash(`exec 3>&1\n${stubs}\n${command}\n`);
  expect(r.stderr).toBe("");
  expect(r.status).toBe(0);
  const words = r.stdout.split("\0");
  const calls: string[][] = [];
  let i = 0;
  while (i < words.length - 1) {
    expect(words[i]).toBe("CALL");
    const n = Number(words[i + 2]);
    calls.push([words[i + 1]!, ...words.slice(i + 3, i + 3 + n)]);
    i += 3 + n;
  }
  return calls;
}

// ---- shellQuote ------------------------------------------------------------------------------------

describe("shellQuote", () => {
  it("round-trips arbitrary strings through bash as exactly one word", () => {
    fc.assert(
      fc.property(shellSafe, (value) => {
        const r = bash(`printf '[%s]' ${shellQuote(value)}`);
        expect(r.status).toBe(0);
        expect(r.stdout).toBe(`[${value}]`);
      }),
      { numRuns: 300 },
    );
  });

  it("keeps many values apart in one command line", () => {
    fc.assert(
      fc.property(fc.array(shellSafe, { maxLength: 8 }), (values) => {
        const r = bash(`printf '%s\\0' ${values.map(shellQuote).join(" ")} END`);
        expect(r.stdout.split("\0").slice(0, -1)).toEqual([...values, "END"]);
      }),
      { numRuns: 100 },
    );
  });

  it("quotes the empty string and embedded quotes", () => {
    expect(shellQuote("")).toBe("''");
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    expect(shellCommand(["echo", "", "a b"])).toBe(`'echo' '' 'a b'`);
  });

  it("rejects values no shell word can carry", () => {
    expect(() => shellQuote("a\0b")).toThrow(InvalidInput);
    expect(() => shellQuote("\uD800x")).toThrow(/surrogate/);
    expect(() => shellCommand([])).toThrow(InvalidInput);
  });

  it("shellScript stops at the first failure, including inside pipelines", () => {
    expect(shellScript(["true"]).startsWith("set -euo pipefail\n")).toBe(true);
    const r = bash(shellScript(["false | cat", "echo not-reached"]));
    expect(r.status).not.toBe(0);
    expect(r.stdout).not.toContain("not-reached");
  });
});

describe("writeFileCommand", () => {
  it("writes arbitrary text byte for byte, through base64", () => {
    let n = 0;
    fc.assert(
      fc.property(nastyString, (content) => {
        const path = join(work, `w${n++}`, "file.xml");
        const r = bash(shellScript([writeFileCommand(path, content)]));
        expect(r.stderr).toBe("");
        expect(r.status).toBe(0);
        expect(readFileSync(path, "utf8")).toBe(content);
      }),
      { numRuns: 60 },
    );
  });

  it("never puts the content itself in the script", () => {
    const cmd = writeFileCommand("/var/lib/x/libvirt.xml", "$(reboot)'; rm -rf / #");
    expect(cmd).not.toContain("reboot");
    expect(cmd).not.toContain("rm -rf");
  });

  it("rejects bad paths", () => {
    for (const bad of ["relative/x", "/a/../b", "/a b", "/a;b", "/$(x)", "/", "/dir/"]) {
      expect(() => writeFileCommand(bad, "x"), bad).toThrow(InvalidInput);
    }
  });
});

describe("fileExists", () => {
  it("tests one quoted path, and refuses a relative one", () => {
    expect(argvOf(shell.fileExists("/a/b=c"))).toEqual([["test", "-e", "/a/b=c"]]);
    expect(() => shell.fileExists("tmp/x")).toThrow(/invalid path/);
  });
});

// ---- qemu-img ------------------------------------------------------------------------------------

describe("qemu-img script builders", () => {
  it("produce exactly the intended argv", () => {
    fc.assert(
      fc.property(
        absPath,
        absPath,
        fc.option(fc.integer({ min: 1, max: 2048 }), { nil: undefined }),
        format,
        (base, disk, size, fmt) => {
          fc.pre(base !== disk);
          const dir = disk.slice(0, disk.lastIndexOf("/")) || "/";
          expect(argvOf(createOverlay({ base, disk, sizeGiB: size }))).toEqual([
            ["mkdir", "-p", "--", dir],
            [
              "qemu-img",
              "create",
              "-q",
              "-f",
              "qcow2",
              "-b",
              base,
              "-F",
              "qcow2",
              disk,
              ...(size ? [`${size}G`] : []),
            ],
            ["chmod", "0660", "--", disk],
          ]);
          expect(argvOf(createBlank({ path: disk, sizeGiB: size ?? 1, format: fmt }))).toEqual([
            ["mkdir", "-p", "--", dir],
            ["qemu-img", "create", "-q", "-f", fmt, disk, `${size ?? 1}G`],
            ["chmod", "0660", "--", disk],
          ]);
          expect(argvOf(shell.info(disk))).toEqual([["qemu-img", "info", "--output=json", "-U", disk]]);
        },
      ),
      { numRuns: 30 },
    );
  });

  it("reject bad input", () => {
    expect(() => createOverlay({ base: "/b", disk: "rel/disk" })).toThrow(/createOverlay\.disk/);
    expect(() => createOverlay({ base: "/b", disk: "/d", sizeGiB: 0 })).toThrow(/sizeGiB/);
    expect(() => createOverlay({ base: "/d", disk: "/d" })).toThrow(/same file/);
    expect(() => createBlank({ path: "/d", sizeGiB: 1, format: "vmdk" as never })).toThrow(/format/);
    expect(() => shell.info("/x/../etc/shadow")).toThrow(/'\.\.'/);
  });

  it("work for real: overlay on a base, info parsed", () => {
    const base = join(work, "img", "base.qcow2");
    const disk = join(work, "inst", "0b6e8a7c", "disk");
    const script = shellScript([
      createBlank({ path: base, sizeGiB: 1, format: "qcow2" }),
      createOverlay({ base, disk, sizeGiB: 2 }),
    ]);
    const made = bash(script);
    expect(made.stderr).toBe("");
    expect(made.status).toBe(0);
    const inf = parseQemuImgInfo(bash(shell.info(disk)).stdout);
    expect(inf).toMatchObject({
      filename: disk,
      format: "qcow2",
      virtualSizeBytes: 2 * 1024 ** 3,
      backingFilename: base,
      fullBackingFilename: base,
      backingFormat: "qcow2",
    });
    const baseInfo = parseQemuImgInfo(bash(shell.info(base)).stdout);
    expect([baseInfo.backingFilename, baseInfo.virtualSizeBytes]).toEqual([null, 1024 ** 3]);
  });

  it("parsers reject output they do not understand", () => {
    expect(() => parseQemuImgInfo("qemu-img: Could not open '/x'")).toThrow(/not JSON/);
    expect(() => parseQemuImgInfo('{"format":"qcow2"}')).toThrow(/not understood/);
  });
});
