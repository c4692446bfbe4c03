/**
 * Numbers written in more than one place are computed in one: the heartbeat's cost per host-month
 * (`detectionCostPerHostMonth`, bench/cost.ts, recorded by the bench in bench/results.json) and the
 * heartbeat alarm's detection window (HEARTBEAT_MISSED_PERIODS x HEARTBEAT_PERIOD_SECONDS). Each figure
 * README.md, docs/DEPLOY.md and docs/ARCHITECTURE.md state must be the computed one. And docs/SECURITY.md's
 * role table is each function's `access`, row by row (its host documents, tables and other grants).
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { LazarusConfig } from "#cdk/config.js";
import { ALL_FUNCTIONS, type FunctionSpec } from "#shared/definitions/functions.js";
import {
  HEARTBEAT_MISSED_PERIODS,
  HEARTBEAT_PERIOD_SECONDS,
  heartbeatAlarm,
} from "#shared/definitions/heartbeat.js";
import { PROJECT_ROOT } from "#shared/definitions/state-machines.js";
import { detectionCost } from "../../bench/aggregate.js";

const read = (file: string) => readFileSync(fileURLToPath(new URL(file, PROJECT_ROOT)), "utf8");
const DOCS = ["README.md", "docs/DEPLOY.md", "docs/ARCHITECTURE.md"] as const;
const usd = (x: number) => `$${x.toFixed(2)}`;

const results = JSON.parse(read("bench/results.json")) as {
  cost: { detection: ReturnType<typeof detectionCost> & { emfLineBytes: number } };
};
const recorded = results.cost.detection;
const computed = detectionCost(recorded.emfLineBytes);

describe("the heartbeat's cost per host-month, one computed source", () => {
  it("bench/results.json holds what the code computes (re-run `npm run bench` after a price or setting change)", () => {
    const { emfLineBytes: _, ...figures } = recorded;
    expect(figures).toEqual(computed);
  });

  it("every doc that prices the heartbeat states the computed figures, and no other", () => {
    const deployed = usd(computed.deployed.usd.total);
    const viaPut = computed.putMetricDataEvery10s.usd;
    const calls = viaPut.beatsPerMonth.toLocaleString("en-US");
    for (const file of DOCS) {
      const text = read(file);
      // The deployed settings' figure (README and ARCHITECTURE: "$0.67 per host-month", DEPLOY: "**$0.67**").
      expect(text, file).toContain(deployed);
      // The PutMetricData alternative: its total, its calls' share and their count.
      const at = text.search(/`PutMetricData` (\(\$0\.01 per 1,000\) )?every 10 s/);
      expect(at, `${file} prices PutMetricData every 10 s`).toBeGreaterThanOrEqual(0);
      const sentence = text.slice(at, at + 200);
      expect(sentence, file).toContain(usd(viaPut.total));
      expect(sentence, file).toContain(usd(viaPut.calls));
      expect(sentence.replace(/\n/g, " "), file).toContain(`${calls} calls`);
      // Every amount in that sentence is one of the computed ones.
      const allowed = new Set([
        usd(viaPut.total),
        usd(viaPut.calls),
        usd(computed.localCloudSettings.usd.total),
        // PutMetricData's price per 1,000 calls.
        usd(0.01),
      ]);
      for (const amount of sentence.match(/\$\d+\.\d\d/g) ?? [])
        expect(allowed, `${file}: ${amount}`).toContain(amount);
    }
  });
});

describe("the detection window, one definition", () => {
  it("the stack's default, registration's alarm and the docs say the same number of 10 s periods", () => {
    expect(LazarusConfig.parse({}).heartbeat.missedPeriods).toBe(HEARTBEAT_MISSED_PERIODS);
    expect(heartbeatAlarm("h").EvaluationPeriods).toBe(HEARTBEAT_MISSED_PERIODS);
    const window = `${HEARTBEAT_MISSED_PERIODS} x ${HEARTBEAT_PERIOD_SECONDS} s periods`;
    for (const file of ["README.md", "docs/ARCHITECTURE.md"]) expect(read(file), file).toContain(window);
    for (const file of DOCS) {
      for (const m of read(file).matchAll(/(\d+) x 10 s periods/g)) {
        expect(Number(m[1]), `${file}: ${m[0]}`).toBe(HEARTBEAT_MISSED_PERIODS);
      }
    }
  });
});

/** A function's row of SECURITY.md's role table, cell by cell, as its `access` says (whitespace aside). */
function roleRow(f: FunctionSpec): string[] {
  const a = f.access;
  const level = { read: "r", write: "w", remove: "w+d" } as const;
  const tables = Object.entries(a.tables ?? {}).map(([t, l]) => `${t} ${level[l]}`);
  const other: string[] = [];
  if (a.publishEvents) other.push("`events:PutEvents` (Lazarus bus)");
  if (a.startExecutions?.length) other.push(`\`states:StartExecution\` of ${a.startExecutions.join(", ")}`);
  if (a.readExecutions === "status") other.push("`states:DescribeExecution`");
  if (a.readExecutions === "history") other.push("`states:DescribeExecution`, `GetExecutionHistory`");
  if (a.invokeFunctions?.length) other.push(`\`lambda:InvokeFunction\` of ${a.invokeFunctions.join(", ")}`);
  if (a.describeHosts) other.push("`ssm:DescribeInstanceInformation`");
  if (a.tagHosts) other.push("the name tag");
  if (a.hostAlarms) other.push("the host alarms");
  if (a.hostAlarmState) other.push("`cloudwatch:SetAlarmState` (host alarms)");
  if (a.heartbeats) other.push("`cloudwatch:GetMetricData`");
  if (a.fence) other.push("`ec2:StopInstances` (tagged), `DescribeInstances`");
  if (a.powerOn) other.push("`ec2:StartInstances` (tagged)");
  const docs = (a.hostDocuments ?? []).map((d) => `\`${d}\``);
  return [`\`${f.id}\``, tables.join(", ") || "-", docs.join(", ") || "-", other.join("; ") || "-"];
}

describe("docs/SECURITY.md's roles", () => {
  it("one row per function, each what its access grants (tables, host documents, everything else)", () => {
    const rows = [...read("docs/SECURITY.md").matchAll(/^\| (`[a-z0-9-]+`) +\|(.*)\|\s*$/gm)].map((m) =>
      [m[1]!, ...m[2]!.split("|")].map((c) => c.trim()),
    );
    expect(rows).toEqual(ALL_FUNCTIONS.map(roleRow));
    // Every kind of access a function has is one the rows above render (a new kind must be added there).
    const rendered = new Set([
      "tables",
      "hostDocuments",
      "publishEvents",
      "startExecutions",
      "readExecutions",
      "invokeFunctions",
      "describeHosts",
      "tagHosts",
      "hostAlarms",
      "hostAlarmState",
      "heartbeats",
      "fence",
      "powerOn",
    ]);
    expect(ALL_FUNCTIONS.flatMap((f) => Object.keys(f.access)).filter((k) => !rendered.has(k))).toEqual([]);
  });

  it("each role's host documents are its access.hostDocuments, and every role that may send one is listed", () => {
    const listed = new Map<string, string[]>();
    for (const m of read("docs/SECURITY.md").matchAll(/^\| `([a-z0-9-]+)` +\|[^|]*\|([^|]*)\|/gm)) {
      listed.set(
        m[1]!,
        [...m[2]!.matchAll(/`([a-z0-9-]+)`/g)].map((d) => d[1]!),
      );
    }
    for (const f of ALL_FUNCTIONS) {
      const documents = f.access.hostDocuments ?? [];
      if (documents.length === 0 && !listed.has(f.id)) continue;
      expect(listed.get(f.id), f.id).toEqual(documents);
    }
    for (const id of listed.keys())
      expect(
        ALL_FUNCTIONS.map((f) => f.id),
        id,
      ).toContain(id);
  });
});
