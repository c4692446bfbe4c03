/**
 * The file a failing chaos run leaves: every violation with its round's story (the disruption, the overlays
 * and their details, the victims, the event lines with their times, what the /proc sampler saw, every
 * execution started in the round with the states it went through and how it ended, the records at the
 * round's end), as JSON for a program and as text for a reader, and how to replay each failing round.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { RoundRecord } from "./round.js";

export interface ReplayOptions {
  seed: number;
  hosts: number;
  instances: number;
  only?: readonly string[];
}

/**
 * The command that replays one round: the same seed and round number give the same draws (each round has
 * its own generator), on a fresh cloud; what earlier rounds left behind, and timing, are not replayed.
 */
export function replayCommand(o: ReplayOptions, round: number, rounds = 1): string {
  const only = o.only?.length ? ` --only ${o.only.join(",")}` : "";
  return `npm run chaos -- --seed ${o.seed} --from-round ${round} --rounds ${rounds} --hosts ${o.hosts} --instances ${o.instances}${only}`;
}

export interface ChaosReport {
  seed: number;
  startedAt: string;
  options: ReplayOptions & { rounds: number; fromRound: number };
  violations: string[];
  failingRounds: (RoundRecord & { replay: string; replayFromStart: string })[];
}

function text(report: ChaosReport): string {
  const out: string[] = [];
  out.push(
    `chaos run, seed ${report.seed}, started ${report.startedAt}: ${report.violations.length} violation(s) in ${report.failingRounds.length} round(s)`,
    "",
  );
  for (const r of report.failingRounds) {
    out.push(
      `=== round ${r.round}: ${r.disruptions.join(" + ")}${Object.keys(r.overlays)
        .map((o) => ` +${o}`)
        .join("")}`,
    );
    out.push(`replay this round:      ${r.replay}`);
    out.push(`replay up to it:        ${r.replayFromStart}`);
    out.push(
      `round seed ${r.roundSeed}, machines boot after ${r.bootDelayMs} ms, ${r.startedAt} .. ${r.endedAt}`,
    );
    if (r.victims.length) out.push(`victims: ${r.victims.map((v) => `${v.host} (${v.kind})`).join(", ")}`);
    for (const [o, what] of Object.entries(r.overlays)) out.push(`overlay ${o}: ${what}`);
    out.push("", "violations:");
    for (const v of r.violations) out.push(`  ${v}`);
    out.push("", "what the /proc sampler saw:");
    for (const d of r.sampler.doubles) out.push(`  DOUBLE ${d}`);
    for (const g of r.sampler.glimpses) out.push(`  glimpse ${g}`);
    if (!r.sampler.doubles.length && !r.sampler.glimpses.length)
      out.push("  nothing: no uuid in two qemu processes");
    out.push("", "events:");
    for (const e of r.events) out.push(`  ${e.at}  ${e.line}`);
    out.push("", "executions started in the round:");
    for (const e of r.executions ?? []) {
      out.push(
        `  ${e.machine} ${e.name}: ${e.status}${e.error ? ` ${e.error}` : ""} (${e.startDate} .. ${e.stopDate ?? "running"})`,
      );
      out.push(`    input ${JSON.stringify(e.input)}`);
      out.push(`    states ${e.states.join(" > ")}`);
      if (e.cause) out.push(`    cause ${e.cause}`);
    }
    out.push("", "records at the end of the round:");
    for (const i of r.state?.instances ?? []) out.push(`  instance ${JSON.stringify(i)}`);
    for (const h of r.state?.hosts ?? []) out.push(`  host ${JSON.stringify(h)}`);
    out.push("");
  }
  return `${out.join("\n")}\n`;
}

/** Writes `<dir>/chaos-<seed>-<time>.json` and `.txt`; returns their paths. */
export function writeReport(dir: string, report: ChaosReport): { json: string; text: string } {
  mkdirSync(dir, { recursive: true });
  const stamp = report.startedAt.replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  const base = resolve(join(dir, `chaos-${report.seed}-${stamp}`));
  writeFileSync(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(`${base}.txt`, text(report));
  return { json: `${base}.json`, text: `${base}.txt` };
}
