/**
 * Builds the host agent as one file: `dist/host-agent/lazarus-host.mjs`, an ESM bundle of host-agent/main.ts
 * with everything it imports (shared/, the AWS SDK, zod), for the Node 24 that the Debian package ships beside
 * it. The local cloud runs this same file for each of its hosts (`ensureHostAgentBundle`: rebuilt when any
 * source is newer), and the package (`npm run package:host`) contains it.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

export const PROJECT_ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const BUNDLE_PATH = join(PROJECT_ROOT, "dist", "host-agent", "lazarus-host.mjs");

/** The package's version: the project's (package.json). */
export function projectVersion(): string {
  return (JSON.parse(readFileSync(join(PROJECT_ROOT, "package.json"), "utf8")) as { version: string })
    .version;
}

/** Writes the bundle (to a temporary name first: a reader never sees half of it). */
export async function buildHostAgentBundle(outFile = BUNDLE_PATH): Promise<string> {
  mkdirSync(dirname(outFile), { recursive: true });
  const tmp = `${outFile}.${process.pid}.tmp`;
  await build({
    entryPoints: [join(PROJECT_ROOT, "host-agent", "main.ts")],
    outfile: tmp,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node24",
    minify: false,
    sourcemap: false,
    legalComments: "none",
    logLevel: "error",
    define: { LAZARUS_HOST_VERSION: JSON.stringify(projectVersion()) },
    // Some dependencies are CommonJS and require() Node's modules: give the ESM bundle a require.
    banner: {
      js: "#!/usr/bin/env node\nimport { createRequire as __lazarusCreateRequire } from 'node:module';\nconst require = __lazarusCreateRequire(import.meta.url);",
    },
  });
  renameSync(tmp, outFile);
  return outFile;
}

function newestMtime(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

/** The bundle, rebuilt first when a source (host-agent/, shared/, the lockfile) is newer than it. */
export async function ensureHostAgentBundle(outFile = BUNDLE_PATH): Promise<string> {
  let built = 0;
  try {
    built = statSync(outFile).mtimeMs;
  } catch {
    // not built yet
  }
  const sources = ["host-agent", "shared", "package-lock.json", "package.json"].map((p) =>
    join(PROJECT_ROOT, p),
  );
  if (built > 0 && sources.every((s) => newestMtime(s) <= built)) return outFile;
  return buildHostAgentBundle(outFile);
}
