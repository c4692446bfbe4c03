/**
 * EventBridge event patterns (the subset Lazarus's rules use): every key of the pattern must match the
 * event; a list matches when any of its entries does; an entry is a literal, `{prefix}`, `{"anything-but"}`,
 * `{exists}` or `{numeric}` is not supported (it never matches). An event field that is a list matches when
 * any of its elements does. Nested objects match recursively.
 */
import type { EventPattern, PatternEntry } from "#shared/definitions/events.js";

export type { EventPattern, PatternEntry };

export function matchesPattern(pattern: EventPattern, event: unknown): boolean {
  if (event === null || typeof event !== "object" || Array.isArray(event)) return false;
  const obj = event as Record<string, unknown>;
  for (const [key, rule] of Object.entries(pattern)) {
    const value = obj[key];
    if (Array.isArray(rule)) {
      if (!matchesList(rule as readonly PatternEntry[], value, key in obj)) return false;
    } else if (!matchesPattern(rule as EventPattern, value)) return false;
  }
  return true;
}

function matchesList(entries: readonly PatternEntry[], value: unknown, present: boolean): boolean {
  const values = Array.isArray(value) ? value : [value];
  return entries.some((entry) => {
    if (entry !== null && typeof entry === "object") {
      if ("exists" in entry) return entry.exists === present;
      if (!present) return false;
      if ("prefix" in entry)
        return values.some((v) => typeof v === "string" && v.startsWith(String(entry.prefix)));
      if ("anything-but" in entry) {
        const no = entry["anything-but"];
        const banned = Array.isArray(no) ? no : [no];
        return values.every((v) => !banned.includes(v));
      }
      return false;
    }
    return present && values.some((v) => v === entry);
  });
}
