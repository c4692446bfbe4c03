/**
 * The definitions the CDK stack and the local cloud share: every placeholder of every ASL file is
 * filled by exactly one function or state machine, every step function is used by some machine, every
 * entry exports its handler, and the local cloud's substitutions cover every placeholder.
 */
import { describe, expect, it } from "vitest";
import { ALL_FUNCTIONS } from "#shared/definitions/functions.js";
import {
  definitionSubstitutions,
  PROJECT_ROOT,
  placeholdersOf,
  readDefinition,
  STATE_MACHINES,
} from "#shared/definitions/state-machines.js";

describe("shared definitions", () => {
  const subs = definitionSubstitutions("lazarus");

  it("ids, placeholders and files are unique", () => {
    const ids = [...ALL_FUNCTIONS.map((f) => f.id), ...STATE_MACHINES.map((m) => m.id)];
    const placeholders = [
      ...ALL_FUNCTIONS.map((f) => f.placeholder),
      ...STATE_MACHINES.map((m) => m.placeholder),
    ];
    expect(new Set(ids).size).toBe(ids.length);
    expect(new Set(placeholders).size).toBe(placeholders.length);
    expect(new Set(STATE_MACHINES.map((m) => m.file)).size).toBe(STATE_MACHINES.length);
  });

  it.each(STATE_MACHINES.map((m) => [m.id, m] as const))("%s: every placeholder is filled", (_id, m) => {
    const missing = placeholdersOf(readDefinition(m)).filter((p) => subs[p] === undefined);
    expect(missing).toEqual([]);
  });

  it("every step function is used by some state machine", () => {
    const used = new Set(STATE_MACHINES.flatMap((m) => placeholdersOf(readDefinition(m))));
    const unused = ALL_FUNCTIONS.filter((f) => f.role === "step" && !used.has(f.placeholder)).map(
      (f) => f.id,
    );
    expect(unused).toEqual([]);
  });

  it.each(ALL_FUNCTIONS.map((f) => [f.id, f] as const))(
    "%s: its entry exports the handler",
    async (_id, f) => {
      const module = (await import(new URL(f.entry, PROJECT_ROOT).href)) as Record<string, unknown>;
      expect(typeof module[f.handler]).toBe("function");
    },
  );
});
