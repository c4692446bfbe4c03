/**
 * Issue 29 outcome 1: the host agent's Debian package builds with one command, its systemd units verify
 * (`systemd-analyze verify` against a root that holds systemd's own units and the package), `dpkg-deb
 * --info/--contents` show what it is, and installed into a scratch root (`dpkg --root`, maintainer scripts
 * run chrootless with $DPKG_ROOT) it places the program, the units and the sample configuration, the
 * program runs there, and uninstall + purge remove everything it placed (the operator's host.json too).
 */
import { spawnSync } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildHostPackage } from "#host-agent/package/build-deb.js";

const PLACED = [
  "usr/bin/lazarus-host",
  "usr/lib/lazarus-host/lazarus-host.mjs",
  "usr/lib/lazarus-host/node",
  "usr/lib/systemd/system/lazarus-host-monitor.service",
  "usr/lib/systemd/system/lazarus-host.service",
  "usr/share/doc/lazarus-host/README",
  "usr/share/lazarus-host/host.json.sample",
];
const UNITS = PLACED.filter((p) => p.endsWith(".service"));

let work: string;
let deb: string;
let root: string;

function run(cmd: string, args: string[]) {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

function filesUnder(dir: string, skip: string[] = []): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      const rel = relative(dir, p);
      if (skip.some((s) => rel === s || rel.startsWith(`${s}/`))) continue;
      if (statSync(p).isDirectory()) walk(p);
      else out.push(rel);
    }
  };
  walk(dir);
  return out.sort();
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "lz-pkg-"));
  deb = await buildHostPackage({ out: join(work, "lazarus-host.deb") });
  root = join(work, "root");
  mkdirSync(join(root, "var/lib/dpkg/info"), { recursive: true });
  mkdirSync(join(root, "var/lib/dpkg/updates"), { recursive: true });
  writeFileSync(join(root, "var/lib/dpkg/status"), "");
}, 180_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

const dpkg = (...args: string[]) =>
  run("dpkg", [`--root=${root}`, "--force-script-chrootless", "--force-depends", "--log=/dev/null", ...args]);

describe("the lazarus-host package", () => {
  it("dpkg-deb --info shows the package, its dependencies and its maintainer scripts", () => {
    const info = run("dpkg-deb", ["--info", deb]);
    expect(info.code, info.out).toBe(0);
    expect(info.out).toMatch(/Package: lazarus-host/);
    expect(info.out).toMatch(/Architecture: amd64/);
    expect(info.out).toMatch(/Depends: libc6/);
    for (const s of ["postinst", "prerm", "postrm"]) expect(info.out).toMatch(new RegExp(`\\b${s}\\b`));
  });

  it("dpkg-deb --contents lists the program, the Node it runs on, the units and the sample configuration", () => {
    const contents = run("dpkg-deb", ["--contents", deb]);
    expect(contents.code, contents.out).toBe(0);
    for (const p of PLACED) expect(contents.out).toContain(`./${p}`);
    expect(contents.out).toMatch(/-rwxr-xr-x root\/root .* \.\/usr\/bin\/lazarus-host/);
  });

  it("installs into a scratch root: files placed, units verify, the program runs and validates its sample", () => {
    const install = dpkg("-i", deb);
    expect(install.code, install.out).toBe(0);
    expect(filesUnder(root, ["var"])).toEqual(PLACED);
    // systemd-analyze verify needs systemd's own units in the root (the targets the units order against);
    // they are copied in for the check and taken out again.
    const system = join(root, "usr/lib/systemd/system");
    const borrowed = readdirSync("/lib/systemd/system").filter((u) => !existsSync(join(system, u)));
    for (const u of borrowed) cpSync(join("/lib/systemd/system", u), join(system, u), { recursive: true });
    const verify = run("systemd-analyze", [`--root=${root}`, "verify", ...UNITS.map((u) => join(root, u))]);
    expect(verify.code, verify.out).toBe(0);
    const node = join(root, "usr/lib/lazarus-host/node");
    const program = join(root, "usr/lib/lazarus-host/lazarus-host.mjs");
    const version = run(node, [program, "--version"]);
    expect(version.out).toMatch(/^lazarus-host \d+\.\d+\.\d+/);
    const check = run(node, [
      program,
      "check-config",
      "--config",
      join(root, "usr/share/lazarus-host/host.json.sample"),
    ]);
    expect(check.code, check.out).toBe(0);
    // The units are broken on purpose in a copy: verify must see it (it is not a check that cannot fail).
    const broken = join(system, "broken.service");
    writeFileSync(broken, "[Service]\nType=bogus\nExecStart=/usr/bin/not-installed\n");
    expect(run("systemd-analyze", [`--root=${root}`, "verify", broken]).code).not.toBe(0);
    rmSync(broken);
    for (const u of borrowed) rmSync(join(system, u), { recursive: true, force: true });
    expect(filesUnder(root, ["var"])).toEqual(PLACED);
  });

  it("remove takes the files away; purge also the operator's /etc/lazarus/host.json: nothing left", () => {
    mkdirSync(join(root, "etc/lazarus"), { recursive: true });
    writeFileSync(join(root, "etc/lazarus/host.json"), '{"host":"kvm-01","region":"eu-west-1"}\n');
    mkdirSync(join(root, "run/lazarus-host"), { recursive: true });
    writeFileSync(join(root, "run/lazarus-host/heartbeat.json"), "{}");
    const remove = dpkg("--remove", "lazarus-host");
    expect(remove.code, remove.out).toBe(0);
    expect(filesUnder(root, ["var"])).toEqual(["etc/lazarus/host.json"]);
    const purge = dpkg("--purge", "lazarus-host");
    expect(purge.code, purge.out).toBe(0);
    expect(filesUnder(root, ["var"])).toEqual([]);
    expect(existsSync(join(root, "etc/lazarus"))).toBe(false);
    expect(existsSync(join(root, "run/lazarus-host"))).toBe(false);
  });
});
