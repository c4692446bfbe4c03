/** zod parsing that fails with InvalidInput, naming every offending field (the flows' one refusal for bad input). */
import type { z } from "zod";
import { InvalidInput } from "../domain/errors.js";

export function parseOrInvalid<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((i) => {
    const path = i.path.join(".") || "(root)";
    const keys = "keys" in i && Array.isArray(i.keys) ? ` ${i.keys.join(", ")}` : "";
    return `${path}: ${i.message}${keys}`;
  });
  throw new InvalidInput(`invalid ${what}: ${issues.join("; ")}`, { issues });
}
