/**
 * Builds the console: `src/main.tsx` bundled by esbuild (Preact, minified, one file), the stylesheet and
 * the page. The same build serves the local cloud (in memory, local/console/console-site.ts), the stack
 * (cdk/console.ts bundles it into the S3 asset) and `npm run console:build` (into a folder).
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const HERE = fileURLToPath(new URL(".", import.meta.url));

/** The console's files but its `config.json` (which each place writes for itself): name -> content. */
export async function buildConsole(opts: { minify?: boolean } = {}): Promise<Map<string, Buffer>> {
  const out = await build({
    entryPoints: [`${HERE}src/main.tsx`],
    bundle: true,
    write: false,
    format: "esm",
    platform: "browser",
    target: ["chrome120", "firefox120", "safari17"],
    jsx: "automatic",
    jsxImportSource: "preact",
    minify: opts.minify ?? true,
    sourcemap: false,
    legalComments: "none",
    outfile: "app.js",
    logLevel: "silent",
  });
  const files = new Map<string, Buffer>();
  for (const f of out.outputFiles) files.set(f.path.split("/").at(-1)!, Buffer.from(f.contents));
  files.set("app.css", readFileSync(`${HERE}styles.css`));
  files.set("index.html", readFileSync(`${HERE}index.html`));
  return files;
}
