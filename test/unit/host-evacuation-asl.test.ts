/**
 * The host-evacuation machine's structure, as rebuild-asl.test.ts checks the rebuild machine's: valid ASL,
 * every placeholder a host-failure function, every state reachable, transient-only retries, every failure
 * of a step through AbortIncident, and the safety wiring of the evacuation itself: a child that fails is
 * caught and confirmed (never aborts the Map), proof comes before any plan, every round goes back to the
 * Fence, and the end is SUCCEEDED only with a complete report.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { HOST_FAILURE_FUNCTIONS } from "#shared/definitions/functions.js";
import {
  aslValidator,
  type Definition,
  nonTransientRetries,
  reachableFrom,
  STEP_RETRY_ERRORS,
  type State,
  targets,
} from "../support/asl.js";

const RAW = readFileSync(new URL("../../state-machines/host-evacuation.asl.json", import.meta.url), "utf8");
const DEF = JSON.parse(RAW) as Definition;
const TOP = Object.entries(DEF.States);
const TASKS = TOP.filter(([, s]) => s.Type === "Task");
const PLACEHOLDERS = new Map(HOST_FAILURE_FUNCTIONS.map((f) => [`\${${f.placeholder}}`, f]));

/** Every state of the machine, the Map's inner ones included. */
function allStates(def: Pick<Definition, "States">): [string, State][] {
  return Object.entries(def.States).flatMap(([n, s]) => [
    [n, s] as [string, State],
    ...(s.ItemProcessor ? allStates(s.ItemProcessor) : []),
  ]);
}
const ALL = allStates(DEF);
const state = (name: string) => {
  const found = ALL.find(([n]) => n === name)?.[1];
  if (!found) throw new Error(`no state ${name}`);
  return found;
};

/** Every path from `from` to an end, as lists of state names (the machine's loops cut at a repeat). */
function pathsFrom(from: string, seen: string[] = []): string[][] {
  if (seen.includes(from)) return [[...seen, from]];
  const s = DEF.States[from]!;
  const next = targets(s);
  if (next.length === 0) return [[...seen, from]];
  return next.flatMap((n) => pathsFrom(n, [...seen, from]));
}

const TRANSIENT = new Set([
  ...STEP_RETRY_ERRORS,
  "StepFunctions.ThrottlingException",
  "StepFunctions.ExecutionLimitExceededException",
  "StepFunctions.SdkClientException",
]);

describe("host-evacuation.asl.json is a valid machine of the host-failure functions", () => {
  it("passes asl-validator (placeholders filled), and the validator can fail", () => {
    const filled = JSON.parse(
      RAW.replace(/\$\{([^}]*)\}/g, "arn:aws:lambda:us-east-1:000000000000:function:x"),
    );
    expect(aslValidator(filled).errorsText("\n")).toBe("");
    const broken = structuredClone(filled) as Definition;
    broken.States.Fence!.Next = "NoSuchState";
    expect(aslValidator(broken).isValid).toBe(false);
  });

  it("every Lambda Task names a host-failure step function; startExecution only in EvacuateInstance", () => {
    for (const [name, s] of ALL.filter(([, s]) => s.Type === "Task")) {
      if (name === "EvacuateInstance") {
        expect(s.Resource).toBe("arn:aws:states:::states:startExecution.sync:2");
        continue;
      }
      expect(PLACEHOLDERS.get(s.Resource ?? "")?.role, `${name}: ${s.Resource}`).toBe("step");
    }
  });

  it("every target names a state and every state is reachable", () => {
    for (const def of [
      DEF,
      state("EvacuateByPriority").ItemProcessor!,
      state("EvacuateTier").ItemProcessor!,
    ]) {
      const missing = Object.entries(def.States).flatMap(([n, s]) =>
        targets(s)
          .filter((t) => !(t in def.States))
          .map((t) => `${n} -> ${t}`),
      );
      expect(missing).toEqual([]);
      const reached = reachableFrom(def, def.StartAt);
      expect(Object.keys(def.States).filter((n) => !reached.has(n))).toEqual([]);
    }
  });

  it("only transient errors are retried (never States.ALL, a refusal, FencingRequired)", () => {
    expect(nonTransientRetries(ALL, TRANSIENT)).toEqual([]);
  });
});

describe("host-evacuation.asl.json failure paths", () => {
  it("every top-level Task but AbortIncident and OpenIncident catches States.ALL into $.failure.<step> and AbortIncident", () => {
    for (const [name, s] of TASKS) {
      if (name === "AbortIncident" || name === "OpenIncident") continue;
      const all = (s.Catch ?? []).find((c) => c.ErrorEquals.includes("States.ALL"));
      expect(all, `${name} catches States.ALL`).toMatchObject({
        Next: "AbortIncident",
        ResultPath: expect.stringMatching(/^\$\.failure\.[a-zA-Z]+$/),
      });
    }
    expect(state("EvacuateByPriority").Catch).toEqual([
      expect.objectContaining({ ErrorEquals: ["States.ALL"], Next: "AbortIncident" }),
    ]);
  });

  it("AbortIncident returns the original error and a Fail state ends the execution with it (raised, a transient one would be retried as AbortIncident's own)", () => {
    expect(state("AbortIncident")).toMatchObject({
      Type: "Task",
      ResultPath: "$.aborted",
      Next: "EvacuationAborted",
    });
    expect(state("AbortIncident").Catch).toBeUndefined();
    expect(state("EvacuationAborted")).toMatchObject({
      Type: "Fail",
      ErrorPath: "$.aborted.error",
      CausePath: "$.aborted.cause",
    });
  });

  it("a child evacuation that fails is caught into $.child and still confirmed: one failure never aborts the Map", () => {
    const evacuate = state("EvacuateInstance");
    expect(evacuate.Catch).toEqual([
      { ErrorEquals: ["States.ALL"], ResultPath: "$.child", Next: "ConfirmEvacuation" },
    ]);
    expect(evacuate.Next).toBe("ConfirmEvacuation");
    expect(evacuate.ResultPath).toBeNull();
    expect(state("ConfirmEvacuation")).toMatchObject({ Type: "Task", End: true });
    // The child's input is the request only: never an internal field the caller could not give.
    expect(Object.keys((evacuate.Parameters as { Input: object }).Input).sort()).toEqual([
      "instanceUuid.$",
      "plannedHost.$",
      "recreate",
      "requestId.$",
    ]);
  });
});

describe("host-evacuation.asl.json proof before any start, nothing left behind", () => {
  it("every path from DisableHost to an evacuation passes Fence first, and each round goes back to Fence", () => {
    for (const path of pathsFrom("DisableHost")) {
      const evacuation = path.indexOf("EvacuateByPriority");
      if (evacuation < 0) continue;
      expect(path.slice(0, evacuation), path.join(" -> ")).toContain("Fence");
      expect(path.indexOf("PlanEvacuation"), path.join(" -> ")).toBeGreaterThan(path.indexOf("Fence"));
    }
    expect(state("WaitForProof").Next).toBe("Fence");
    // Between them, the migrations off the host (issue 32) are ended once its death is proven.
    expect(state("Fence").Next).toBe("EndMigrations");
    expect(state("EndMigrations").Next).toBe("PlanEvacuation");
    expect(state("PlanEvacuation").Next).toBe("EvacuateByPriority");
    expect(state("EvacuateByPriority").Next).toBe("AwaitProof");
  });

  it("no path reaches an evacuation without the death verdict: the probe and the mass-failure guard come first", () => {
    for (const path of pathsFrom(DEF.StartAt)) {
      const evacuation = path.indexOf("EvacuateByPriority");
      if (evacuation < 0) continue;
      const before = path.slice(0, evacuation);
      for (const must of [
        "OpenIncident",
        "ProbeHost",
        "CheckMassFailure",
        "DisableHost",
        "Fence",
        "PlanEvacuation",
      ])
        expect(before, path.join(" -> ")).toContain(must);
    }
  });

  it("AwaitProof loops only through WaitForProof; SUCCEEDED only with report.complete, else HostEvacuationIncomplete", () => {
    expect(state("ProofVerdict").Choices).toEqual([
      expect.objectContaining({
        Variable: "$.proofLook.verdict",
        StringEquals: "wait",
        Next: "WaitForProof",
      }),
    ]);
    expect(state("ProofVerdict").Default).toBe("ReportEvacuation");
    expect(state("AllEvacuated").Choices).toEqual([
      expect.objectContaining({ Variable: "$.report.complete", BooleanEquals: true, Next: "Evacuated" }),
    ]);
    expect(state("AllEvacuated").Default).toBe("EvacuationIncomplete");
    expect(state("EvacuationIncomplete")).toMatchObject({ Type: "Fail", Error: "HostEvacuationIncomplete" });
    // The only Succeed states reachable after DisableHost is the complete evacuation.
    const after = reachableFrom(DEF, "DisableHost");
    expect([...after].filter((n) => DEF.States[n]!.Type === "Succeed")).toEqual(["Evacuated"]);
  });

  it("the children run by priority tier, one tier at a time, at most maxConcurrency at once", () => {
    expect(state("EvacuateByPriority")).toMatchObject({ MaxConcurrency: 1, ItemsPath: "$.plan.tiers" });
    expect(state("EvacuateTier")).toMatchObject({ MaxConcurrencyPath: "$.maxConcurrency" });
  });
});
