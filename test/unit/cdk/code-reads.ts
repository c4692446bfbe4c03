/**
 * What each function's own code sends to hosts, read from the code: each function's handler bundled alone
 * with esbuild (tree-shaken, as the deployed bundle would be if it held only that handler), and the host
 * documents whose definition is in that bundle listed. A document is an object literal that only its
 * builder refers to, so its definition (with its `id`) is in a function's bundle exactly when a path of the
 * function's code builds a command of it (ssm-documents/document.ts).
 */
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build, type Plugin } from "esbuild";
import type { FunctionSpec } from "#shared/definitions/functions.js";
import { PROJECT_ROOT } from "#shared/definitions/state-machines.js";
import { HOST_DOCUMENTS } from "#ssm-documents/index.js";

const root = fileURLToPath(PROJECT_ROOT);

/**
 * The handler modules define their handlers as `export const x = wrapper(...)` (biome-formatted: the
 * wrapper's arguments indented two spaces, the call closed by `);` at the line's start): building a
 * handler closure runs nothing, so this analysis marks those calls pure, and the calls that build their
 * arguments (a schema: `orDefaults(Schema)`), so a bundle of one handler drops the others (the deployed
 * bundles keep them all; no code changes). Only calls at the wrapper's own argument level are marked: a
 * call inside a function body (indented deeper) is never dropped from the analysis.
 */
const pureHandlers: Plugin = {
  name: "pure-handlers",
  setup(b) {
    b.onLoad({ filter: /functions\/[^/]+\/handlers\.ts$/ }, async (args) => {
      const { readFile } = await import("node:fs/promises");
      const source = await readFile(args.path, "utf8");
      const contents = source
        .replace(/^export const \w+ = \w+\([\s\S]*?^\);/gm, (call) =>
          call.replace(/^ {2}(\w+(\.\w+)*\()/gm, "  /* @__PURE__ */ $1"),
        )
        .replace(/^(export const \w+ = )(\w+\()/gm, "$1/* @__PURE__ */ $2");
      return { contents, loader: "ts" };
    });
  },
};

/** For each function id, the ids of the host documents its code sends (sorted). */
export async function documentsSentBy(specs: readonly FunctionSpec[]): Promise<Map<string, string[]>> {
  const entries = specs.map((s) => ({ in: `virtual:${s.id}`, out: s.id }));
  const byVirtual = new Map(specs.map((s) => [`virtual:${s.id}`, s]));
  const virtual: Plugin = {
    name: "one-handler",
    setup(b) {
      b.onResolve({ filter: /^virtual:/ }, (args) => ({ path: args.path, namespace: "one-handler" }));
      b.onLoad({ filter: /.*/, namespace: "one-handler" }, (args) => {
        const spec = byVirtual.get(args.path)!;
        return {
          contents: `export { ${spec.handler} } from ${JSON.stringify(join(root, spec.entry))};`,
          resolveDir: root,
          loader: "ts",
        };
      });
    },
  };
  const result = await build({
    entryPoints: entries,
    outdir: "/nonexistent-lazarus-analysis",
    write: false,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node24",
    packages: "external",
    logLevel: "silent",
    plugins: [virtual, pureHandlers],
  });
  const sent = new Map<string, string[]>();
  for (const file of result.outputFiles) {
    // Each entry's output is named after its function's id (`out` above).
    const id = basename(file.path).replace(/\.js$/, "");
    if (!byVirtual.has(`virtual:${id}`)) continue;
    // A document's definition carries its id; nothing else in the code spells it so.
    sent.set(
      id,
      HOST_DOCUMENTS.filter((d) => file.text.includes(`id: ${JSON.stringify(d.id)}`))
        .map((d) => d.id)
        .sort(),
    );
  }
  return sent;
}
