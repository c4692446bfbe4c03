/**
 * `npm run package:host`: the Debian package of the host agent, `dist/host-agent/lazarus-host_<version>_amd64.deb`.
 *
 *   /usr/bin/lazarus-host                           wrapper: the shipped Node runs the bundle
 *   /usr/lib/lazarus-host/node                      Node 24 (the project's pinned node, the one the tests run)
 *   /usr/lib/lazarus-host/lazarus-host.mjs          the agent, one bundled file (bundle.ts)
 *   /usr/lib/systemd/system/lazarus-host.service    heartbeat + watchdog feeder
 *   /usr/lib/systemd/system/lazarus-host-monitor.service
 *   /usr/share/lazarus-host/host.json.sample        the configuration to copy to /etc/lazarus/host.json
 *   /usr/share/doc/lazarus-host/README
 *
 * Why a shipped Node and not a dependency on Debian's nodejs: Debian 12 and Ubuntu 24.04 have Node 18,
 * past its end of life and below what the AWS SDK v3 supports; the package carries the exact Node 24 the
 * project runs and tests (x86-64 only, as that binary). A single-executable application would need the
 * bundle injected into that binary with an extra tool (postject) and, on Node 24, a CommonJS entry; the
 * binary + bundle pair gives the same guarantee with the very file the local cloud runs.
 *
 * Maintainer scripts (debian/): postinst enables the units and (re)starts them when the host is configured,
 * prerm stops them (the agent disarms its watchdog on a clean stop), postrm removes what they left and, on
 * purge, /etc/lazarus/host.json. They honour $DPKG_ROOT (an install into another root touches nothing else).
 */
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildHostAgentBundle, PROJECT_ROOT, projectVersion } from "./bundle.js";

const HERE = dirname(fileURLToPath(import.meta.url));
export const PACKAGE_NAME = "lazarus-host";

export function debPath(version = projectVersion()): string {
  return join(PROJECT_ROOT, "dist", "host-agent", `${PACKAGE_NAME}_${version}_amd64.deb`);
}

function du(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.size;
  return readdirSync(path).reduce((sum, e) => sum + du(join(path, e)), 0);
}

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { stdio: ["ignore", "inherit", "inherit"] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.status ?? r.signal}`);
}

/** Builds the package from the sources; returns its path. */
export async function buildHostPackage(opts: { nodeBinary?: string; out?: string } = {}): Promise<string> {
  const version = projectVersion();
  const node = opts.nodeBinary ?? process.execPath;
  const major = spawnSync(node, ["-p", "process.versions.node.split('.')[0]"], {
    encoding: "utf8",
  }).stdout.trim();
  if (major !== "24")
    throw new Error(`${node} is Node ${major}: the package ships Node 24 (run through npm)`);
  const out = opts.out ?? debPath(version);
  const stage = join(dirname(out), "stage", `${PACKAGE_NAME}_${version}_amd64`);
  rmSync(stage, { recursive: true, force: true });
  const dir = (p: string) => {
    const full = join(stage, p);
    mkdirSync(full, { recursive: true, mode: 0o755 });
    return full;
  };
  const put = (from: string, to: string, mode: number) => {
    const target = join(stage, to);
    mkdirSync(dirname(target), { recursive: true, mode: 0o755 });
    copyFileSync(from, target);
    chmodSync(target, mode);
  };

  const bundle = await buildHostAgentBundle(join(dir("usr/lib/lazarus-host"), "lazarus-host.mjs"));
  chmodSync(bundle, 0o644);
  put(node, "usr/lib/lazarus-host/node", 0o755);
  put(join(HERE, "lazarus-host.sh"), "usr/bin/lazarus-host", 0o755);
  for (const unit of ["lazarus-host.service", "lazarus-host-monitor.service"]) {
    put(join(HERE, "systemd", unit), `usr/lib/systemd/system/${unit}`, 0o644);
  }
  put(join(HERE, "host.json.sample"), "usr/share/lazarus-host/host.json.sample", 0o644);
  put(join(HERE, "README"), "usr/share/doc/lazarus-host/README", 0o644);
  const installedKiB = Math.ceil(du(stage) / 1024);
  const control = dir("DEBIAN");
  for (const script of ["postinst", "prerm", "postrm"])
    put(join(HERE, "debian", script), `DEBIAN/${script}`, 0o755);
  writeFileSync(
    join(control, "control"),
    [
      `Package: ${PACKAGE_NAME}`,
      `Version: ${version}`,
      "Architecture: amd64",
      "Maintainer: Lazarus <lazarus@localhost>",
      `Installed-Size: ${installedKiB}`,
      "Depends: libc6 (>= 2.28), libstdc++6 (>= 10), libgcc-s1",
      "Recommends: libvirt-daemon-system, amazon-ssm-agent",
      "Section: admin",
      "Priority: optional",
      "Homepage: https://github.com/lazarus/lazarus",
      "Description: Lazarus host agent: heartbeat, watchdog feeder and guest monitor of a KVM host",
      " lazarus-host sends the host's heartbeat to CloudWatch Logs (embedded metric format), feeds the",
      " watchdog device only after an accepted heartbeat, and reports guests that stop unexpectedly to",
      " EventBridge, for the Lazarus control plane's host and instance recovery.",
      "",
    ].join("\n"),
    { mode: 0o644 },
  );
  mkdirSync(dirname(out), { recursive: true });
  // gzip: every dpkg reads it (zstd needs dpkg >= 1.21.18), and it is quick on a 120 MB Node binary.
  run("dpkg-deb", ["--root-owner-group", "-Zgzip", "-z6", "--build", stage, out]);
  rmSync(join(dirname(out), "stage"), { recursive: true, force: true });
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = await buildHostPackage();
  process.stdout.write(`${out}\n`);
}
