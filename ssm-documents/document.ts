/**
 * What a host document is, and the SSM Command document (schema 2.2) it is deployed as. Each document of
 * this folder is one kind of host operation: a fixed bash script, and typed parameters. A caller chooses the
 * parameters' values, never the script:
 *  - every parameter has an `allowedPattern` (as tight as the zod schema of the value: the patterns are
 *    shared/domain/values.ts's), so SSM refuses a value outside it (InvalidParameters) before anything runs;
 *  - every parameter reaches the script as an environment variable (`interpolationType: ENV_VAR`, SSM Agent
 *    3.3.2746.0 or later), `$SSM_<name>`, never as text spliced into the script; the script checks it against
 *    the same pattern again before using it, and quotes it wherever it uses it.
 * The CDK stack deploys `renderDocument(doc)` as an AWS::SSM::Document (cdk/host-documents.ts); the local
 * cloud creates the same content through the SSM API (local/ssm), which runs it as SSM and the agent do.
 *
 * Nothing here runs at import: a document is an object literal whose script is built when rendered, so a
 * Lambda bundle holds only the documents its code sends (test/unit/cdk/host-documents.test.ts reads them).
 */

/** One parameter: a String, checked against `allowedPattern` by SSM and again by the script. */
export interface DocumentParameter {
  description: string;
  /** Anchored, in the common subset of JavaScript, Java and POSIX ERE (bash's `=~` checks it on the host). */
  allowedPattern: string;
  /** SSM's own length limit for the value. */
  maxChars: number;
  /** The value when the caller gives none; without a default the parameter is required. */
  default?: string;
}

export interface HostDocument<P extends string = string> {
  /** Deployed as `<prefix>-<id>` (hostDocumentName). */
  id: string;
  description: string;
  parameters: Record<P, DocumentParameter>;
  /** The script's lines after the prologue; each parameter is in the shell variable of its name. */
  script: () => readonly string[];
  /** The host-side time limit when the caller sets none (the document's `executionTimeout` parameter). */
  executionTimeoutSeconds: number;
}

/** The environment variable naming the deployment's document prefix (the stack sets it on every function). */
export const HOST_DOCUMENT_PREFIX_ENV = "LAZARUS_HOST_DOCUMENT_PREFIX";

/** `<prefix>-<id>`: a document's name in SSM (AWS reserves the `AWS-`, `Amazon` and `amzn` prefixes). */
export function hostDocumentName(prefix: string, id: string): string {
  return `${prefix}-${id}`;
}

/** The parameter every document has, as AWS-RunShellScript has it: the host-side time limit, in seconds. */
export const EXECUTION_TIMEOUT_PARAMETER = "executionTimeout";
/** 1..172800 s, as AWS-RunShellScript allows. */
export const EXECUTION_TIMEOUT_PATTERN =
  "^([1-9]|[1-9][0-9]|[1-9][0-9]{2}|[1-9][0-9]{3}|[1-9][0-9]{4}|1[0-6][0-9]{4}|17[01][0-9]{3}|172[0-7][0-9]{2}|172800)$";

/** Exit code of a document whose parameter failed the script's own check (SSM should have refused it). */
export const EXIT_BAD_PARAMETER = 64;

/** The environment variable SSM sets for a parameter with `interpolationType: ENV_VAR`. */
export function parameterEnvName(name: string): string {
  return `SSM_${name}`;
}

/**
 * The script's first lines: bash (the agent runs `sh -c <file>`: the shebang chooses bash), stop at the
 * first failure, the C locale (virsh/qemu-img messages and states in English), then each parameter read
 * from its environment variable into the shell variable of its name, after checking it again.
 */
export function prologue(parameters: Record<string, DocumentParameter>): string[] {
  const lines = ["#!/bin/bash", "set -euo pipefail", "export LC_ALL=C"];
  for (const [name, p] of Object.entries(parameters)) {
    if (!/^[a-z][A-Za-z0-9]{0,62}$/.test(name)) throw new Error(`parameter name ${name}: letters and digits`);
    if (p.allowedPattern.includes("'")) throw new Error(`parameter ${name}: a pattern may not hold a quote`);
    const env = parameterEnvName(name);
    lines.push(
      `lz_re='${p.allowedPattern}'`,
      `if [[ -z \${${env}+set} || \${#${env}} -gt ${p.maxChars} || ! \${${env}} =~ $lz_re ]]; then`,
      `  echo "parameter ${name} is missing or not allowed (SSM Agent 3.3.2746.0 or later sets ${env})" >&2`,
      `  exit ${EXIT_BAD_PARAMETER}`,
      "fi",
      `${name}="\${${env}}"`,
    );
  }
  lines.push("unset lz_re");
  return lines;
}

/** The SSM Command document (schema 2.2, JSON) of a host document: what SSM stores and the agent runs. */
export function renderDocument(doc: HostDocument) {
  const parameters: Record<string, Record<string, string | number>> = {};
  for (const [name, p] of Object.entries(doc.parameters as Record<string, DocumentParameter>)) {
    parameters[name] = {
      type: "String",
      description: p.description,
      allowedPattern: p.allowedPattern,
      maxChars: p.maxChars,
      interpolationType: "ENV_VAR",
      ...(p.default !== undefined ? { default: p.default } : {}),
    };
  }
  parameters[EXECUTION_TIMEOUT_PARAMETER] = {
    type: "String",
    description: "Seconds the script may run on the host before the agent stops it.",
    allowedPattern: EXECUTION_TIMEOUT_PATTERN,
    maxChars: 6,
    default: String(doc.executionTimeoutSeconds),
  };
  return {
    schemaVersion: "2.2",
    description: doc.description,
    parameters,
    mainSteps: [
      {
        action: "aws:runShellScript",
        name: "run",
        precondition: { StringEquals: ["platformType", "Linux"] },
        inputs: {
          runCommand: [...prologue(doc.parameters as Record<string, DocumentParameter>), ...doc.script()],
          // The one parameter spliced as text: digits only (its pattern), and not into the script.
          timeoutSeconds: `{{ ${EXECUTION_TIMEOUT_PARAMETER} }}`,
        },
      },
    ],
  };
}

export type RenderedDocument = ReturnType<typeof renderDocument>;
