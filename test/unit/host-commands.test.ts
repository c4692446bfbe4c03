/**
 * Host command builders: quoting, argv and validation, checked by evaluating the commands with a real
 * bash (stubs replace virsh/qemu-img so nothing touches libvirt), and the idempotent virsh snippets
 * against a stateful fake virsh.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { InvalidInput, ProbeFailed } from "#shared/domain/errors.js";
import { liveMigrateScript, removeLeftoverScript, stopAndUndefineScript } from "#shared/hosts/migration.js";
import { domainStateProbeScript, parseDomainStateProbe } from "#shared/hosts/probes.js";
import * as qemuImg from "#shared/hosts/qemu-img.js";
import { fileExists, shellCommand, shellQuote, shellScript, writeFileCommand } from "#shared/hosts/shell.js";
import * as virsh from "#shared/hosts/virsh.js";

const work = mkdtempSync(join(tmpdir(), "lazarus-host-commands-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

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

const uuidArb = fc.uuid().chain((u) => fc.constantFrom(u, u.toUpperCase()));
const segment = fc.stringMatching(/^[A-Za-z0-9._@+=,-]{1,12}$/).filter((s) => s !== ".." && s !== ".");
const absPath = fc.array(segment, { minLength: 1, maxLength: 5 }).map((segs) => `/${segs.join("/")}`);
const diskDevice = fc.stringMatching(/^(vd|sd|hd)[a-z]{1,2}$/);
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

// ---- virsh builders --------------------------------------------------------------------------------

describe("virsh builders", () => {
  it("produce exactly the intended argv for generated uuids and paths", () => {
    fc.assert(
      fc.property(
        uuidArb,
        absPath,
        absPath,
        diskDevice,
        fc.boolean(),
        fc.boolean(),
        fc.option(format, { nil: undefined }),
        (uuid, xml, src, dev, live, config, fmt) => {
          const u = uuid.toLowerCase();
          const flags = [...(live ? ["--live"] : []), ...(config ? ["--config"] : [])];
          const lc = flags.length ? flags : ["--current"];
          const cases: Array<[string, string[]]> = [
            [virsh.domState(uuid), ["virsh", "domstate", u]],
            [virsh.domInfo(uuid), ["virsh", "dominfo", u]],
            [virsh.listAllUuids(), ["virsh", "list", "--all", "--uuid"]],
            [virsh.domBlkList(uuid), ["virsh", "domblklist", u, "--details"]],
            [virsh.domIfList(uuid), ["virsh", "domiflist", u]],
            [virsh.dumpXml(uuid), ["virsh", "dumpxml", u]],
            [virsh.dumpXml(uuid, { inactive: true }), ["virsh", "dumpxml", u, "--inactive"]],
            [virsh.define(xml), ["virsh", "define", xml]],
            [virsh.start(uuid), ["virsh", "start", u]],
            [virsh.shutdown(uuid), ["virsh", "shutdown", u]],
            [virsh.destroy(uuid), ["virsh", "destroy", u]],
            [virsh.undefine(uuid), ["virsh", "undefine", u, "--managed-save", "--snapshots-metadata"]],
            [
              virsh.attachDisk(uuid, { source: src, target: dev, live, config, format: fmt }),
              [
                "virsh",
                "attach-disk",
                u,
                src,
                dev,
                ...(fmt ? ["--driver", "qemu", "--subdriver", fmt] : []),
                ...lc,
              ],
            ],
            [virsh.detachDisk(uuid, { target: dev, live, config }), ["virsh", "detach-disk", u, dev, ...lc]],
            [fileExists(src), ["test", "-e", src]],
          ];
          for (const [command, argv] of cases) {
            expect(command.includes("\n"), command).toBe(false);
            expect(argvOf(command)).toEqual([argv]);
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it("reject anything that is not a uuid, naming the field and value", () => {
    fc.assert(
      fc.property(nastyString, (s) => {
        fc.pre(!/^[0-9a-f-]{36}$/i.test(s));
        expect(() => virsh.domState(s)).toThrow(InvalidInput);
      }),
    );
    expect(() => virsh.start("abc; reboot")).toThrow(/invalid domain: .*\(got "abc; reboot"\)/);
    expect(() => virsh.destroy("$(reboot)")).toThrow(InvalidInput);
  });

  it("reject bad paths, devices and options", () => {
    const u = "0b6e8a7c-4d7e-4d59-9a43-6b1d5b8f0c11";
    for (const bad of [
      "relative.xml",
      "/a/../b.xml",
      "/a b.xml",
      "/x;reboot",
      "/x`id`",
      "/x\nid",
      "",
      "/x$(id)",
    ]) {
      expect(() => virsh.define(bad), bad).toThrow(/invalid xmlPath/);
    }
    expect(() => virsh.attachDisk(u, { source: "/v/a", target: "vdb;id", live: true, config: true })).toThrow(
      /invalid attachDisk\.target: .*"vdb;id"/,
    );
    expect(() => virsh.attachDisk(u, { source: "../v", target: "vdb", live: true, config: true })).toThrow(
      /attachDisk\.source/,
    );
    expect(() =>
      virsh.attachDisk(u, { source: "/v", target: "vdb", live: true, config: true, format: "vmdk" as never }),
    ).toThrow(/attachDisk\.format/);
    expect(() => virsh.detachDisk(u, { target: "VDB", live: false, config: true })).toThrow(
      /detachDisk\.target/,
    );
    expect(() => virsh.powerOffClean(u, -1)).toThrow(/timeoutSeconds/);
    expect(() => virsh.powerOffClean(u, 1.5)).toThrow(/timeoutSeconds/);
    expect(() => fileExists("tmp/x")).toThrow(/invalid path/);
  });

  it("never address libvirt with -c", () => {
    const u = "0b6e8a7c-4d7e-4d59-9a43-6b1d5b8f0c11";
    for (const s of [
      virsh.ensureStarted(u),
      virsh.ensureRemoved(u),
      virsh.powerOffClean(u, 5),
      virsh.domainExists(u),
    ]) {
      expect(s).not.toMatch(/virsh\s+-c/);
    }
  });
});

// ---- idempotent snippets against a stateful fake virsh ---------------------------------------------

const DOM = "0b6e8a7c-4d7e-4d59-9a43-6b1d5b8f0c11";
const OTHER = "0b6e8a7c-4d7e-4d59-9a43-6b1d5b8f0c1f";
const FAKE_VIRSH = `
virsh() {
  echo "$*" >> "$FAKE/log"
  local st=""; [ -e "$FAKE/state" ] && st="$(cat "$FAKE/state")"
  case "$1" in
    list) [ -e "$FAKE/list_fails" ] && { echo "error: failed to connect to the hypervisor" >&2; return 1; }
          echo "${OTHER}"; [ -e "$FAKE/state" ] && echo "${DOM}"; echo ;;
    domstate) [ -e "$FAKE/state" ] || { echo "error: failed to get domain" >&2; return 1; }; echo "$st"; echo ;;
    destroy) [ "$st" = "shut off" ] && { echo "error: domain is not running" >&2; return 1; }; echo "shut off" > "$FAKE/state" ;;
    start) [ "$st" = "shut off" ] || { echo "error: domain is already active" >&2; return 1; }; echo running > "$FAKE/state" ;;
    resume) [ "$st" = paused ] || return 1; echo running > "$FAKE/state" ;;
    shutdown) [ "$st" = "shut off" ] && return 1; [ -e "$FAKE/acpi" ] && echo "shut off" > "$FAKE/state"; return 0 ;;
    undefine) [ -e "$FAKE/state" ] || return 1; rm "$FAKE/state" ;;
    *) echo "fake virsh: unexpected $*" >&2; return 1 ;;
  esac
}
sleep() { echo "sleep $*" >> "$FAKE/log"; }
`;

let fakeN = 0;
interface FakeVirsh {
  state?: string;
  listFails?: boolean;
  acpi?: boolean;
}

/** The fake virsh's folder: the domain's state (none: not defined), its failure switches, its call log. */
function fakeHost(opts: FakeVirsh): string {
  const dir = join(work, `fake${fakeN++}`);
  execFileSync("mkdir", ["-p", dir]);
  if (opts.state !== undefined) writeFileSync(join(dir, "state"), `${opts.state}\n`);
  if (opts.listFails) writeFileSync(join(dir, "list_fails"), "");
  if (opts.acpi) writeFileSync(join(dir, "acpi"), "");
  writeFileSync(join(dir, "log"), "");
  return dir;
}

function fake(opts: FakeVirsh, snippet: string) {
  const dir = fakeHost(opts);
  const r = bash(shellScript([FAKE_VIRSH, snippet, "echo after"]), { FAKE: dir });
  const read = (f: string) => {
    try {
      return readFileSync(join(dir, f), "utf8").trim();
    } catch {
      return null;
    }
  };
  const log = read("log")!.split("\n").filter(Boolean);
  return { ...r, state: read("state"), log, calls: log.map((l) => l.split(" ")[0]) };
}

describe("idempotent virsh snippets", () => {
  it("domainExists: 0 defined, 1 absent, 2 when virsh fails; exact uuid match only", () => {
    expect(fake({ state: "running" }, virsh.domainExists(DOM)).status).toBe(0);
    expect(fake({}, virsh.domainExists(DOM)).status).toBe(1);
    expect(fake({ listFails: true }, virsh.domainExists(DOM)).status).toBe(virsh.EXIT_VIRSH_FAILED);
    // OTHER (same first 35 characters as DOM) is always listed: only whole lines match.
    expect(fake({}, virsh.domainExists(DOM)).status).toBe(1);
    expect(fake({}, virsh.domainExists(OTHER)).status).toBe(0);
    expect(fake({ state: "shut off" }, virsh.domainExists(DOM.toUpperCase())).status).toBe(0);
  });

  it("ensureDestroyed", () => {
    for (const state of ["running", "paused", "idle", "in shutdown", "crashed"]) {
      const r = fake({ state }, virsh.ensureDestroyed(DOM));
      expect(r.status, r.stderr).toBe(0);
      expect(r.state).toBe("shut off");
      expect(r.calls).toContain("destroy");
    }
    const off = fake({ state: "shut off" }, virsh.ensureDestroyed(DOM));
    expect([off.status, off.state, off.calls.includes("destroy")]).toEqual([0, "shut off", false]);
    const absent = fake({}, virsh.ensureDestroyed(DOM));
    expect([absent.status, absent.log]).toEqual([0, ["list --all --uuid"]]);
    expect(absent.stdout).toContain("after");
    expect(fake({ listFails: true }, virsh.ensureDestroyed(DOM)).status).toBe(virsh.EXIT_VIRSH_FAILED);
  });

  it("ensureStarted", () => {
    const off = fake({ state: "shut off" }, virsh.ensureStarted(DOM));
    expect([off.status, off.state]).toEqual([0, "running"]);
    const on = fake({ state: "running" }, virsh.ensureStarted(DOM));
    expect([on.status, on.calls.includes("start")]).toEqual([0, false]);
    expect(fake({ state: "paused" }, virsh.ensureStarted(DOM)).state).toBe("running");
    expect(fake({}, virsh.ensureStarted(DOM)).status).toBe(virsh.EXIT_DOMAIN_ABSENT);
    const down = fake({ state: "in shutdown" }, virsh.ensureStarted(DOM));
    expect(down.status).toBe(virsh.EXIT_UNEXPECTED_STATE);
    expect(down.stderr).toContain("in shutdown");
  });

  it("startDefined: one virsh call when the domain is shut off; ensureStarted's reading when start fails", () => {
    const off = fake({ state: "shut off" }, virsh.startDefined(DOM));
    expect([off.status, off.state, off.calls]).toEqual([0, "running", ["start"]]);
    const on = fake({ state: "running" }, virsh.startDefined(DOM));
    expect([on.status, on.state]).toEqual([0, "running"]);
    expect(on.calls.filter((c) => c === "start")).toHaveLength(1);
    const paused = fake({ state: "paused" }, virsh.startDefined(DOM));
    expect([paused.status, paused.state]).toEqual([0, "running"]);
    expect(paused.calls).toContain("resume");
    expect(fake({}, virsh.startDefined(DOM)).status).toBe(virsh.EXIT_DOMAIN_ABSENT);
    const down = fake({ state: "in shutdown" }, virsh.startDefined(DOM));
    expect(down.status).toBe(virsh.EXIT_UNEXPECTED_STATE);
  });

  it("ensureUndefined / ensureRemoved", () => {
    const off = fake({ state: "shut off" }, virsh.ensureUndefined(DOM));
    expect([off.status, off.state]).toEqual([0, null]);
    expect(off.log).toContain(`undefine ${DOM} --managed-save --snapshots-metadata`);
    expect(fake({}, virsh.ensureUndefined(DOM)).status).toBe(0);
    const running = fake({ state: "running" }, virsh.ensureUndefined(DOM));
    expect([running.status, running.state]).toEqual([virsh.EXIT_UNEXPECTED_STATE, "running"]);
    const removed = fake({ state: "running" }, `${virsh.ensureRemoved(DOM)}\n${virsh.ensureRemoved(DOM)}`);
    expect([removed.status, removed.state]).toEqual([0, null]);
  });

  it("powerOffClean", () => {
    const clean = fake({ state: "running", acpi: true }, virsh.powerOffClean(DOM, 30));
    expect([clean.status, clean.state]).toEqual([0, "shut off"]);
    expect(clean.calls).toContain("shutdown");
    expect(clean.calls).not.toContain("destroy");
    const stuck = fake({ state: "running" }, virsh.powerOffClean(DOM, 3));
    expect([stuck.status, stuck.state]).toEqual([0, "shut off"]);
    expect(stuck.calls.filter((c) => c === "sleep")).toHaveLength(3);
    expect(stuck.calls.at(-1)).toBe("destroy");
    const now = fake({ state: "running" }, virsh.powerOffClean(DOM, 0));
    expect([now.status, now.state, now.calls.includes("sleep")]).toEqual([0, "shut off", false]);
    const off = fake({ state: "shut off" }, virsh.powerOffClean(DOM, 3));
    expect([off.status, off.calls.includes("shutdown")]).toEqual([0, false]);
    expect(fake({}, virsh.powerOffClean(DOM, 3)).status).toBe(0);
  });
});

describe("migration builders (shared/hosts/migration.ts)", () => {
  // The fake virsh, plus `migrate` (the domain leaves: --undefinesource) and an idle `domjobinfo`.
  const MIGRATING_VIRSH = FAKE_VIRSH.replace(
    '    *) echo "fake virsh: unexpected',
    '    migrate) [ -e "$FAKE/migrate_fails" ] && { echo "error: injected: connection reset" >&2; return 1; }; rm "$FAKE/state" ;;\n    domjobinfo) echo "Job type:         None" ;;\n    *) echo "fake virsh: unexpected',
  );
  const local = {
    uri: "qemu+unix:///session?socket=/tmp/lz-x/b/sock/libvirt-sock",
    inboundAddress: "127.0.0.1",
    poolIsLocalFolder: true,
  };
  const run = (opts: FakeVirsh & { migrateFails?: boolean }, script: string) => {
    const dir = fakeHost(opts);
    if (opts.migrateFails) writeFileSync(join(dir, "migrate_fails"), "");
    const body = script.replace(/^set -euo pipefail\nexport LC_ALL=C\n/, "");
    const r = bash(shellScript([MIGRATING_VIRSH, body]), { FAKE: dir });
    const log = readFileSync(join(dir, "log"), "utf8").split("\n").filter(Boolean);
    return { ...r, log, defined: spawnSync("test", ["-e", join(dir, "state")]).status === 0 };
  };

  it("live: migrates a running domain peer to peer, persistent there and undefined here, to the target's address only", () => {
    const r = run({ state: "running" }, liveMigrateScript(DOM, local, { completionTimeoutSeconds: 30 }));
    expect(r.status, r.stderr).toBe(0);
    expect(r.log.filter((l) => l.startsWith("migrate"))).toEqual([
      `migrate --live --p2p --persistent --undefinesource --abort-on-error --unsafe --listen-address 127.0.0.1 ${DOM} ${local.uri} tcp://127.0.0.1`,
    ]);
    expect(r.defined).toBe(false);
    // A real fleet's pool is a file system libvirt knows is shared: no --unsafe; an IPv6 address in brackets.
    const tls = {
      uri: "qemu+tls://host-b.example/system",
      inboundAddress: "fd00::b",
      poolIsLocalFolder: false,
    };
    const r2 = run({ state: "running" }, liveMigrateScript(DOM, tls, { completionTimeoutSeconds: 30 }));
    expect(r2.log.filter((l) => l.startsWith("migrate"))).toEqual([
      `migrate --live --p2p --persistent --undefinesource --abort-on-error --listen-address fd00::b ${DOM} qemu+tls://host-b.example/system tcp://[fd00::b]`,
    ]);
  });

  it("live, retried after the domain left: nothing to do; not running: refused; virsh failing: fails", () => {
    const gone = run({}, liveMigrateScript(DOM, local, { completionTimeoutSeconds: 30 }));
    expect(gone.status).toBe(0);
    expect(gone.stdout).toMatch(/has left/);
    expect(gone.log.some((l) => l.startsWith("migrate"))).toBe(false);
    const off = run({ state: "shut off" }, liveMigrateScript(DOM, local, { completionTimeoutSeconds: 30 }));
    expect(off.status).toBe(virsh.EXIT_UNEXPECTED_STATE);
    expect(off.stderr).toMatch(/only a running guest migrates live/);
    const failed = run(
      { state: "running", migrateFails: true },
      liveMigrateScript(DOM, local, { completionTimeoutSeconds: 30 }),
    );
    expect(failed.status).not.toBe(0);
    expect(failed.stderr).toMatch(/connection reset/);
    expect(failed.defined).toBe(true);
  });

  it("cold: shut down (destroyed after the timeout) and undefined; idempotent; a leftover removed", () => {
    const r = run({ state: "running", acpi: true }, stopAndUndefineScript(DOM, 3));
    expect(r.status, r.stderr).toBe(0);
    expect(r.log.map((l) => l.split(" ")[0])).toContain("shutdown");
    expect(r.defined).toBe(false);
    expect(run({}, stopAndUndefineScript(DOM, 3)).status).toBe(0);
    const paused = run({ state: "paused" }, removeLeftoverScript(DOM));
    expect(paused.status, paused.stderr).toBe(0);
    expect(paused.defined).toBe(false);
  });

  it("refuse a target whose URI or address is not one, and a timeout out of range", () => {
    const bad: Record<string, unknown>[] = [
      { ...local, uri: "qemu+ssh://host/system; touch /tmp/x" },
      { ...local, uri: "qemu:///session?socket=/tmp/../etc/x" },
      { ...local, uri: "xen://host/system" },
      { ...local, uri: "qemu+tls://host/system?socket=/x&y=$(id)" },
      { ...local, inboundAddress: "127.0.0.1 --unsafe" },
      { ...local, inboundAddress: "$(id)" },
    ];
    for (const target of bad) {
      expect(() => liveMigrateScript(DOM, target as never, { completionTimeoutSeconds: 30 })).toThrow(
        InvalidInput,
      );
    }
    expect(() => liveMigrateScript(DOM, local, { completionTimeoutSeconds: 0 })).toThrow(InvalidInput);
    expect(() => liveMigrateScript("not-a-uuid", local, { completionTimeoutSeconds: 30 })).toThrow(
      InvalidInput,
    );
    fc.assert(
      fc.property(fc.string(), (junk) => {
        const uri = `qemu+tls://${junk}/system`;
        let built: string | null = null;
        try {
          built = liveMigrateScript(DOM, { ...local, uri }, { completionTimeoutSeconds: 30 });
        } catch (e) {
          expect(e).toBeInstanceOf(InvalidInput);
        }
        // Accepted only as the narrow alphabet the schema allows, and then quoted as one word.
        if (built !== null) expect(built).toContain(shellQuote(uri));
      }),
    );
  });
});

describe("domain-state probe (shared/hosts/probes.ts)", () => {
  /** The probe's whole script run against the fake virsh, its result read as the flows read it. */
  const ask = (opts: FakeVirsh) => {
    const r = bash(`${FAKE_VIRSH}\n${domainStateProbeScript(DOM)}`, { FAKE: fakeHost(opts) });
    return parseDomainStateProbe("h1", { exitCode: r.status, stdout: r.stdout, stderr: r.stderr });
  };

  it("answers the power state, or absent when the domain is not defined", () => {
    expect(ask({ state: "running" })).toBe("running");
    expect(ask({ state: "idle" })).toBe("running");
    expect(ask({ state: "paused" })).toBe("paused");
    expect(ask({ state: "shut off" })).toBe("shutdown");
    expect(ask({ state: "crashed" })).toBe("crashed");
    expect(ask({})).toBe("absent");
  });

  it("virsh that cannot answer is ProbeFailed, never absent; a state virsh never prints is InvalidInput", () => {
    expect(() => ask({ listFails: true })).toThrow(ProbeFailed);
    expect(() => ask({ listFails: true })).toThrow(/^virsh could not answer on h1: [\s\S]*virsh list failed/);
    expect(() => ask({ state: "sleeping" })).toThrow(InvalidInput);
  });

  it("the domain uuid is validated before anything is built", () => {
    expect(() => domainStateProbeScript("x; reboot")).toThrow(InvalidInput);
  });
});

// ---- qemu-img ------------------------------------------------------------------------------------

describe("qemu-img builders", () => {
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
          expect(argvOf(qemuImg.createOverlay({ base, disk, sizeGiB: size }))).toEqual([
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
          expect(argvOf(qemuImg.createBlank({ path: disk, sizeGiB: size ?? 1, format: fmt }))).toEqual([
            ["mkdir", "-p", "--", dir],
            ["qemu-img", "create", "-q", "-f", fmt, disk, `${size ?? 1}G`],
            ["chmod", "0660", "--", disk],
          ]);
          expect(argvOf(qemuImg.info(disk))).toEqual([["qemu-img", "info", "--output=json", "-U", disk]]);
          // The two sides of a pipeline run concurrently: compare as a set.
          const pipeline = argvOf(qemuImg.firstMiBChecksum(disk));
          expect(pipeline).toHaveLength(2);
          expect(pipeline).toEqual(
            expect.arrayContaining([["head", "-c", "1048576", "--", disk], ["sha256sum"]]),
          );
        },
      ),
      { numRuns: 30 },
    );
  });

  it("reject bad input", () => {
    expect(() => qemuImg.createOverlay({ base: "/b", disk: "rel/disk" })).toThrow(/createOverlay\.disk/);
    expect(() => qemuImg.createOverlay({ base: "/b", disk: "/d", sizeGiB: 0 })).toThrow(/sizeGiB/);
    expect(() => qemuImg.createOverlay({ base: "/d", disk: "/d" })).toThrow(/same file/);
    expect(() => qemuImg.createBlank({ path: "/d", sizeGiB: 1, format: "vmdk" as never })).toThrow(/format/);
    expect(() => qemuImg.info("/x/../etc/shadow")).toThrow(/'\.\.'/);
  });

  it("work for real: overlay on a base, info parsed, checksum parsed", () => {
    const base = join(work, "img", "base.qcow2");
    const disk = join(work, "inst", "0b6e8a7c", "disk");
    const script = shellScript([
      qemuImg.createBlank({ path: base, sizeGiB: 1, format: "qcow2" }),
      qemuImg.createOverlay({ base, disk, sizeGiB: 2 }),
    ]);
    const made = bash(script);
    expect(made.stderr).toBe("");
    expect(made.status).toBe(0);
    const inf = qemuImg.parseQemuImgInfo(bash(qemuImg.info(disk)).stdout);
    expect(inf).toMatchObject({
      filename: disk,
      format: "qcow2",
      virtualSizeBytes: 2 * 1024 ** 3,
      backingFilename: base,
      fullBackingFilename: base,
      backingFormat: "qcow2",
    });
    const baseInfo = qemuImg.parseQemuImgInfo(bash(qemuImg.info(base)).stdout);
    expect([baseInfo.backingFilename, baseInfo.virtualSizeBytes]).toEqual([null, 1024 ** 3]);
    const sum = qemuImg.parseSha256sum(bash(shellScript([qemuImg.firstMiBChecksum(disk)])).stdout);
    const expected = execFileSync(
      "bash",
      ["-c", `head -c 1048576 "$1" | sha256sum | cut -c1-64`, "_", disk],
      {
        encoding: "utf8",
      },
    ).trim();
    expect(sum).toBe(expected);
  });

  it("parsers reject output they do not understand", () => {
    expect(() => qemuImg.parseQemuImgInfo("qemu-img: Could not open '/x'")).toThrow(/not JSON/);
    expect(() => qemuImg.parseQemuImgInfo('{"format":"qcow2"}')).toThrow(/not understood/);
    expect(() => qemuImg.parseSha256sum("sha256sum: /x: No such file")).toThrow(InvalidInput);
    expect(() => qemuImg.parseSha256sum(`${"a".repeat(63)}  -\n`)).toThrow(InvalidInput);
    expect(qemuImg.parseSha256sum(`${"ab".repeat(32)}  -\n`)).toBe("ab".repeat(32));
  });
});
