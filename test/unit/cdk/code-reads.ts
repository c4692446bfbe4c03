/**
 * What each function's own code sends to hosts, read from the code: each function's handler bundled alone
 * with esbuild (tree-shaken, as the deployed bundle would be if it held only that handler), and the host
 * documents whose definition is in that bundle listed. A document is an object literal that only its
 * builder refers to, so its definition (with its `id`) is in a function's bundle exactly when a path of the
 * function's code builds a command of it (ssm-documents/document.ts).
 */
import { join } from "node:path";
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

/**
 * A flow's step table (`functions/<flow>/steps/index.ts`: `HOST_FAILURE_STEPS`, one `name: step(...)` entry
 * per line, the handlers built from it) keeps, in the bundle of one function, only that function's entry:
 * an object literal's properties are never tree-shaken. An entry spread over several lines is kept
 * (the analysis then finds more than the function sends, and the test fails: never fewer).
 */
function oneStepEntry(handler: string): Plugin {
  return {
    name: "one-step-entry",
    setup(b) {
      b.onLoad({ filter: /functions\/[^/]+\/steps\/index\.ts$/ }, async (args) => {
        const { readFile } = await import("node:fs/promises");
        const source = await readFile(args.path, "utf8");
        return {
          contents: source.replace(/^ {2}(\w+): step\(.*\),$/gm, (line, name: string) =>
            name === handler ? line : "",
          ),
          loader: "ts",
        };
      });
    },
  };
}

/** The bundle of one function's handler alone, tree-shaken. */
async function bundleOf(spec: FunctionSpec): Promise<string> {
  const result = await build({
    stdin: {
      contents: `export { ${spec.handler} } from ${JSON.stringify(join(root, spec.entry))};`,
      resolveDir: root,
      loader: "ts",
    },
    write: false,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node24",
    packages: "external",
    logLevel: "silent",
    plugins: [pureHandlers, oneStepEntry(spec.handler)],
  });
  return result.outputFiles[0]!.text;
}

/** For each function id, the ids of the host documents its code sends (sorted). */
export async function documentsSentBy(specs: readonly FunctionSpec[]): Promise<Map<string, string[]>> {
  const bundles = await Promise.all(specs.map(async (spec) => [spec.id, await bundleOf(spec)] as const));
  const sent = new Map<string, string[]>();
  for (const [id, text] of bundles) {
    // A document's definition carries its id; nothing else in the code spells it so.
    sent.set(
      id,
      HOST_DOCUMENTS.filter((d) => text.includes(`id: ${JSON.stringify(d.id)}`))
        .map((d) => d.id)
        .sort(),
    );
  }
  return sent;
}

/** The IAM service of each AWS SDK package the code imports commands from. */
const SERVICE_OF_PACKAGE: Record<string, string> = {
  "@aws-sdk/client-ssm": "ssm",
  "@aws-sdk/client-eventbridge": "events",
  "@aws-sdk/client-sfn": "states",
  "@aws-sdk/client-cloudwatch": "cloudwatch",
  "@aws-sdk/client-ec2": "ec2",
  "@aws-sdk/client-cloudwatch-logs": "logs",
  "@aws-sdk/client-lambda": "lambda",
  "@aws-sdk/client-dynamodb": "dynamodb",
  "@aws-sdk/lib-dynamodb": "dynamodb",
};
/** Where a command's name is not its action's. */
const ACTION_OF_COMMAND: Record<string, string> = {
  "lambda:Invoke": "lambda:InvokeFunction",
  "dynamodb:Get": "dynamodb:GetItem",
  "dynamodb:Put": "dynamodb:PutItem",
  "dynamodb:Update": "dynamodb:UpdateItem",
  "dynamodb:Delete": "dynamodb:DeleteItem",
  "dynamodb:BatchGet": "dynamodb:BatchGetItem",
};

/** The IAM actions of the SDK commands a module sends (`new XCommand(`, X imported from an SDK package). */
export function sdkActionsOf(source: string): Set<string> {
  const serviceOf = new Map<string, string>();
  for (const m of source.matchAll(/import\s*(?:type\s*)?\{([^}]*)\}\s*from\s*"(@aws-sdk\/[^"]+)"/g)) {
    const service = SERVICE_OF_PACKAGE[m[2]!];
    if (!service) continue;
    for (const name of m[1]!.split(",").map((n) => n.replace(/^\s*type\s+/, "").trim())) {
      if (name.endsWith("Command")) serviceOf.set(name, service);
    }
  }
  const actions = new Set<string>();
  for (const m of source.matchAll(/new\s+([A-Za-z0-9]+Command)\(/g)) {
    const service = serviceOf.get(m[1]!);
    if (!service) continue;
    const action = `${service}:${m[1]!.replace(/Command$/, "")}`;
    actions.add(ACTION_OF_COMMAND[action] ?? action);
  }
  return actions;
}
