/**
 * The stack's host documents (ssm-documents/), run as SSM and its agent run them (test/support/
 * document-runner.ts): rendered to the JSON the stack deploys, parameters checked as SSM checks them, the
 * script run with `sh -c` against a stateful fake virsh or the real qemu-img. A caller chooses values, never
 * the command: a value outside its pattern is refused before anything runs, the script checks it again, and
 * no value is ever part of a script's text. Also: the idempotent domain operations, the define-domain
 * document's checks of the XML it is given, the disks made where the layout says, and the builders' own
 * refusals.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InvalidInput, ProbeFailed } from "#shared/domain/errors.js";
import { DISK_LOCK_REFUSAL_PATTERN } from "#shared/domain/fencing.js";
import type { Host } from "#shared/domain/schemas.js";
import { disableAutostart, parseDiskChains, readDiskChains } from "#shared/hosts/domain-inventory.js";
import { buildDomainXml, DOMAIN_XML_ELEMENTS } from "#shared/hosts/domain-xml.js";
import { EXIT_DOMAIN_ABSENT, EXIT_UNEXPECTED_STATE, EXIT_VIRSH_FAILED } from "#shared/hosts/exit-codes.js";
import { defineDomain } from "#shared/hosts/instance-domain.js";
import { rootDiskPath } from "#shared/hosts/layout.js";
import { liveMigrate, stopAndUndefine } from "#shared/hosts/migration.js";
import {
  domainStateProbe,
  parseDomainStateProbe,
  parseTargetProbe,
  targetProbe,
} from "#shared/hosts/probes.js";
import { createRootDisk, createVolume, parseQemuImgInfo } from "#shared/hosts/qemu-img.js";
import {
  detachVolume,
  removeDomain,
  removeStaleDomains,
  startDomain,
  stopDomain,
} from "#shared/hosts/virsh.js";
import { EXIT_XML_REFUSED } from "#ssm-documents/define-domain.js";
import { AUTOSTART_UUIDS_MAX_CHARS, AUTOSTART_UUIDS_PER_COMMAND } from "#ssm-documents/disable-autostart.js";
import { EXECUTION_TIMEOUT_PARAMETER, EXIT_BAD_PARAMETER, renderDocument } from "#ssm-documents/document.js";
import { HOST_DOCUMENTS } from "#ssm-documents/index.js";
import { LIVE_MIGRATE_DOMAIN } from "#ssm-documents/live-migrate-domain.js";
import { awsErrorType, resolveHostCommand, runHostCommand } from "#test/support/document-runner.js";
import { makeHost, makeInstance } from "#test/support/fixtures.js";
import { useTempDir } from "#test/support/temp-dir.js";

const work = useTempDir("lazarus-host-documents-");

const DOM = "0b6e8a7c-4d7e-4d59-9a43-6b1d5b8f0c11";
/** Same first 35 characters as DOM: only whole lines may match. */
const OTHER = "0b6e8a7c-4d7e-4d59-9a43-6b1d5b8f0c1f";

// ---- a stateful fake virsh (and sleep), as programs on PATH -----------------------------------------

const FAKE_VIRSH = `#!/bin/bash
echo "$*" >> "$FAKE/log"
st=""; [ -e "$FAKE/state" ] && st="$(cat "$FAKE/state")"
case "$1" in
  list) [ -e "$FAKE/list_fails" ] && { echo "error: failed to connect to the hypervisor" >&2; exit 1; }
        echo "$OTHER"; [ -e "$FAKE/state" ] && echo "$DOM"; echo ;;
  domstate) [ -e "$FAKE/state" ] || { echo "error: failed to get domain" >&2; exit 1; }; echo "$st"; echo ;;
  destroy) [ "$st" = "shut off" ] && { echo "error: domain is not running" >&2; exit 1; }; echo "shut off" > "$FAKE/state" ;;
  start) [ -e "$FAKE/start_refused" ] && { cat "$FAKE/start_refused" >&2; exit 1; }
         [ "$st" = "shut off" ] || { echo "error: domain is already active" >&2; exit 1; }; echo running > "$FAKE/state" ;;
  resume) [ "$st" = paused ] || exit 1; echo running > "$FAKE/state" ;;
  shutdown) [ "$st" = "shut off" ] && exit 1; [ -e "$FAKE/acpi" ] && echo "shut off" > "$FAKE/state"; exit 0 ;;
  undefine) [ -e "$FAKE/state" ] || exit 1; rm "$FAKE/state" ;;
  define) cp "$2" "$FAKE/defined.xml"; [ -e "$FAKE/state" ] || echo "shut off" > "$FAKE/state" ;;
  autostart|detach-disk|domblklist) ;;
  migrate) [ -e "$FAKE/migrate_fails" ] && { echo "error: injected: connection reset" >&2; exit 1; }; rm "$FAKE/state" ;;
  domjobinfo) echo "Job type:         None" ;;
  *) echo "fake virsh: unexpected $*" >&2; exit 1 ;;
esac
`;

let fakeN = 0;
interface FakeVirsh {
  state?: string;
  listFails?: boolean;
  acpi?: boolean;
  migrateFails?: boolean;
  /** `virsh start` fails with this stderr. */
  startRefused?: string;
  /** A line the domain's qemu log gains while the script waits (virtlogd writing after libvirt answered). */
  lateQemuLine?: string;
  /** The domain's qemu log as it was before the start (an earlier start's lines). */
  qemuLog?: string;
}

function fakeHost(opts: FakeVirsh = {}): string {
  const dir = join(work, `fake${fakeN++}`);
  mkdirSync(join(dir, "bin"), { recursive: true });
  writeFileSync(join(dir, "bin", "virsh"), FAKE_VIRSH);
  // A sleep that passes no time; what virtlogd writes meanwhile (late_line) reaches the domain's qemu log.
  writeFileSync(
    join(dir, "bin", "sleep"),
    `#!/bin/bash\necho "sleep $*" >> "$FAKE/log"\nif [ -e "$FAKE/late_line" ]; then mkdir -p "$(dirname "$QEMU_LOG")"; cat "$FAKE/late_line" >> "$QEMU_LOG"; rm "$FAKE/late_line"; fi\n`,
  );
  chmodSync(join(dir, "bin", "virsh"), 0o755);
  chmodSync(join(dir, "bin", "sleep"), 0o755);
  if (opts.state !== undefined) writeFileSync(join(dir, "state"), `${opts.state}\n`);
  if (opts.listFails) writeFileSync(join(dir, "list_fails"), "");
  if (opts.acpi) writeFileSync(join(dir, "acpi"), "");
  if (opts.migrateFails) writeFileSync(join(dir, "migrate_fails"), "");
  if (opts.startRefused !== undefined) writeFileSync(join(dir, "start_refused"), `${opts.startRefused}\n`);
  if (opts.lateQemuLine !== undefined) writeFileSync(join(dir, "late_line"), `${opts.lateQemuLine}\n`);
  if (opts.qemuLog !== undefined) {
    mkdirSync(dirname(qemuLogOf(dir)), { recursive: true });
    writeFileSync(qemuLogOf(dir), opts.qemuLog);
  }
  writeFileSync(join(dir, "log"), "");
  return dir;
}

/** Where a session libvirtd of the fake host logs the domain's qemu (its name: instance-<uuid>). */
const qemuLogOf = (dir: string) => join(dir, "cache", "libvirt", "qemu", "log", `instance-${DOM}.log`);

/** Runs a command against a fresh fake virsh; its final state and call log read back. */
function onFake(
  opts: FakeVirsh,
  command: Parameters<typeof runHostCommand>[0],
  tamper?: Record<string, string>,
) {
  const dir = fakeHost(opts);
  const r = runHostCommand(command, {
    // A session daemon's host (the local cloud's): the domain's qemu log under XDG_CACHE_HOME.
    env: { FAKE: dir, DOM, OTHER, XDG_CACHE_HOME: join(dir, "cache"), QEMU_LOG: qemuLogOf(dir) },
    path: [join(dir, "bin")],
    ...(tamper ? { tamper } : {}),
  });
  const read = (f: string) => (existsSync(join(dir, f)) ? readFileSync(join(dir, f), "utf8").trim() : null);
  const log = read("log")!.split("\n").filter(Boolean);
  return { ...r, dir, state: read("state"), log, calls: log.map((l) => l.split(" ")[0]) };
}

const errorType = awsErrorType;

// ---- what every document is ------------------------------------------------------------------------

describe("every document", () => {
  it.each(HOST_DOCUMENTS.map((d) => [d.id, d] as const))(
    "%s: bash, typed parameters read from the environment, no value in its text",
    (_id, doc) => {
      const content = renderDocument(doc);
      expect(content.schemaVersion).toBe("2.2");
      const step = content.mainSteps[0]!;
      expect(step.action).toBe("aws:runShellScript");
      expect(step.inputs.runCommand[0]).toBe("#!/bin/bash");
      // The one `{{ }}` is the execution timeout, outside the script; no parameter is spliced into it.
      expect(step.inputs.runCommand.join("\n")).not.toMatch(/\{\{/);
      expect(step.inputs.timeoutSeconds).toBe(`{{ ${EXECUTION_TIMEOUT_PARAMETER} }}`);
      for (const [name, p] of Object.entries(content.parameters)) {
        expect(p.allowedPattern, name).toMatch(/^\^.*\$$/);
        expect(p.maxChars, name).toBeGreaterThan(0);
        if (name !== EXECUTION_TIMEOUT_PARAMETER) expect(p.interpolationType, name).toBe("ENV_VAR");
      }
      expect(Buffer.byteLength(JSON.stringify(content))).toBeLessThan(32 * 1024);
    },
  );

  it("a value outside its pattern is refused as SSM refuses it (InvalidParameters), before anything runs", () => {
    const nasty = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.constantFrom("$(reboot)", "`id`", "x; rm -rf /", "a'b", '"', "\n", "/a/../b", "/a b", "vda;id"),
    );
    fc.assert(
      fc.property(nasty, (value) => {
        for (const [document, parameter] of [
          ["start-domain", "uuid"],
          ["remove-domain", "instancesPath"],
          ["detach-volume", "device"],
          ["stop-domain", "shutdownTimeoutSeconds"],
          ["define-domain", "domainXml"],
        ] as const) {
          const doc = renderDocument(HOST_DOCUMENTS.find((d) => d.id === document)!);
          const pattern = new RegExp(`^(?:${doc.parameters[parameter]!.allowedPattern})$`);
          fc.pre(!pattern.test(value));
          const base = resolveHostCommand(sampleCommand(document)).parameters;
          const given = { document, parameters: { ...flatten(base), [parameter]: value } };
          expect(
            errorType(() => resolveHostCommand(given)),
            `${document}.${parameter}`,
          ).toBe("InvalidParameters");
        }
      }),
      { numRuns: 200 },
    );
  });

  it("the script checks each parameter again: one forged past SSM stops it before any program runs", () => {
    const r = onFake({ state: "running" }, startDomain(DOM), { SSM_uuid: "$(touch /tmp/lazarus-pwned); x" });
    expect(r.status).toBe(EXIT_BAD_PARAMETER);
    expect(r.stderr).toMatch(/parameter uuid is missing or not allowed/);
    expect(r.log).toEqual([]);
    expect(existsSync("/tmp/lazarus-pwned")).toBe(false);
    // An agent without ENV_VAR interpolation (older than 3.3.2746.0) sets nothing: refused, not run empty.
    const old = onFake({ state: "running" }, startDomain(DOM), { SSM_uuid: "" });
    expect(old.status).toBe(EXIT_BAD_PARAMETER);
    expect(old.log).toEqual([]);
  });
});

/** A command of each document with valid values (for the refusal test to vary one). */
function sampleCommand(document: string) {
  switch (document) {
    case "start-domain":
      return startDomain(DOM);
    case "remove-domain":
      return removeDomain(DOM, { instancesPath: "/srv/instances" });
    case "detach-volume":
      return detachVolume(DOM, "vdb");
    case "stop-domain":
      return stopDomain(DOM, 10);
    default:
      return defineDomain(domainParts(), { start: true });
  }
}
const flatten = (p: Record<string, string[]>) =>
  Object.fromEntries(
    Object.entries(p)
      .filter(([k]) => k !== EXECUTION_TIMEOUT_PARAMETER)
      .map(([k, v]) => [k, v.join(" ")]),
  );

// ---- domain operations against the fake virsh --------------------------------------------------------

describe("domain operations (idempotent)", () => {
  it("remove-domain: destroys then undefines whatever the state; an absent domain is removed; virsh down fails", () => {
    for (const state of ["running", "paused", "idle", "in shutdown", "crashed", "shut off"]) {
      const r = onFake({ state }, removeDomain(DOM));
      expect(r.status, `${state}: ${r.stderr}`).toBe(0);
      expect(r.state).toBeNull();
      expect(r.log).toContain(`undefine ${DOM} --managed-save --snapshots-metadata`);
      expect(r.calls.includes("destroy")).toBe(state !== "shut off");
    }
    const absent = onFake({}, removeDomain(DOM));
    expect([absent.status, absent.calls.filter((c) => c !== "list")]).toEqual([0, []]);
    expect(onFake({ listFails: true }, removeDomain(DOM)).status).toBe(EXIT_VIRSH_FAILED);
  });

  it("remove-domain with instancesPath removes exactly <instancesPath>/<uuid>, nothing beside it", () => {
    const instances = join(work, "instances-rm");
    mkdirSync(join(instances, DOM), { recursive: true });
    mkdirSync(join(instances, OTHER), { recursive: true });
    writeFileSync(join(instances, DOM, "disk"), "x");
    expect(onFake({ state: "running" }, removeDomain(DOM, { instancesPath: instances })).status).toBe(0);
    expect(existsSync(join(instances, DOM))).toBe(false);
    expect(existsSync(join(instances, OTHER))).toBe(true);
  });

  it("remove-stale-domains: each domain named removed; the folders of filesOf only, never one it does not name", () => {
    const instances = join(work, "instances-stale");
    // A second stale copy already gone from libvirt (a domain the fake does not list).
    const GONE = "0b6e8a7c-4d7e-4d59-9a43-6b1d5b8f0c22";
    for (const u of [DOM, GONE, OTHER]) mkdirSync(join(instances, u), { recursive: true });
    const [command] = removeStaleDomains(
      [
        { uuid: DOM, removeFiles: true },
        { uuid: GONE, removeFiles: false },
      ],
      instances,
    );
    const r = onFake({ state: "running" }, command!);
    expect(r.status, r.stderr).toBe(0);
    expect(r.state).toBeNull();
    expect(existsSync(join(instances, DOM))).toBe(false);
    expect(existsSync(join(instances, GONE))).toBe(true);
    expect(existsSync(join(instances, OTHER))).toBe(true);
    // A folder of a uuid the command does not remove is refused before anything runs.
    const forged = onFake({ state: "running" }, command!, { SSM_uuids: DOM, SSM_filesOf: OTHER });
    expect(forged.status).toBe(EXIT_BAD_PARAMETER);
    expect(forged.log).toEqual([]);
    expect(existsSync(join(instances, OTHER))).toBe(true);
    // A hundred per command.
    const many = Array.from({ length: 150 }, (_, i) => ({
      uuid: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
      removeFiles: false,
    }));
    expect(removeStaleDomains(many, instances).map((c) => c.parameters.uuids!.split(" ").length)).toEqual([
      100, 50,
    ]);
  });

  it("start-domain: starts, resumes, leaves a running one; absent and 'in shutdown' are their exit codes", () => {
    const off = onFake({ state: "shut off" }, startDomain(DOM));
    expect([off.status, off.state]).toEqual([0, "running"]);
    const on = onFake({ state: "running" }, startDomain(DOM));
    expect([on.status, on.calls.includes("start")]).toEqual([0, false]);
    expect(onFake({ state: "paused" }, startDomain(DOM)).state).toBe("running");
    expect(onFake({}, startDomain(DOM)).status).toBe(EXIT_DOMAIN_ABSENT);
    const down = onFake({ state: "in shutdown" }, startDomain(DOM));
    expect(down.status).toBe(EXIT_UNEXPECTED_STATE);
    expect(down.stderr).toContain("in shutdown");
  });

  it("stop-domain: a clean shutdown when the guest answers, destroy after the wait, at once with 0", () => {
    const clean = onFake({ state: "running", acpi: true }, stopDomain(DOM, 30));
    expect([clean.status, clean.state]).toEqual([0, "shut off"]);
    expect(clean.calls).toContain("shutdown");
    expect(clean.calls).not.toContain("destroy");
    const stuck = onFake({ state: "running" }, stopDomain(DOM, 3));
    expect([stuck.status, stuck.state]).toEqual([0, "shut off"]);
    expect(stuck.calls.filter((c) => c === "sleep")).toHaveLength(3);
    expect(stuck.calls.at(-1)).toBe("destroy");
    const now = onFake({ state: "running" }, stopDomain(DOM, 0));
    expect([now.status, now.state, now.calls.includes("sleep")]).toEqual([0, "shut off", false]);
    const off = onFake({ state: "shut off" }, stopDomain(DOM, 3));
    expect([off.status, off.calls.includes("shutdown")]).toEqual([0, false]);
    expect(onFake({}, stopDomain(DOM, 3)).status).toBe(0);
  });

  it("probe-domain-state: the power state, absent, or ProbeFailed when virsh cannot answer", () => {
    const ask = (opts: FakeVirsh) => {
      const r = onFake(opts, domainStateProbe(DOM));
      return parseDomainStateProbe("h1", { exitCode: r.status, stdout: r.stdout, stderr: r.stderr });
    };
    expect(ask({ state: "running" })).toBe("running");
    expect(ask({ state: "idle" })).toBe("running");
    expect(ask({ state: "paused" })).toBe("paused");
    expect(ask({ state: "shut off" })).toBe("shutdown");
    expect(ask({ state: "crashed" })).toBe("crashed");
    expect(ask({})).toBe("absent");
    expect(() => ask({ listFails: true })).toThrow(ProbeFailed);
    expect(() => ask({ state: "sleeping" })).toThrow(InvalidInput);
  });

  it("probe-target: answers only what is asked; whole-line uuid match; cannot tell is ProbeFailed", () => {
    const disk = join(work, "probe-disk");
    writeFileSync(disk, "x");
    const asked = onFake({ state: "running" }, targetProbe({ domain: DOM, disk, image: `${disk}.absent` }));
    expect(
      parseTargetProbe("h1", ["domain", "disk", "image"], {
        exitCode: asked.status,
        stdout: asked.stdout,
        stderr: asked.stderr,
      }),
    ).toEqual({
      domain: "present",
      disk: "present",
      image: "absent",
    });
    // OTHER is always listed but DOM is not defined: "absent", not a prefix match.
    const absent = onFake({}, targetProbe({ domain: DOM }));
    expect(absent.stdout.trim()).toBe("domain=absent");
    const down = onFake({ listFails: true }, targetProbe({ domain: DOM }));
    expect(() =>
      parseTargetProbe("h1", ["domain"], { exitCode: down.status, stdout: down.stdout, stderr: down.stderr }),
    ).toThrow(ProbeFailed);
  });
});

// ---- define-domain: the XML is checked on the host ----------------------------------------------------

const instancesPath = join(work, "instances");
const volumesPath = join(work, "volumes");
function domainParts() {
  const host: Host = makeHost({
    name: "h1",
    storage: { instancesPath, imageCachePath: join(work, "images"), volumesPath, sharedPoolId: null },
  });
  const instance = makeInstance({ uuid: DOM, host: "h1", node: "h1", ports: [], volumes: [] });
  return { instance, host, ports: [], volumes: [] };
}

/** define-domain with this XML in place of the one Lazarus builds. */
function defineWith(xml: string, opts: FakeVirsh = {}) {
  const command = defineDomain(domainParts(), { start: true });
  const forged = {
    ...command,
    parameters: { ...command.parameters, domainXml: Buffer.from(xml).toString("base64") },
  };
  return onFake(opts, forged);
}

describe("define-domain", () => {
  const good = buildDomainXml({
    uuid: DOM,
    name: `instance-${DOM}`,
    virtType: "qemu",
    memoryMiB: 64,
    vcpus: 1,
    rootDisk: { path: `${instancesPath}/${DOM}/disk`, format: "qcow2" },
    consoleLog: `${instancesPath}/${DOM}/console.log`,
    volumes: [{ path: `${volumesPath}/vol-1.img`, device: "vdb", format: "raw" }],
    interfaces: [
      { mac: "52:54:00:12:34:56", network: { type: "user" } },
      { mac: "52:54:00:12:34:57", network: { type: "bridge", bridge: "br0" } },
    ],
    metadata: { instanceName: "web", flavor: { vcpus: 1, memoryMiB: 64, diskGiB: 1 }, imageRef: "cirros" },
  });

  it("writes the XML Lazarus builds beside the disk, defines it (autostart off) and starts it", () => {
    const r = defineWith(good);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(readFileSync(join(instancesPath, DOM, "libvirt.xml"), "utf8")).toBe(good);
    expect(r.log).toEqual([
      `define ${instancesPath}/${DOM}/libvirt.xml`,
      `autostart --disable ${DOM}`,
      `start ${DOM}`,
    ]);
    // The elements it checks against are the ones the builder writes.
    const written = [...good.matchAll(/<([^/ >!?]+)/g)].map((m) => m[1]!);
    expect([...new Set(written)].sort()).toEqual([...DOMAIN_XML_ELEMENTS].sort());
  });

  it("accepts what the builder escapes: a name with <, >, &, quotes, a tab and non-ASCII letters", () => {
    const named = buildDomainXml({
      uuid: DOM,
      name: `instance-${DOM}`,
      virtType: "qemu",
      memoryMiB: 64,
      vcpus: 1,
      rootDisk: { path: `${instancesPath}/${DOM}/disk`, format: "qcow2" },
      consoleLog: `${instancesPath}/${DOM}/console.log`,
      volumes: [],
      interfaces: [],
      metadata: {
        instanceName: `wéb <&> "x" 'y'\tz ünïcode`,
        flavor: { vcpus: 1, memoryMiB: 64, diskGiB: 1 },
        imageRef: "cirros",
      },
    });
    const r = defineWith(named);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  it("a start refused by a disk lock says so, from qemu's log, even when libvirt answered before qemu's line was written", () => {
    // The script single-quotes the one pattern isDiskLockRefusal reads with.
    expect(DISK_LOCK_REFUSAL_PATTERN).not.toContain("'");
    const lock = `qemu-system-x86_64: -blockdev {"driver":"file"}: Failed to get "write" lock`;
    const closed = "error: internal error: qemu unexpectedly closed the monitor";
    // The line arrives while the script waits: read, and the wait ends there.
    const late = defineWith(good, { startRefused: closed, lateQemuLine: `2026-12-07T06:00:00Z ${lock}` });
    expect(late.status).toBe(1);
    expect(late.stderr).toContain(closed);
    expect(late.stderr).toContain(lock);
    expect(late.log.filter((l) => l.startsWith("sleep"))).toEqual(["sleep 0.3"]);
    // Another failure: no lock line comes (an earlier start's, already in the log, is not this one's).
    const other = defineWith(good, { startRefused: closed, qemuLog: `earlier start: ${lock}\n` });
    expect(other.status).toBe(1);
    expect(other.stderr).not.toContain("lock");
    expect(other.log.filter((l) => l.startsWith("sleep"))).toHaveLength(10);
  });

  it("a domain proven absent skips the autostart call; start=false defines only", () => {
    const command = defineDomain(domainParts(), { start: false, absent: true });
    const r = onFake({}, command);
    expect(r.status, r.stderr).toBe(0);
    expect(r.calls).toEqual(["define"]);
  });

  it.each([
    [
      "another domain's uuid",
      good.replace(`<uuid>${DOM}</uuid>`, `<uuid>${OTHER}</uuid>`),
      "it does not name domain",
    ],
    ["a second uuid", good.replace("</name>", `</name>\n  <uuid>${OTHER}</uuid>`), "it does not name domain"],
    [
      "qemu's command line",
      good.replace("</devices>", "</devices>\n  <qemu:commandline><qemu:arg value='-x'/></qemu:commandline>"),
      "element <qemu:commandline> is not one Lazarus writes",
    ],
    [
      "a host device",
      good.replace("</devices>", "  <hostdev mode='subsystem' type='pci'/>\n  </devices>"),
      "element <hostdev>",
    ],
    [
      "a block disk",
      good.replace('<disk type="file" device="disk">', '<disk type="block" device="disk">'),
      "a disk that is not a file",
    ],
    [
      "a block disk whose tag spans two lines (a line's check would not see it whole)",
      good.replace('<disk type="file" device="disk">', '<disk\n type="block" device="disk">'),
      "a tag across lines",
    ],
    [
      "a disk outside the folders whose source tag spans two lines",
      good.replace(`<source file="${volumesPath}/vol-1.img"/>`, `<source\n file="/etc/shadow"/>`),
      "a tag across lines",
    ],
    [
      "a tab inside a tag",
      good.replace('<disk type="file" device="disk">', '<disk\ttype="block" device="disk">'),
      "a control character",
    ],
    ["a NUL byte", good.replace("</name>", "\u0000</name>"), "a control character"],
    ["a bare >", good.replace("</name>", "></name>"), "a bare < or >"],
    [
      "a disk outside the instance and volume folders",
      good.replace(`${volumesPath}/vol-1.img`, "/etc/shadow"),
      "disk /etc/shadow is outside the instance's folder and the volumes folder",
    ],
    [
      "a disk in a folder whose name only starts like the instance's",
      good.replace(`${volumesPath}/vol-1.img`, `${instancesPath}/${DOM}x/disk`),
      "is outside the instance's folder",
    ],
    [
      "a disk climbing out of its folder",
      good.replace(`${volumesPath}/vol-1.img`, `${volumesPath}/../../etc/shadow`),
      "climbs out of its folder",
    ],
    [
      "a disk ending in ..",
      good.replace(`${volumesPath}/vol-1.img`, `${volumesPath}/..`),
      "climbs out of its folder",
    ],
    [
      "an entity in a disk path",
      good.replace(`${volumesPath}/vol-1.img`, `${volumesPath}/&#46;&#46;/x`),
      "a source that is not a file, a bridge or the console log",
    ],
    [
      "a single-quoted source",
      good.replace(`<source file="${volumesPath}/vol-1.img"/>`, `<source file='/etc/shadow'/>`),
      "a source that is not a file, a bridge or the console log",
    ],
    [
      "a direct interface",
      good.replace('<interface type="user">', '<interface type="direct">'),
      "an interface that is not user or bridge networking",
    ],
    [
      "a pipe console",
      good.replaceAll('type="file">\n      <source path', 'type="pipe">\n      <source path'),
      "a console that is not a pty or a file",
    ],
    [
      "a console written anywhere but the instance's log",
      good.replaceAll(`${instancesPath}/${DOM}/console.log`, "/etc/cron.d/x"),
      "a console file that is not the instance's console log",
    ],
    [
      "another instance's console log",
      good.replaceAll(`${instancesPath}/${DOM}/console.log`, `${instancesPath}/${OTHER}/console.log`),
      "a console file that is not the instance's console log",
    ],
    [
      "a kernel from the host",
      good.replace("</os>", "  <kernel>/boot/vmlinuz</kernel>\n  </os>"),
      "element <kernel>",
    ],
    [
      "a DOCTYPE with an entity",
      `<!DOCTYPE domain [<!ENTITY x SYSTEM "/etc/shadow">]>\n${good}`,
      "a tag across lines or a bare < or >",
    ],
    ["a DOCTYPE alone", `<!DOCTYPE domain>\n${good}`, "element <!DOCTYPE>"],
    ["a comment", good.replace("</name>", "</name>\n  <!-- x -->"), "element <!-->"],
  ])("refuses %s: libvirt never sees it", (_name, xml, why) => {
    const r = defineWith(xml);
    expect(r.status, r.stderr).toBe(EXIT_XML_REFUSED);
    expect(r.stderr).toContain("domain XML refused: ");
    expect(r.stderr).toContain(why);
    expect(r.log).toEqual([]);
    expect(existsSync(join(instancesPath, DOM, "libvirt.xml.lazarus-tmp"))).toBe(false);
  });
});

// ---- disks, with the real qemu-img -------------------------------------------------------------------

describe("create-root-disk, create-volume, read-disk-chains (real qemu-img)", () => {
  const storage = {
    instancesPath: join(work, "disks", "instances"),
    imageCachePath: join(work, "disks", "images"),
    volumesPath: join(work, "disks", "volumes"),
    sharedPoolId: null,
  };
  const host = makeHost({ name: "h2", storage });
  const base = join(storage.imageCachePath, "cirros.qcow2");
  const info = (path: string) =>
    parseQemuImgInfo(execFileSync("qemu-img", ["info", "--output=json", "-U", path], { encoding: "utf8" }));

  it("makes the disk at the layout's path on the cached image; keeps one that is there unless it replaces", () => {
    mkdirSync(storage.imageCachePath, { recursive: true });
    execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", base, "1G"]);
    const create = (replace: boolean) =>
      runHostCommand(createRootDisk(host, { instanceUuid: DOM, imageRef: "cirros", sizeGiB: 2, replace }));
    const disk = rootDiskPath(host, DOM);
    expect(create(false).status).toBe(0);
    expect(info(disk)).toMatchObject({
      virtualSizeBytes: 2 * 1024 ** 3,
      backingFilename: base,
      format: "qcow2",
    });
    expect(statSync(disk).mode & 0o777).toBe(0o660);
    const before = statSync(disk).mtimeMs;
    expect(create(false).status).toBe(0);
    expect(statSync(disk).mtimeMs).toBe(before);
    expect(create(true).status).toBe(0);
    expect(info(disk).backingFilename).toBe(base);
    const missing = runHostCommand(
      createRootDisk(host, { instanceUuid: DOM, imageRef: "nope", sizeGiB: 1, replace: true }),
    );
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/image nope is not in the image cache/);

    // Adoption's read of the disks: the chain of each, null for one that is not there.
    const r = runHostCommand(readDiskChains([disk, `${disk}.absent`]));
    expect(r.status, r.stderr).toBe(0);
    const [chain, none] = parseDiskChains(r.stdout, 2);
    expect(chain!.map((c) => c.filename)).toEqual([disk, base]);
    expect(none).toBeNull();
  });

  it("makes a volume file once, never over an existing one", () => {
    const volume = { backingFile: "vol-a.img", sizeGiB: 1 };
    expect(runHostCommand(createVolume(host, volume)).status).toBe(0);
    expect(info(join(storage.volumesPath, "vol-a.img"))).toMatchObject({
      format: "raw",
      virtualSizeBytes: 1024 ** 3,
    });
    expect(runHostCommand(createVolume(host, volume)).status).toBe(17);
  });
});

// ---- the builders' own refusals ----------------------------------------------------------------------

describe("builders", () => {
  it("refuse a value before any command exists, naming the field and the value", () => {
    expect(() => startDomain("abc; reboot")).toThrow(/invalid domain: .*\(got "abc; reboot"\)/);
    expect(() => removeDomain(DOM, { instancesPath: "/a/../b" })).toThrow(/instancesPath/);
    expect(() => detachVolume(DOM, "vdb;id")).toThrow(/invalid device: .*"vdb;id"/);
    expect(() => stopDomain(DOM, -1)).toThrow(/shutdownTimeoutSeconds/);
    expect(() => stopDomain(DOM, 1.5)).toThrow(/shutdownTimeoutSeconds/);
    expect(() => targetProbe({ disk: "tmp/x" })).toThrow(/invalid disk/);
    expect(() => readDiskChains([])).toThrow(InvalidInput);
  });

  it("disable-autostart: a hundred domains per command, each command within its parameter's length", () => {
    expect(AUTOSTART_UUIDS_MAX_CHARS).toBe(
      36 * AUTOSTART_UUIDS_PER_COMMAND + (AUTOSTART_UUIDS_PER_COMMAND - 1),
    );
    const uuids = fc.sample(fc.uuid(), 2 * AUTOSTART_UUIDS_PER_COMMAND + 1);
    const commands = disableAutostart(uuids);
    expect(commands.map((c) => c.parameters.uuids!.split(" ").length)).toEqual([100, 100, 1]);
    for (const c of commands) expect(() => resolveHostCommand(c)).not.toThrow();
  });

  it("lower-case every uuid, as virsh prints it", () => {
    expect(startDomain(DOM.toUpperCase()).parameters.uuid).toBe(DOM);
  });
});

// ---- migration (issue 32) ------------------------------------------------------------------------------

describe("live-migrate-domain, stop-undefine-domain (migration)", () => {
  const local = {
    uri: "qemu+unix:///session?socket=/tmp/lz-x/b/sock/libvirt-sock",
    inboundAddress: "127.0.0.1",
    poolIsLocalFolder: true,
  };
  const migrations = (log: string[]) => log.filter((l) => l.startsWith("migrate"));

  it("live: migrates a running domain peer to peer, persistent there and undefined here, to the target's address only", () => {
    const r = onFake({ state: "running" }, liveMigrate(DOM, local, { completionTimeoutSeconds: 30 }));
    expect(r.status, r.stderr).toBe(0);
    expect(migrations(r.log)).toEqual([
      `migrate --live --p2p --persistent --undefinesource --abort-on-error --unsafe --listen-address 127.0.0.1 ${DOM} ${local.uri} tcp://127.0.0.1`,
    ]);
    expect(r.state).toBeNull();
    // A real fleet's pool is a file system libvirt knows is shared: no --unsafe; an IPv6 address in brackets.
    const tls = {
      uri: "qemu+tls://host-b.example/system",
      inboundAddress: "fd00::b",
      poolIsLocalFolder: false,
    };
    const r2 = onFake({ state: "running" }, liveMigrate(DOM, tls, { completionTimeoutSeconds: 30 }));
    expect(migrations(r2.log)).toEqual([
      `migrate --live --p2p --persistent --undefinesource --abort-on-error --listen-address fd00::b ${DOM} qemu+tls://host-b.example/system tcp://[fd00::b]`,
    ]);
  });

  it("live, retried after the domain left: nothing to do; not running: refused; virsh failing: fails, the guest stays", () => {
    const gone = onFake({}, liveMigrate(DOM, local, { completionTimeoutSeconds: 30 }));
    expect(gone.status).toBe(0);
    expect(gone.stdout).toMatch(/has left/);
    expect(migrations(gone.log)).toEqual([]);
    const off = onFake({ state: "shut off" }, liveMigrate(DOM, local, { completionTimeoutSeconds: 30 }));
    expect(off.status).toBe(EXIT_UNEXPECTED_STATE);
    expect(migrations(off.log)).toEqual([]);
    const failed = onFake(
      { state: "running", migrateFails: true },
      liveMigrate(DOM, local, { completionTimeoutSeconds: 30 }),
    );
    expect(failed.status).not.toBe(0);
    expect(failed.stderr).toMatch(/connection reset/);
    expect(failed.state).toBe("running");
  });

  it("cold: shut down (destroyed after the timeout) and undefined; idempotent; a leftover removed", () => {
    const r = onFake({ state: "running", acpi: true }, stopAndUndefine(DOM, 3));
    expect(r.status, r.stderr).toBe(0);
    expect(r.calls).toContain("shutdown");
    expect(r.state).toBeNull();
    expect(onFake({}, stopAndUndefine(DOM, 3)).status).toBe(0);
    const paused = onFake({ state: "paused" }, removeDomain(DOM));
    expect(paused.status, paused.stderr).toBe(0);
    expect(paused.state).toBeNull();
  });

  it("refuses a target whose URI or address is not one, and a timeout out of range; SSM refuses them too", () => {
    const bad: Record<string, unknown>[] = [
      { ...local, uri: "qemu+ssh://host/system; touch /tmp/x" },
      { ...local, uri: "qemu:///session?socket=/tmp/../etc/x" },
      { ...local, uri: "xen://host/system" },
      { ...local, uri: "qemu+tls://host/system?socket=/x&y=$(id)" },
      { ...local, inboundAddress: "127.0.0.1 --unsafe" },
      { ...local, inboundAddress: "$(id)" },
    ];
    for (const target of bad) {
      expect(() => liveMigrate(DOM, target as never, { completionTimeoutSeconds: 30 })).toThrow(InvalidInput);
    }
    expect(() => liveMigrate(DOM, local, { completionTimeoutSeconds: 0 })).toThrow(InvalidInput);
    expect(() => liveMigrate("not-a-uuid", local, { completionTimeoutSeconds: 30 })).toThrow(InvalidInput);
    // A value forged past the builder: the script's own check refuses it before virsh runs.
    const forged = onFake({ state: "running" }, liveMigrate(DOM, local, { completionTimeoutSeconds: 30 }), {
      SSM_uri: "qemu:///session?socket=/tmp/../etc/x",
    });
    expect(forged.status).toBe(EXIT_BAD_PARAMETER);
    expect(migrations(forged.log)).toEqual([]);
    fc.assert(
      fc.property(fc.string(), (junk) => {
        const uri = `qemu+tls://${junk}/system`;
        try {
          const built = liveMigrate(DOM, { ...local, uri }, { completionTimeoutSeconds: 30 });
          // Accepted only in the narrow alphabet of the schema, and passed as a parameter, never as text.
          expect(built.parameters.uri).toBe(uri);
          expect(JSON.stringify(renderDocument(LIVE_MIGRATE_DOMAIN))).not.toContain(uri);
        } catch (e) {
          expect(e).toBeInstanceOf(InvalidInput);
        }
      }),
    );
  });
});
