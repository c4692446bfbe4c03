/**
 * Validation at the edge of the host-command builders: every value that reaches a command or a
 * domain XML is parsed with its zod schema first, and a rejected value becomes InvalidInput naming
 * the field and the value, e.g. `invalid domainSpec.interfaces.0.mac: a MAC is ... (got "AA:...")`.
 */
import type { z } from "zod";
import { InvalidInput } from "../domain/errors.js";

/** Parses `value` with `schema`; throws InvalidInput naming each bad field and its value. */
export function validated<S extends z.ZodType>(schema: S, field: string, value: unknown): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const where = [field, ...issue.path.map(String)].join(".");
    return { field: where, message: issue.message, value: describeValue(valueAt(value, issue.path)) };
  });
  throw new InvalidInput(
    problems.map((p) => `invalid ${p.field}: ${p.message} (got ${p.value})`).join("; "),
    {
      field: problems[0]?.field ?? field,
      value: problems[0]?.value ?? describeValue(value),
      problems,
    },
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
