/**
 * Outcome 2 of issue 30: host commands are the stack's own documents, and each role may send only the
 * documents its function's code sends, to tagged hosts. The test reads every IAM policy of the synthesized
 * template and fails on a shell document (AWS-RunShellScript, or any document not the stack's own), on a
 * document a role's code never sends, and on one it sends without the grant; what the code sends is read
 * from each function's own tree-shaken bundle (./code-reads.ts). A deliberate shell grant makes it fail.
 */
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Effect, PolicyStatement } from "aws-cdk-lib/aws-iam";
import { build } from "esbuild";
import { beforeAll, describe, expect, it } from "vitest";
import { MAX_DOCUMENT_BYTES } from "#cdk/host-documents.js";
import { ALL_FUNCTIONS } from "#shared/definitions/functions.js";
import { PROJECT_ROOT } from "#shared/definitions/state-machines.js";
import { hostDocumentName, renderDocument } from "#ssm-documents/document.js";
import { HOST_DOCUMENTS, RESERVED_DOCUMENTS } from "#ssm-documents/index.js";
import { documentsSentBy } from "./code-reads.js";
import {
  asArray,
  flat,
  functionResource,
  resourcesOfType,
  roleStatements,
  type Synthesized,
  synth,
} from "./synth.js";

const ownDocumentArn = (id: string) =>
  `arn:<AWS::Partition>:ssm:eu-west-1:123456789012:document/${hostDocumentName("lazarus", id)}`;

interface PolicyStatementJson {
  Effect: string;
  Action: string | string[];
  Resource?: unknown;
  NotResource?: unknown;
}

/** Every statement of every policy in the template (inline, managed, and roles' own). */
function everyStatement(s: Synthesized): { at: string; st: PolicyStatementJson }[] {
  const out: { at: string; st: PolicyStatementJson }[] = [];
  for (const [id, r] of Object.entries(s.json.Resources)) {
    const docs: unknown[] = [];
    if (r.Type === "AWS::IAM::Policy" || r.Type === "AWS::IAM::ManagedPolicy")
      docs.push(r.Properties!.PolicyDocument);
    if (r.Type === "AWS::IAM::Role") {
      for (const p of (r.Properties!.Policies ?? []) as { PolicyDocument: unknown }[])
        docs.push(p.PolicyDocument);
    }
    for (const d of docs) {
      for (const st of (d as { Statement: PolicyStatementJson[] }).Statement) out.push({ at: id, st });
    }
  }
  return out;
}

/**
 * What is wrong with the template's SendCommand grants: a statement that lets anything send a document
 * that is not one of the stack's own (a shell document above all), and for each function, a document its
 * role may send that its code never sends, or one its code sends that its role may not.
 */
function sendCommandProblems(s: Synthesized, sent: Map<string, string[]>): string[] {
  const problems: string[] = [];
  const own = new Set(HOST_DOCUMENTS.map((d) => ownDocumentArn(d.id)));
  for (const { at, st } of everyStatement(s)) {
    if (st.Effect !== "Allow") continue;
    const actions = asArray(st.Action);
    const sends = actions.some(
      (a) => a === "ssm:SendCommand" || a === "ssm:*" || a === "*" || /^ssm:Send\*?$/.test(a),
    );
    if (!sends) continue;
    if (st.NotResource !== undefined) problems.push(`${at}: SendCommand with NotResource`);
    const resources = asArray(st.Resource as unknown).map(flat);
    // Targets are granted in their own statements (instances); any document in a statement must be ours.
    for (const r of resources) {
      if (/:document\/|^\*$/.test(r) && !own.has(r)) problems.push(`${at}: SendCommand on ${r}`);
    }
  }
  for (const spec of ALL_FUNCTIONS) {
    const granted = roleStatements(s, functionResource(s, spec)[1])
      .filter((st) => st.Effect === "Allow" && asArray(st.Action).includes("ssm:SendCommand"))
      .flatMap((st) => asArray(st.Resource as unknown).map(flat))
      .filter((r) => r.includes(":document/"));
    const needed = (sent.get(spec.id) ?? []).map(ownDocumentArn);
    for (const g of granted)
      if (!needed.includes(g)) problems.push(`${spec.id}: may send ${g}, which its code never sends`);
    for (const n of needed)
      if (!granted.includes(n)) problems.push(`${spec.id}: sends ${n} without the grant`);
  }
  return problems;
}

let s: Synthesized;
let sent: Map<string, string[]>;
beforeAll(async () => {
  s = synth();
  sent = await documentsSentBy(ALL_FUNCTIONS);
});

describe("the stack's host documents", () => {
  it("one AWS::SSM::Document per host document, named <prefix>-<id>, with the content the local cloud creates", () => {
    const docs = resourcesOfType(s, "AWS::SSM::Document");
    expect(docs.map(([, d]) => d.Properties!.Name).sort()).toEqual(
      HOST_DOCUMENTS.map((d) => hostDocumentName("lazarus", d.id)).sort(),
    );
    for (const [, d] of docs) {
      const doc = HOST_DOCUMENTS.find((x) => hostDocumentName("lazarus", x.id) === d.Properties!.Name)!;
      expect(d.Properties!.Content).toEqual(renderDocument(doc));
      expect(d.Properties).toMatchObject({
        DocumentType: "Command",
        DocumentFormat: "JSON",
        UpdateMethod: "NewVersion",
      });
      expect(Buffer.byteLength(JSON.stringify(d.Properties!.Content))).toBeLessThan(MAX_DOCUMENT_BYTES / 2);
    }
  });

  it("every document module is side-effect free, so a bundle holds only the documents its code builds", async () => {
    const root = fileURLToPath(PROJECT_ROOT);
    const modules = readdirSync(new URL("ssm-documents/", PROJECT_ROOT)).filter(
      (f) => f.endsWith(".ts") && !["index.ts"].includes(f),
    );
    for (const m of modules) {
      const r = await build({
        stdin: { contents: `import "./ssm-documents/${m}";`, resolveDir: root, loader: "ts" },
        bundle: true,
        write: false,
        platform: "node",
        format: "esm",
        logLevel: "silent",
        plugins: [
          {
            // The module alone: whatever it imports stays outside (their side effects are their own).
            name: "only-this-module",
            setup(b) {
              b.onResolve({ filter: /.*/ }, (args) =>
                args.importer.includes("ssm-documents/") ? { path: args.path, external: true } : undefined,
              );
            },
          },
        ],
      });
      const code = r.outputFiles[0]!.text.replace(/^import [^;]*;$/gm, "")
        .replace(/^\/\/.*$/gm, "")
        .trim();
      expect(code, m).toBe("");
    }
  });
});

describe("who may send which document", () => {
  it("no policy allows a shell document or any document but the stack's; each role exactly what its code sends", () => {
    expect(sendCommandProblems(s, sent)).toEqual([]);
    expect(JSON.stringify(s.json)).not.toContain("AWS-RunShellScript");
  });

  it("every document is sent by some function's code, but the reserved ones, which no role may send", () => {
    const sentByAnyone = new Set([...sent.values()].flat());
    for (const d of HOST_DOCUMENTS) {
      expect(sentByAnyone.has(d.id), d.id).toBe(!(d.id in RESERVED_DOCUMENTS));
    }
    // The access lists say the same as the code (what the stack grants from).
    for (const spec of ALL_FUNCTIONS) {
      expect([...(spec.access.hostDocuments ?? [])].sort(), spec.id).toEqual(sent.get(spec.id) ?? []);
    }
  });

  it("a deliberate shell document in a role makes it fail", () => {
    const tampered = synth({
      tamper: (stack) =>
        stack.functions.roles.get("compute-spawn")!.addToPrincipalPolicy(
          new PolicyStatement({
            effect: Effect.ALLOW,
            actions: ["ssm:SendCommand"],
            resources: [
              stack.formatArn({
                service: "ssm",
                account: "",
                resource: "document",
                resourceName: "AWS-RunShellScript",
              }),
            ],
          }),
        ),
    });
    expect(sendCommandProblems(tampered, sent)).toEqual([
      expect.stringMatching(
        /SendCommand on arn:<AWS::Partition>:ssm:eu-west-1::document\/AWS-RunShellScript$/,
      ),
      "compute-spawn: may send arn:<AWS::Partition>:ssm:eu-west-1::document/AWS-RunShellScript, which its code never sends",
    ]);
  });

  it("a document a role's code never sends makes it fail", () => {
    const tampered = synth({
      functions: ALL_FUNCTIONS.map((f) =>
        f.id === "api"
          ? { ...f, access: { ...f.access, hostDocuments: [...f.access.hostDocuments!, "delete-volume"] } }
          : f,
      ),
    });
    expect(sendCommandProblems(tampered, sent)).toEqual([
      `api: may send ${ownDocumentArn("delete-volume")}, which its code never sends`,
    ]);
  });
});
