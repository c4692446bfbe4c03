/**
 * Validation at the edge of the host-command builders: every value that reaches a command or a
 * domain XML is parsed with its zod schema first, and a rejected value becomes InvalidInput naming
 * the field and the value, e.g. `invalid domainSpec.interfaces.0.mac: a MAC is ... (got "AA:...")`.
 */
import type { z } from "zod";
import { InvalidInput } from "../domain/errors.js";

/**
 * Keys whose values are never repeated in a message: a password given where only a reference to it belongs
 * (a BMC's settings) must not reach the error, its log line, the API's answer or the stored idempotent
 * response.
 */
const SECRET_KEY = /^(pass(word|wd)?|secret|token|api[_-]?key)$/i;

/** Parses `value` with `schema`; throws InvalidInput naming each bad field and its value (secrets redacted). */
export function validated<S extends z.ZodType>(schema: S, field: string, value: unknown): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const where = [field, ...issue.path.map(String)].join(".");
    const secret = issue.path.some((k) => typeof k === "string" && SECRET_KEY.test(k));
    const shown = secret ? "(redacted)" : describeValue(redactSecrets(valueAt(value, issue.path)));
    return { field: where, message: issue.message, value: shown };
  });
  throw new InvalidInput(
    problems.map((p) => `invalid ${p.field}: ${p.message} (got ${p.value})`).join("; "),
    {
      field: problems[0]?.field ?? field,
      value: problems[0]?.value ?? describeValue(redactSecrets(value)),
      problems,
    },
  );
}

/** A copy of `value` with the values under secret-looking keys replaced (for messages only). */
function redactSecrets(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== "object" || depth > 8) return value;
  if (Array.isArray(value)) return value.map((v) => redactSecrets(v, depth + 1));
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [
      k,
      SECRET_KEY.test(k) ? "(redacted)" : redactSecrets(v, depth + 1),
    ]),
  );
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = root;
  for (const key of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

/** A short, printable rendering of a rejected value for messages. */
export function describeValue(value: unknown): string {
  let text: string;
  try {
    text = value === undefined ? "undefined" : (JSON.stringify(value) ?? String(value));
  } catch {
    text = String(value);
  }
  return text.length > 200 ? `${text.slice(0, 200)}...` : text;
}
