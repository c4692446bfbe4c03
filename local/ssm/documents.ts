/**
 * Command documents as SSM and its agent handle them, for the local SSM endpoint: a document is created
 * from its JSON content (schema 2.2, `aws:runShellScript` steps), a SendCommand's parameters are checked
 * against it as SSM checks them (unknown or missing parameter, wrong type, a value outside
 * `allowedPattern` or `allowedValues`, longer than `maxChars`: InvalidParameters, and nothing runs), and the
 * command is resolved as the agent resolves it: `{{ name }}` replaced by the value in the step's inputs
 * (a StringList standing alone in `runCommand` expands to its items), each `interpolationType: ENV_VAR`
 * parameter also set as the environment variable `SSM_<name>`, the lines joined into the script the agent
 * writes to `_script.sh` and runs with `sh -c`, `timeoutSeconds` the execution timeout.
 */
import { AwsJsonError } from "../http/aws-json.js";

export interface DocumentParameterSpec {
  type: "String" | "StringList";
  default?: string | string[];
  allowedPattern?: string;
  allowedValues?: string[];
  maxChars?: number;
  interpolationType?: "ENV_VAR";
}

export interface CommandDocument {
  name: string;
  parameters: Record<string, DocumentParameterSpec>;
  /** The `aws:runShellScript` steps' inputs, in order. */
  steps: { runCommand: unknown[]; timeoutSeconds?: string | number }[];
}

/** What the agent runs for one command. */
export interface ResolvedCommand {
  script: string;
  environment: Record<string, string>;
  executionTimeoutSeconds: number;
  /** The values the command was sent with (defaults filled), as SSM keeps them on the command. */
  parameters: Record<string, string[]>;
}

/** AWS-RunShellScript as AWS defines it (the shell document): `commands` run as they are, as root. */
export const AWS_RUN_SHELL_SCRIPT_CONTENT = JSON.stringify({
  schemaVersion: "1.2",
  description: "Run a shell script or specify the commands to run.",
  parameters: {
    commands: { type: "StringList", description: "(Required) Specify a shell script or a command to run." },
    workingDirectory: {
      type: "String",
      default: "",
      description: "(Optional) The path to the working directory.",
    },
    executionTimeout: {
      type: "String",
      default: "3600",
      description:
        "(Optional) The time in seconds for a command to complete before it is considered to have failed.",
      allowedPattern: "([1-9][0-9]{0,4})|(1[0-6][0-9]{4})|(17[0-1][0-9]{3})|(172[0-7][0-9]{2})|(172800)",
    },
  },
  runtimeConfig: {
    "aws:runShellScript": {
      properties: [
        {
          id: "0.aws:runShellScript",
          runCommand: "{{ commands }}",
          workingDirectory: "{{ workingDirectory }}",
          timeoutSeconds: "{{ executionTimeout }}",
        },
      ],
    },
  },
});

const invalidContent = (name: string, why: string) =>
  new AwsJsonError("InvalidDocumentContent", `document ${name}: ${why}`);

/** A Command document from its JSON content (schema 2.2 `mainSteps`, or 1.2 `runtimeConfig`). */
export function parseCommandDocument(name: string, content: string): CommandDocument {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(content) as Record<string, unknown>;
  } catch {
    throw invalidContent(name, "not JSON (only JSON documents are supported locally)");
  }
  if (json.schemaVersion !== "2.2" && json.schemaVersion !== "1.2") {
    throw new AwsJsonError("InvalidDocumentSchemaVersion", `document ${name}: schemaVersion 2.2 or 1.2`);
  }
  const parameters: Record<string, DocumentParameterSpec> = {};
  for (const [p, raw] of Object.entries((json.parameters ?? {}) as Record<string, Record<string, unknown>>)) {
    if (raw.type !== "String" && raw.type !== "StringList") {
      throw invalidContent(name, `parameter ${p}: type String or StringList supported locally`);
    }
    if (raw.allowedPattern !== undefined) {
      try {
        new RegExp(String(raw.allowedPattern));
      } catch {
        throw invalidContent(name, `parameter ${p}: allowedPattern is not a regular expression`);
      }
    }
    parameters[p] = raw as unknown as DocumentParameterSpec;
  }
  const steps: CommandDocument["steps"] = [];
  if (json.schemaVersion === "2.2") {
    for (const step of (json.mainSteps ?? []) as { action?: string; inputs?: Record<string, unknown> }[]) {
      if (step.action !== "aws:runShellScript") {
        throw invalidContent(name, `action ${step.action}: only aws:runShellScript is supported locally`);
      }
      const inputs = step.inputs ?? {};
      if (!Array.isArray(inputs.runCommand)) throw invalidContent(name, "runCommand must be a list");
      steps.push({
        runCommand: inputs.runCommand,
        ...(inputs.timeoutSeconds !== undefined ? { timeoutSeconds: inputs.timeoutSeconds as string } : {}),
      });
    }
  } else {
    const rc = json.runtimeConfig as { "aws:runShellScript"?: { properties?: Record<string, unknown>[] } };
    for (const prop of rc?.["aws:runShellScript"]?.properties ?? []) {
      steps.push({
        runCommand: [prop.runCommand],
        ...(prop.timeoutSeconds !== undefined ? { timeoutSeconds: prop.timeoutSeconds as string } : {}),
      });
    }
  }
  if (steps.length !== 1)
    throw invalidContent(name, "exactly one aws:runShellScript step is supported locally");
  return { name, parameters, steps };
}

const invalidParameters = (why: string) => new AwsJsonError("InvalidParameters", why);

/** SSM's checks of a SendCommand's parameters against the document, then the agent's resolution. */
export function resolveCommand(doc: CommandDocument, given: Record<string, unknown>): ResolvedCommand {
  const values: Record<string, string[]> = {};
  for (const [name, value] of Object.entries(given)) {
    const spec = doc.parameters[name];
    if (!spec) throw invalidParameters(`document ${doc.name} has no parameter ${name}`);
    if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) {
      throw invalidParameters(`parameter ${name} must be a list of strings`);
    }
    if (spec.type === "String" && value.length !== 1) {
      throw invalidParameters(`parameter ${name} is a String: exactly one value`);
    }
    for (const v of value as string[]) {
      if (spec.maxChars !== undefined && v.length > spec.maxChars) {
        throw invalidParameters(`parameter ${name} is longer than ${spec.maxChars} characters`);
      }
      if (spec.allowedValues && !spec.allowedValues.includes(v)) {
        throw invalidParameters(`parameter ${name} is not one of its allowed values`);
      }
      // The whole value must match (SSM matches the pattern against all of it, anchored or not).
      if (spec.allowedPattern !== undefined && !new RegExp(`^(?:${spec.allowedPattern})$`).test(v)) {
        throw invalidParameters(
          `Parameter "${name}" "${v.length > 80 ? `${v.slice(0, 80)}...` : v}" failed to satisfy constraint: Member must satisfy regular expression pattern: ${spec.allowedPattern}`,
        );
      }
    }
    values[name] = value as string[];
  }
  for (const [name, spec] of Object.entries(doc.parameters)) {
    if (values[name] !== undefined) continue;
    if (spec.default === undefined) throw invalidParameters(`document ${doc.name} needs parameter ${name}`);
    values[name] = Array.isArray(spec.default) ? spec.default : [spec.default];
  }
  const one = (name: string) => (values[name] ?? []).join(" ");
  const substitute = (text: string) =>
    text.replace(/\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}/g, (whole, name: string) =>
      values[name] !== undefined ? one(name) : whole,
    );
  const step = doc.steps[0]!;
  const lines: string[] = [];
  for (const item of step.runCommand) {
    const alone = typeof item === "string" ? /^\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}$/.exec(item) : null;
    if (alone && doc.parameters[alone[1]!]?.type === "StringList") lines.push(...values[alone[1]!]!);
    else lines.push(substitute(String(item)));
  }
  const timeout = step.timeoutSeconds === undefined ? 3600 : Number(substitute(String(step.timeoutSeconds)));
  if (!Number.isInteger(timeout) || timeout < 1 || timeout > 172_800) {
    throw invalidParameters(`timeoutSeconds must be 1..172800 seconds, got ${String(step.timeoutSeconds)}`);
  }
  const environment: Record<string, string> = {};
  for (const [name, spec] of Object.entries(doc.parameters)) {
    if (spec.interpolationType === "ENV_VAR") environment[`SSM_${name}`] = one(name);
  }
  return {
    script: `${lines.join("\n")}\n`,
    environment,
    executionTimeoutSeconds: timeout,
    parameters: values,
  };
}
