/**
 * The rebuild/evacuate state machine definition against the function list it is deployed with:
 * placeholders, ASL validity, transitions, retries, catch result paths and the reschedule path.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { lambdaArn, REBUILD_FUNCTIONS } from "#shared/definitions/functions.js";
import { definitionSubstitutions } from "#shared/definitions/state-machines.js";
import { FAILURE_KEYS } from "#shared/flow/contract.js";

type AslValidator = (
  definition: unknown,
  options?: { checkPaths?: boolean; checkArn?: boolean },
) => { isValid: boolean; errors: unknown[]; errorsText: (separator?: string) => string };
const aslValidator = createRequire(import.meta.url)("asl-validator") as AslValidator;

interface Retrier {
  ErrorEquals: string[];
}
interface Catcher {
  ErrorEquals: string[];
  ResultPath?: string;
  Next: string;
}
interface State {
  Type: string;
  Resource?: string;
  Next?: string;
  End?: boolean;
  Default?: string;
  Choices?: { Next: string }[];
  Retry?: Retrier[];
  Catch?: Catcher[];
  [key: string]: unknown;
}
interface Definition {
  StartAt: string;
  States: Record<string, State>;
}

const RAW = readFileSync(new URL("../../state-machines/rebuild.asl.json", import.meta.url), "utf8");
const PLACEHOLDER = /\$\{([^}]*)\}/g;

function fill(text: string, subs: Record<string, string>): string {
  return text.replace(PLACEHOLDER, (whole, name: string) => subs[name] ?? whole);
}

const SUBS = definitionSubstitutions("lazarus");
const DEF = JSON.parse(fill(RAW, SUBS)) as Definition;
const STATES = Object.entries(DEF.States);
const TASKS = STATES.filter(([, s]) => s.Type === "Task");

/** Every state a state may move to: Next, Default, Choices[].Next, Catch[].Next. */
function targets(state: State): string[] {
  return [
    ...(state.Next ? [state.Next] : []),
    ...(state.Default ? [state.Default] : []),
    ...(state.Choices ?? []).map((c) => c.Next),
    ...(state.Catch ?? []).map((c) => c.Next),
  ];
}

function reachableFrom(def: Definition, start: string): Set<string> {
  const seen = new Set<string>();
  const queue = [start];
  while (queue.length) {
    const name = queue.shift()!;
    if (seen.has(name) || !def.States[name]) continue;
    seen.add(name);
    queue.push(...targets(def.States[name]));
  }
  return seen;
}

describe("rebuild.asl.json placeholders", () => {
  const used = [...RAW.matchAll(PLACEHOLDER)].map((m) => m[1]!);

  it("uses placeholders at all", () => {
    expect(used.length).toBeGreaterThan(0);
  });

  it("every placeholder in the file is the placeholder of exactly one REBUILD_FUNCTIONS entry", () => {
    for (const name of new Set(used)) {
      expect(
        REBUILD_FUNCTIONS.filter((f) => f.placeholder === name).map((f) => f.id),
        name,
      ).toHaveLength(1);
    }
  });

  it("every REBUILD_FUNCTIONS placeholder is used in the file", () => {
    const usedSet = new Set(used);
    expect(REBUILD_FUNCTIONS.filter((f) => !usedSet.has(f.placeholder)).map((f) => f.placeholder)).toEqual(
      [],
    );
  });

  it("REBUILD_FUNCTIONS ids and placeholders are unique", () => {
    expect(new Set(REBUILD_FUNCTIONS.map((f) => f.id)).size).toBe(REBUILD_FUNCTIONS.length);
    expect(new Set(REBUILD_FUNCTIONS.map((f) => f.placeholder)).size).toBe(REBUILD_FUNCTIONS.length);
  });

  it("definitionSubstitutions fills every placeholder with the <prefix>-<id> function ARN", () => {
    for (const f of REBUILD_FUNCTIONS) expect(SUBS[f.placeholder]).toBe(lambdaArn(`lazarus-${f.id}`));
    expect(fill(RAW, SUBS)).not.toMatch(PLACEHOLDER);
    for (const [, task] of TASKS)
      expect(task.Resource).toMatch(/^arn:aws:lambda:[^:]+:\d{12}:function:lazarus-/);
  });
});

describe("rebuild.asl.json validity", () => {
  it("passes asl-validator once filled", () => {
    const result = aslValidator(structuredClone(DEF));
    expect(result.errorsText("\n")).toBe("");
    expect(result.isValid).toBe(true);
  });

  it("asl-validator does reject a broken copy (the check can fail)", () => {
    const broken = structuredClone(DEF);
    broken.States.Accept!.Next = "NoSuchState";
    expect(aslValidator(broken).isValid).toBe(false);
    const noEnd = structuredClone(DEF);
    delete noEnd.States.HandleFailure!.End;
    expect(aslValidator(noEnd).isValid).toBe(false);
  });

  it("every Next/Default/Choice/Catch target names an existing state", () => {
    const missing = STATES.flatMap(([name, s]) =>
      targets(s)
        .filter((t) => !(t in DEF.States))
        .map((t) => `${name} -> ${t}`),
    );
    expect(missing).toEqual([]);
    expect(DEF.States[DEF.StartAt]).toBeDefined();
  });

  it("every state is reachable from StartAt", () => {
    const reached = reachableFrom(DEF, DEF.StartAt);
    expect(STATES.map(([n]) => n).filter((n) => !reached.has(n))).toEqual([]);
  });

  it("has no JSONata, no Assign, no ToleratedFailure fields", () => {
    const offending: string[] = [];
    const forbiddenKeys = /^(Assign|Arguments|Output|ToleratedFailure.*)$/;
    const walk = (node: unknown, path: string): void => {
      if (typeof node === "string") {
        if (/\{%/.test(node)) offending.push(`${path}: JSONata expression`);
      } else if (Array.isArray(node)) {
        for (const [i, v] of node.entries()) walk(v, `${path}[${i}]`);
      } else if (node && typeof node === "object") {
        for (const [k, v] of Object.entries(node)) {
          if (forbiddenKeys.test(k)) offending.push(`${path}.${k}`);
          if (k === "QueryLanguage" && v !== "JSONPath") offending.push(`${path}.${k}=${String(v)}`);
          walk(v, `${path}.${k}`);
        }
      }
    };
    walk(JSON.parse(RAW), "$");
    expect(offending).toEqual([]);
  });
});

describe("rebuild.asl.json error handling", () => {
  it("every Task retries Lambda.ServiceException and Lambda.Unknown", () => {
    expect(TASKS.length).toBeGreaterThan(0);
    for (const [name, task] of TASKS) {
      const retried = (task.Retry ?? []).flatMap((r) => r.ErrorEquals);
      expect(retried, name).toContain("Lambda.ServiceException");
      expect(retried, name).toContain("Lambda.Unknown");
    }
  });

  it("every Catch writes to $.failure.<key> (a known key) or $.cleanUpError", () => {
    const known = new Set<string>([...FAILURE_KEYS, "prepareReschedule", "cleanUp"]);
    const bad: string[] = [];
    for (const [name, s] of STATES) {
      for (const c of s.Catch ?? []) {
        const path = c.ResultPath;
        const key = path?.match(/^\$\.failure\.([A-Za-z]+)$/)?.[1];
        if (path === "$.cleanUpError") continue;
        if (key === undefined || !known.has(key)) bad.push(`${name}: ${String(path)}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it("States.ALL, where caught, is the last catcher", () => {
    for (const [name, s] of STATES) {
      const catchers = s.Catch ?? [];
      const all = catchers.findIndex((c) => c.ErrorEquals.includes("States.ALL"));
      if (all >= 0) expect(all, name).toBe(catchers.length - 1);
    }
  });

  it.each(["CheckInstanceNotOnTarget", "CheckSharedStorage", "PrepareRootDisk", "Spawn"])(
    "%s catches HostUnreachable and SpawnFailed into RescheduleOrFail",
    (name) => {
      const state = DEF.States[name]!;
      expect(state.Type).toBe("Task");
      for (const error of ["HostUnreachable", "SpawnFailed"]) {
        // The first catcher that matches wins: it must be the reschedule one, not a States.ALL before it.
        const first = (state.Catch ?? []).find(
          (c) => c.ErrorEquals.includes(error) || c.ErrorEquals.includes("States.ALL"),
        );
        expect(first?.Next, `${name} ${error}`).toBe("RescheduleOrFail");
      }
    },
  );

  it("RescheduleOrFail leads back to Schedule for an evacuation, through clean-up and PrepareReschedule", () => {
    const rescheduleOrFail = DEF.States.RescheduleOrFail!;
    expect(rescheduleOrFail.Type).toBe("Choice");
    expect(rescheduleOrFail.Default).toBe("HandleFailure");
    const evacuate = (rescheduleOrFail.Choices ?? []) as {
      Variable?: string;
      BooleanEquals?: boolean;
      Next: string;
    }[];
    const next = evacuate.find((c) => c.Variable === "$.recreate" && c.BooleanEquals === true)?.Next;
    expect(next).toBeDefined();
    const reached = reachableFrom(DEF, next!);
    expect(reached.has("PrepareReschedule")).toBe(true);
    expect(reached.has("Schedule")).toBe(true);
    expect(DEF.States.PrepareReschedule!.Resource).toBe(SUBS.ConductorPrepareRescheduleFunctionArn);
  });
});

describe("REBUILD_FUNCTIONS entries", () => {
  it.each(REBUILD_FUNCTIONS.map((f) => [f.id, f] as const))(
    "%s: entry exports its handler",
    async (_id, f) => {
      const mod = (await import(`../../${f.entry}`)) as Record<string, unknown>;
      expect(typeof mod[f.handler]).toBe("function");
    },
  );
});
