/**
 * Every Lambda entry bundles with the stack's esbuild settings (the stack test skips bundling), the
 * bundle holds no code from local/, test/ or cdk/, and it exports each handler the specs name from it.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";
import { describe, expect, it } from "vitest";
import { BUNDLING } from "#cdk/functions.js";
import { ALL_FUNCTIONS } from "#shared/definitions/functions.js";
import { PROJECT_ROOT } from "#shared/definitions/state-machines.js";
import { useTempDir } from "#test/support/temp-dir.js";

const root = fileURLToPath(PROJECT_ROOT);
const out = useTempDir("lazarus-bundles-");

const entries = [...new Set(ALL_FUNCTIONS.map((f) => f.entry))];

describe("Lambda bundles", () => {
  it.each(entries.map((e) => [e]))("%s", async (entry) => {
    const outfile = join(out, `${entry.replaceAll("/", "_")}.mjs`);
    const result = await build({
      entryPoints: [join(root, entry)],
      outfile,
      bundle: true,
      platform: "node",
      format: "esm",
      target: BUNDLING.target,
      mainFields: BUNDLING.mainFields,
      external: BUNDLING.externalModules,
      minify: BUNDLING.minify,
      sourcemap: BUNDLING.sourceMap,
      sourcesContent: BUNDLING.sourcesContent,
      banner: { js: BUNDLING.banner! },
      metafile: true,
      logLevel: "silent",
    });
    const ownInputs = Object.keys(result.metafile.inputs).filter((p) => !p.includes("node_modules/"));
    expect(ownInputs.filter((p) => /^(local|test|cdk)\//.test(p))).toEqual([]);
    expect(ownInputs).toContain(entry);
    // A source map beside the bundle, naming our own files (stack traces read through it).
    const map = JSON.parse(readFileSync(`${outfile}.map`, "utf8")) as { sources: string[] };
    expect(map.sources.some((source) => source.endsWith(entry))).toBe(true);

    const module = (await import(pathToFileURL(outfile).href)) as Record<string, unknown>;
    for (const spec of ALL_FUNCTIONS.filter((f) => f.entry === entry)) {
      expect(typeof module[spec.handler], spec.id).toBe("function");
    }
  });
});
