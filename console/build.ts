/**
 * Builds the console: `src/main.tsx` bundled by esbuild (Preact, minified, one file), the stylesheet and
 * the page. The same build serves the local cloud (in memory, local/console/local-console.ts), the stack
 * (cdk/console.ts bundles it into the S3 asset, synchronously as CDK's local bundling asks) and
 * `npm run console:build` (into a folder).
 */
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type BuildOptions, build, buildSync } from "esbuild";

const HERE = fileURLToPath(new URL(".", import.meta.url));

/** The page's placeholder for its Content-Security-Policy (each place knows its own sign-in origins). */
const CSP_PLACEHOLDER = "{{content-security-policy}}";

/** The page with its Content-Security-Policy (shared/definitions/console.ts) in its meta element. */
export function withPolicy(indexHtml: string, csp: string): string {
  if (!indexHtml.includes(CSP_PLACEHOLDER)) throw new Error("console/index.html has no CSP placeholder");
  return indexHtml.replace(CSP_PLACEHOLDER, csp.replaceAll("&", "&amp;").replaceAll('"', "&quot;"));
}

/** The files besides the bundle, copied as they are. */
const STATIC_FILES = { "app.css": "styles.css", "index.html": "index.html" } as const;

const OPTIONS: BuildOptions = {
  entryPoints: [`${HERE}src/main.tsx`],
  bundle: true,
  format: "esm",
  platform: "browser",
  target: ["chrome120", "firefox120", "safari17"],
  jsx: "automatic",
  jsxImportSource: "preact",
  minify: true,
  sourcemap: false,
  legalComments: "none",
  logLevel: "silent",
};

/** The console's files but its `config.json` (which each place writes for itself): name -> content. */
export async function buildConsole(): Promise<Map<string, Buffer>> {
  const out = await build({ ...OPTIONS, write: false, outfile: "app.js" });
  const files = new Map<string, Buffer>();
  for (const f of out.outputFiles) files.set(f.path.split("/").at(-1)!, Buffer.from(f.contents));
  for (const [name, source] of Object.entries(STATIC_FILES))
    files.set(name, readFileSync(`${HERE}${source}`));
  return files;
}

/** The same files written into `dir`. */
export function buildConsoleInto(dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  buildSync({ ...OPTIONS, write: true, outfile: join(dir, "app.js") });
  for (const [name, source] of Object.entries(STATIC_FILES))
    copyFileSync(`${HERE}${source}`, join(dir, name));
  return ["app.js", ...Object.keys(STATIC_FILES)].map((name) => join(dir, name));
}
