/**
 * Named errors on every failure path. Step Functions matches Retry/Catch on the error's name, so a bare
 * `Error` reaching a state machine cannot be told from any other failure (issue 27):
 *  - in the Lambdas' code (functions/, shared/), no built-in error (`new Error(`, `new TypeError(`, ...)
 *    is made, and nothing is thrown that is not a LazarusError (shared/domain/errors.ts,
 *    shared/store/store-errors.ts), except the few programming-error guards listed below, each with why;
 *  - every name a state machine retries or catches is one of those classes, a name Step Functions itself
 *    raises (`States.*`, the Lambda and Step Functions integrations'), or an AWS error the SDK lets through.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import * as sdkDynamo from "@aws-sdk/client-dynamodb";
import * as sdkEventBridge from "@aws-sdk/client-eventbridge";
import * as sdkSsm from "@aws-sdk/client-ssm";
import { describe, expect, it } from "vitest";
import { PROJECT_ROOT, readDefinition, STATE_MACHINES } from "#shared/definitions/state-machines.js";
import * as domainErrors from "#shared/domain/errors.js";
import * as storeErrors from "#shared/store/store-errors.js";

const ROOT = new URL(".", PROJECT_ROOT).pathname;

/** Every error class a step may throw by name: the LazarusError subclasses. */
const NAMED = new Set(
  Object.entries({ ...domainErrors, ...storeErrors })
    .filter(([, v]) => typeof v === "function" && v.prototype instanceof domainErrors.LazarusError)
    .map(([name]) => name),
);

/**
 * Built-in errors that are programming-error guards or tooling, never on a path a state machine sees:
 * `file` and a piece of the line.
 */
const ALLOWED_BUILTIN: { file: string; line: string; why: string }[] = [
  {
    file: "shared/lambda/handler.ts",
    line: "anonymous step needs options.name",
    why: "thrown when a handlers.ts module loads, never by an invocation",
  },
  {
    file: "shared/definitions/state-machines.ts",
    line: "no state machine ",
    why: "an id that is not in STATE_MACHINES: the callers pass constants",
  },
  {
    file: "shared/definitions/heartbeat.ts",
    line: "throw new RangeError(",
    why: "the host-side heartbeat publisher's argument check (local/hosts), not a Lambda",
  },
  {
    file: "shared/store/create-tables.ts",
    line: "declared as both",
    why: "table creation for the local cloud and the tests (TABLE_SPECS checked), not a Lambda",
  },
  {
    file: "shared/definitions/rules.ts",
    line: "has no triggers",
    why: "a FunctionSpec without its triggers: read by the CDK app and the local cloud, not a Lambda",
  },
  {
    file: "shared/definitions/rules.ts",
    line: "event rules named twice",
    why: "two rule definitions with one name: read by the CDK app and the local cloud, not a Lambda",
  },
  {
    file: "shared/definitions/rules.ts",
    line: "has no schedule",
    why: "a scheduled FunctionSpec without its schedule: read by the CDK app and the local cloud",
  },
  {
    file: "shared/definitions/rules.ts",
    line: "unsupported schedule expression",
    why: "a schedule the local scheduler cannot run: the local cloud's, not a Lambda's",
  },
  {
    file: "shared/domain/values.ts",
    line: "throw new RangeError(`integerRangePattern",
    why: "a pattern's bounds, constants given when a module loads (document patterns), never by an invocation",
  },
  {
    file: "shared/store/create-tables.ts",
    line: "not ACTIVE in time",
    why: "table creation for the local cloud and the tests, not a Lambda",
  },
  {
    file: "shared/lambda/concurrency.ts",
    line: "concurrency must be a whole number",
    why: "the pool's width, a constant of its callers (SYNC_CONCURRENCY): checked before any item runs",
  },
];

/** Thrown by the API's routes only: the router turns it into nova's fault (never reaches a state machine). */
const API_ONLY = new Set(["ApiError"]);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith(".ts") ? [path] : [];
  });
}

const SOURCES = ["functions", "shared"]
  .flatMap((d) => sourceFiles(join(ROOT, d)))
  .map((path) => ({
    file: relative(ROOT, path),
    lines: readFileSync(path, "utf8").split("\n"),
  }));

describe("named errors in the Lambdas' code", () => {
  it("reads the sources and the error classes", () => {
    expect(SOURCES.length).toBeGreaterThan(100);
    expect(NAMED).toContain("HostUnreachable");
    expect(NAMED).toContain("RecordExists");
  });

  it("makes no built-in Error outside the listed programming-error guards", () => {
    const found = SOURCES.flatMap(({ file, lines }) =>
      lines
        .map((line, i) => ({ file, line, at: `${file}:${i + 1}: ${line.trim()}` }))
        .filter(({ line }) => /\bnew (Error|TypeError|RangeError|SyntaxError|ReferenceError)\(/.test(line)),
    );
    const unlisted = found.filter(
      (f) => !ALLOWED_BUILTIN.some((a) => a.file === f.file && f.line.includes(a.line)),
    );
    expect(unlisted.map((f) => f.at)).toEqual([]);
    // Every entry of the list still stands for a guard (a stale entry would hide a new one).
    const unused = ALLOWED_BUILTIN.filter(
      (a) => !found.some((f) => f.file === a.file && f.line.includes(a.line)),
    );
    expect(unused).toEqual([]);
  });

  it("throws only LazarusError classes (and the API its ApiError)", () => {
    const bad = SOURCES.flatMap(({ file, lines }) =>
      lines.flatMap((line, i) =>
        [...line.matchAll(/\bthrow new (\w+)\(/g)]
          .map((m) => m[1]!)
          .filter((name) => !NAMED.has(name))
          .filter((name) => !(API_ONLY.has(name) && file.startsWith("functions/api/")))
          .filter(() => !ALLOWED_BUILTIN.some((a) => a.file === file && line.includes(a.line)))
          .map((name) => `${file}:${i + 1}: ${name}`),
      ),
    );
    expect(bad).toEqual([]);
  });
});

/** Errors Step Functions raises itself: its own (`States.*`) and its service integrations' (Lambda, StartExecution). */
const STEP_FUNCTIONS_PREFIXES = ["States.", "Lambda.", "StepFunctions."];
/**
 * AWS's common errors every API may answer (https://docs.aws.amazon.com/general/latest/gr/api-retries.html,
 * "Common Errors" of each API reference) that a step lets through to be retried.
 */
const AWS_COMMON_ERRORS = new Set(["ServiceUnavailable", "ThrottlingException", "InternalFailure"]);
/** The modelled exceptions of the SDK clients whose errors the steps let through. */
const SDK_EXCEPTIONS = new Set(
  [sdkDynamo, sdkSsm, sdkEventBridge].flatMap((m) =>
    Object.entries(m)
      .filter(([, v]) => typeof v === "function" && v.prototype instanceof Error)
      .map(([name]) => name),
  ),
);

interface Catcher {
  ErrorEquals: string[];
}

/** Every ErrorEquals of every Retry and Catch, in every state, nested (Map, Parallel) ones included. */
function errorNames(node: unknown, at: string, out: { name: string; at: string }[] = []) {
  if (Array.isArray(node)) {
    for (const [i, n] of node.entries()) errorNames(n, `${at}[${i}]`, out);
  } else if (typeof node === "object" && node !== null) {
    for (const [k, v] of Object.entries(node)) {
      if ((k === "Retry" || k === "Catch") && Array.isArray(v)) {
        for (const c of v as Catcher[])
          for (const name of c.ErrorEquals) out.push({ name, at: `${at}.${k}` });
      } else errorNames(v, `${at}.${k}`, out);
    }
  }
  return out;
}

describe.each(STATE_MACHINES.map((m) => [m.id, m] as const))("%s.asl.json Retry/Catch names", (_id, spec) => {
  it("are error classes of errors.ts, Step Functions' own, or AWS errors the SDK passes through", () => {
    const names = errorNames(JSON.parse(readDefinition(spec)), "States");
    expect(names.length).toBeGreaterThan(0);
    const unknown = names.filter(
      ({ name }) =>
        !NAMED.has(name) &&
        !STEP_FUNCTIONS_PREFIXES.some((p) => name.startsWith(p)) &&
        !AWS_COMMON_ERRORS.has(name) &&
        !SDK_EXCEPTIONS.has(name),
    );
    expect(unknown.map((u) => `${u.at}: ${u.name}`)).toEqual([]);
  });
});
