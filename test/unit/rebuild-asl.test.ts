/**
 * The rebuild/evacuate state machine definition against the function list it is deployed with:
 * placeholders, ASL validity, transitions, retries, catch result paths and the reschedule path.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { lambdaArn, REBUILD_FUNCTIONS } from "#shared/definitions/functions.js";
import { definitionSubstitutions } from "#shared/definitions/state-machines.js";
import { CLEANUP_FAILURE_KEY, FAILURE_KEYS } from "#shared/flow/contract.js";
import {
  aslValidator,
  type Definition,
  nonTransientRetries,
  reachableFrom,
  STEP_RETRY_ERRORS,
  targets,
} from "../support/asl.js";

const RAW = readFileSync(new URL("../../state-machines/rebuild.asl.json", import.meta.url), "utf8");
const PLACEHOLDER = /\$\{([^}]*)\}/g;

function fill(text: string, subs: Record<string, string>): string {
  return text.replace(PLACEHOLDER, (whole, name: string) => subs[name] ?? whole);
}

const SUBS = definitionSubstitutions("lazarus");
const DEF = JSON.parse(fill(RAW, SUBS)) as Definition;
const STATES = Object.entries(DEF.States);
const TASKS = STATES.filter(([, s]) => s.Type === "Task");

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
    delete noEnd.States.Finish!.End;
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

/** Errors a step may be retried for: the Lambda service's, DynamoDB throttling, races, and hosts not answering. */
const TRANSIENT = new Set([...STEP_RETRY_ERRORS, "HostUnreachable", "HostCommandTimedOut", "ProbeFailed"]);
const CLEANUP_STATES = ["CleanUpForReschedule", "CleanUpAfterFailure"];

/** Follow a Catch/Next chain from `start` and collect every state on any path to a terminal state. */
function pathsEnd(start: string): { ends: string[]; passes: Set<string> } {
  const passes = reachableFrom(DEF, start);
  const ends = [...passes].filter((n) => {
    const st = DEF.States[n]!;
    return st.Type === "Fail" || st.Type === "Succeed" || st.End === true;
  });
  return { ends, passes };
}

describe("rebuild.asl.json error handling", () => {
  it("every Task retries Lambda.ServiceException and Lambda.Unknown", () => {
    expect(TASKS.length).toBeGreaterThan(0);
    for (const [name, task] of TASKS) {
      const retried = (task.Retry ?? []).flatMap((r) => r.ErrorEquals);
      expect(retried, name).toContain("Lambda.ServiceException");
      expect(retried, name).toContain("Lambda.Unknown");
    }
  });

  it("only transient error names are ever retried (never States.ALL, a refusal, SpawnFailed)", () => {
    expect(nonTransientRetries(TASKS, TRANSIENT)).toEqual([]);
  });

  it("Spawn is not retried after a timeout: the command may have run (the target is cleaned instead)", () => {
    const retried = (DEF.States.Spawn!.Retry ?? []).flatMap((r) => r.ErrorEquals);
    expect(retried).not.toContain("HostCommandTimedOut");
    expect(retried).toContain("HostUnreachable");
  });

  it("a disk-lock refusal at Spawn tries no other host: the target is cleaned, then HandleFailure, and 'fencing required' has its own Fail state", () => {
    const catches = DEF.States.Spawn!.Catch ?? [];
    const locked = catches.findIndex((c) => c.ErrorEquals.includes("DiskLocked"));
    const reschedule = catches.findIndex((c) => c.Next === "RescheduleOrFail");
    expect(locked).toBeGreaterThanOrEqual(0);
    expect(locked).toBeLessThan(reschedule);
    expect(catches[locked]).toMatchObject({ Next: "CleanUpAfterFailure", ResultPath: "$.failure.spawn" });
    expect((DEF.States.Spawn!.Retry ?? []).flatMap((r) => r.ErrorEquals)).not.toContain("DiskLocked");
    const ended = DEF.States.FlowEnded!.Choices ?? [];
    expect(ended).toContainEqual(
      expect.objectContaining({ StringEquals: "fencing-required", Next: "FencingRequired" }),
    );
    expect(DEF.States.FencingRequired).toMatchObject({ Type: "Fail", ErrorPath: "$.ending.error" });
  });

  it("every Catch writes $.failure.<FAILURE_KEYS entry>, or $.cleanUpFailure in a clean-up state", () => {
    const bad: string[] = [];
    for (const [name, s] of STATES) {
      for (const c of s.Catch ?? []) {
        if (CLEANUP_STATES.includes(name)) {
          if (c.ResultPath !== `$.${CLEANUP_FAILURE_KEY}`) bad.push(`${name}: ${String(c.ResultPath)}`);
          continue;
        }
        const key = c.ResultPath?.match(/^\$\.failure\.([A-Za-z]+)$/)?.[1];
        if (key === undefined || !(FAILURE_KEYS as readonly string[]).includes(key)) {
          bad.push(`${name}: ${String(c.ResultPath)}`);
        }
      }
    }
    expect(bad).toEqual([]);
  });

  it("every FAILURE_KEYS entry is written by some Catch (the constant lists no key that is never written)", () => {
    const written = new Set(
      STATES.flatMap(([, s]) => (s.Catch ?? []).map((c) => c.ResultPath?.replace("$.failure.", ""))),
    );
    expect(FAILURE_KEYS.filter((k) => !written.has(k))).toEqual([]);
  });

  it("States.ALL, where caught, is the last catcher", () => {
    for (const [name, s] of STATES) {
      const catchers = s.Catch ?? [];
      const all = catchers.findIndex((c) => c.ErrorEquals.includes("States.ALL"));
      if (all >= 0) expect(all, name).toBe(catchers.length - 1);
    }
  });

  it("every Task but HandleFailure catches States.ALL, and every failure path ends in HandleFailure", () => {
    for (const [name, task] of TASKS) {
      if (name === "HandleFailure") continue;
      const all = (task.Catch ?? []).find((c) => c.ErrorEquals.includes("States.ALL"));
      expect(all, `${name} catches States.ALL`).toBeDefined();
      for (const c of task.Catch ?? []) {
        const { passes } = pathsEnd(c.Next);
        expect(passes.has("HandleFailure"), `${name} -> ${c.Next} reaches HandleFailure`).toBe(true);
      }
    }
  });

  it("after a target may have been touched, the failure paths pass through a clean-up of the target", () => {
    for (const name of ["PrepareRootDisk", "Spawn", "Finish"]) {
      for (const c of DEF.States[name]!.Catch ?? []) {
        const next = c.Next === "RescheduleOrFail" ? DEF.States.RescheduleOrFail!.Choices![0]!.Next : c.Next;
        expect(CLEANUP_STATES, `${name} -> ${c.Next}`).toContain(next);
      }
    }
    for (const name of CLEANUP_STATES) {
      expect(DEF.States[name]!.Resource).toBe(SUBS.ComputeCleanUpTargetFunctionArn);
    }
  });

  it("a clean-up that fails never leads to another host: its Catch goes to HandleFailure", () => {
    for (const name of CLEANUP_STATES) {
      const catchers = DEF.States[name]!.Catch ?? [];
      expect(catchers.map((c) => c.Next)).toEqual(["HandleFailure"]);
    }
    // and only a successful CleanUpForReschedule leads to PrepareReschedule (then Schedule)
    const intoPrepare = STATES.filter(([, s]) => targets(s).includes("PrepareReschedule")).map(([n]) => n);
    expect(intoPrepare).toEqual(["CleanUpForReschedule"]);
    expect(DEF.States.CleanUpForReschedule!.Next).toBe("PrepareReschedule");
  });

  it.each(["CheckInstanceNotOnTarget", "CheckSharedStorage", "PrepareRootDisk", "Spawn"])(
    "%s sends HostUnreachable and HostCommandTimedOut to RescheduleOrFail",
    (name) => {
      const state = DEF.States[name]!;
      for (const error of ["HostUnreachable", "HostCommandTimedOut"]) {
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
    expect(rescheduleOrFail.Default).toBe("CleanUpAfterFailure");
    const evacuate = (rescheduleOrFail.Choices ?? []) as {
      Variable?: string;
      BooleanEquals?: boolean;
      Next: string;
    }[];
    const next = evacuate.find((c) => c.Variable === "$.recreate" && c.BooleanEquals === true)?.Next;
    expect(next).toBe("CleanUpForReschedule");
    const reached = reachableFrom(DEF, next!);
    expect(reached.has("PrepareReschedule")).toBe(true);
    expect(reached.has("Schedule")).toBe(true);
  });

  it("HandleFailure does not throw the flow's error through its own Retry: a Fail state ends the execution with it", () => {
    const hf = DEF.States.HandleFailure!;
    expect(hf.ResultPath).toBe("$.ending");
    const ended = DEF.States[hf.Next!]!;
    expect(ended.Type).toBe("Choice");
    const fail = DEF.States[ended.Default!]!;
    expect(fail).toMatchObject({ Type: "Fail", ErrorPath: "$.ending.error", CausePath: "$.ending.cause" });
  });

  it("Accept receives the request as given and the execution's ARN, and nothing else", () => {
    expect(DEF.States.Accept!.Parameters).toEqual({ "request.$": "$", "executionArn.$": "$$.Execution.Id" });
  });
});
