/**
 * Runs a host command the way the local SSM endpoint and agent do, without them: the document's deployed
 * JSON (renderDocument) parsed and its parameters checked as SSM checks them (local/ssm/documents.ts; a
 * refusal throws InvalidParameters and nothing runs), then the resolved script written to a file and run
 * with `sh -c <file>` in the given environment, the ENV_VAR parameters added. For tests of the documents'
 * scripts against real or fake programs on this machine.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AwsJsonError } from "#local/http/aws-json.js";
import { parseCommandDocument, type ResolvedCommand, resolveCommand } from "#local/ssm/documents.js";
import type { HostCommand } from "#shared/hosts/host-command.js";
import { EXECUTION_TIMEOUT_PARAMETER, renderDocument } from "#ssm-documents/document.js";
import { hostDocument } from "#ssm-documents/index.js";

export interface DocumentRun {
  status: number;
  stdout: string;
  stderr: string;
  resolved: ResolvedCommand;
}

/** SSM's resolution of a command (its checks included): what the agent would be handed. */
export function resolveHostCommand(
  command: HostCommand,
  extra: Record<string, string[]> = {},
): ResolvedCommand {
  const doc = hostDocument(command.document);
  const parsed = parseCommandDocument(command.document, JSON.stringify(renderDocument(doc)));
  const given = Object.fromEntries(Object.entries(command.parameters).map(([k, v]) => [k, [v]]));
  return resolveCommand(parsed, { ...given, ...extra });
}

export function runHostCommand(
  command: HostCommand,
  opts: {
    env?: Record<string, string>;
    path?: string[];
    tamper?: Record<string, string>;
    /** Only `env` (no variable of this process), as a host's agent runs with its own environment. */
    isolated?: boolean;
  } = {},
): DocumentRun {
  const resolved = resolveHostCommand(command, { [EXECUTION_TIMEOUT_PARAMETER]: ["60"] });
  const dir = mkdtempSync(join(tmpdir(), "lazarus-document-"));
  try {
    const file = join(dir, "_script.sh");
    writeFileSync(file, resolved.script, { mode: 0o700 });
    const base = opts.isolated ? {} : process.env;
    const path = [...(opts.path ?? []), opts.env?.PATH ?? base.PATH ?? "/usr/bin:/bin"].join(":");
    const r = spawnSync("sh", ["-c", file], {
      env: { ...base, ...opts.env, PATH: path, ...resolved.environment, ...opts.tamper },
      encoding: "utf8",
      timeout: 60_000,
    });
    if (r.error) throw r.error;
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, resolved };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The AWS error type `f` throws (a local endpoint's AwsJsonError: InvalidParameters, ...), or what else. */
export function awsErrorType(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return e instanceof AwsJsonError ? e.type : `not an AwsJsonError: ${String(e)}`;
  }
  return "no error";
}
