/**
 * `npm run chaos -- [--seed N] [--rounds N] [--from-round K] [--hosts N] [--instances N] [--only KIND,...]
 *                   [--minutes N] [--out DIR] [--json]`
 *
 * Runs local/chaos/chaos.ts on a local cloud of real libvirt hosts (root needed), printing each round as it
 * happens and a summary at the end. The seed is printed first: `--seed` replays the same draws, and each
 * round's draws depend on the seed and its number only, so `--from-round K --rounds 1` replays round K on a
 * fresh cloud. A run with violations writes its report (every violation with its round's story, JSON and
 * text) to `--out` (default ./chaos-reports) and prints the command replaying each failing round.
 * `--json` adds the summary as one JSON object on the last line. Exit 1 on any violation, 2 on a usage error.
 * `--minutes N` starts no round after N minutes (the summary says how many ran).
 * `--only` restricts the disruptions drawn (e.g. `--only dead-feeder,crash-loop`).
 */
import { parseArgs } from "node:util";
import { randomSeed } from "../seeded-random.js";
import { DISRUPTIONS, type Disruption, runChaos } from "./chaos.js";

function usage(message: string): never {
  process.stderr.write(
    `${message}\nusage: npm run chaos -- [--seed N] [--rounds N] [--from-round K] [--hosts N] [--instances N] [--only ${DISRUPTIONS.join(",")}] [--minutes N] [--out DIR] [--json]\n`,
  );
  process.exit(2);
}

let parsed: ReturnType<typeof parse>;
function parse() {
  return parseArgs({
    options: {
      seed: { type: "string" },
      rounds: { type: "string" },
      "from-round": { type: "string" },
      hosts: { type: "string" },
      instances: { type: "string" },
      only: { type: "string" },
      minutes: { type: "string" },
      out: { type: "string" },
      json: { type: "boolean" },
    },
  }).values;
}
try {
  parsed = parse();
} catch (e) {
  usage(e instanceof Error ? e.message : String(e));
}
const int = (name: string, v: string | undefined, fallback: number, min: number) => {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) usage(`--${name} must be an integer >= ${min}, got ${v}`);
  return n;
};
const seed = int("seed", parsed.seed, randomSeed(), 0);
const only = parsed.only?.split(",").map((s) => s.trim()) as Disruption[] | undefined;
const known: readonly string[] = DISRUPTIONS;
for (const d of only ?? []) if (!known.includes(d)) usage(`unknown disruption ${d}`);

const t0 = Date.now();
const say = (line: string) =>
  process.stdout.write(`${((Date.now() - t0) / 1000).toFixed(1).padStart(7)}s  ${line}\n`);

say(`chaos seed ${seed} (re-run with --seed ${seed})`);
const summary = await runChaos({
  seed,
  rounds: int("rounds", parsed.rounds, 5, 1),
  fromRound: int("from-round", parsed["from-round"], 1, 1),
  hosts: int("hosts", parsed.hosts, 5, 3),
  instances: int("instances", parsed.instances, 8, 1),
  ...(only ? { disruptions: only } : {}),
  ...(parsed.minutes !== undefined ? { budgetMs: int("minutes", parsed.minutes, 0, 1) * 60_000 } : {}),
  reportDir: parsed.out ?? "chaos-reports",
  log: say,
});
const line = (k: string, v: string) => process.stdout.write(`  ${k.padEnd(16)} ${v}\n`);
const bag = (b: Record<string, number>) =>
  Object.entries(b)
    .sort(([a], [c]) => a.localeCompare(c))
    .map(([k, v]) => `${k}=${v}`)
    .join(" ") || "none";
process.stdout.write("\nchaos summary\n");
line("seed", String(summary.seed));
line("rounds", `${summary.rounds} (from round ${summary.fromRound})`);
line("disruptions", bag(summary.disruptions));
line("overlays", bag(summary.overlays));
line("faults", bag(summary.faults));
line("operations", bag(summary.operations));
for (const [machine, statuses] of Object.entries(summary.executions)) line(`  ${machine}`, bag(statuses));
line(
  "/proc sampler",
  `${summary.sampler.samples} samples, ${summary.sampler.glimpses} glimpse(s) (starts refused before the guest ran)`,
);
line("in ERROR", String(summary.instancesInError));
line("lost instances", String(summary.lostInstances));
line("stranded", String(summary.strandedInstances));
line("double runs", String(summary.doubleRuns));
line("violations", String(summary.violations));
for (const v of summary.violationList) process.stdout.write(`    ${v}\n`);
if (summary.report) {
  line("report", `${summary.report.text} (and .json)`);
  for (const r of summary.replays) process.stdout.write(`    replay: ${r}\n`);
}
line("duration", `${summary.durationSeconds} s`);
if (parsed.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
process.exit(summary.violations === 0 ? 0 : 1);
