/** Turning measured runs into the results' figures (medians with min and max) and the targets' verdicts. Pure. */
import {
  type DetectionSettings,
  detectionCostPerHostMonth,
  type EvacuationCounts,
  PRICES,
  priceOf,
} from "./cost.js";
import type { EvacuationRunResult } from "./evacuation.js";
import { median, round, type Summary, summarize } from "./stats.js";

/** Every value of `o` rounded (for the results file), keeping its keys' type. */
function roundAll<T extends Record<string, number>>(o: T, digits: number): T {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, round(v, digits)])) as T;
}

export function aggregateEvacuations(all: readonly EvacuationRunResult[]) {
  // Times only from runs that evacuated every instance; a failed run is counted, not averaged in.
  const complete = all.filter((r) => r.failed === 0);
  const runs = complete.length > 0 ? complete : all;
  const s = (f: (r: EvacuationRunResult) => number) => summarize(runs.map(f));
  return {
    runs: runs.length,
    failedRuns: all.length - complete.length,
    alarmSeconds: s((r) => r.alarmSeconds),
    detectSeconds: s((r) => r.detectSeconds),
    recoverSeconds: s((r) => r.recoverSeconds),
    lastRunningSeconds: s((r) => r.lastRunningSeconds),
    deathToAllRunningSeconds: s((r) => r.detectSeconds + r.recoverSeconds),
    perInstanceSeconds: s((r) => r.perInstanceSeconds),
    floorSeconds: s((r) => r.floorSeconds),
    overheadSeconds: s((r) => r.recoverSeconds - r.floorSeconds),
    overheadRatio: s((r) => r.overheadRatio),
    spread: {
      max: s((r) => r.spread.max),
      min: s((r) => r.spread.min),
      perRun: runs.map((r) => r.spread.perHost),
    },
    failed: all.reduce((n, r) => n + r.failed, 0),
    perInstance: perInstanceCounts(runs),
    loadAverage: runs.map((r) => r.loadAverage),
  };
}
export type EvacuationFigures = ReturnType<typeof aggregateEvacuations>;

export function perInstanceCounts(runs: readonly EvacuationRunResult[]) {
  const s = (f: (r: EvacuationRunResult) => number) => summarize(runs.map((r) => f(r) / r.n));
  return {
    stateTransitions: s((r) => r.totals.stateTransitions),
    lambdaInvocations: s((r) => r.totals.lambdaInvocations),
    lambdaSeconds: s((r) => r.totals.lambdaSeconds),
    ssmCommands: s((r) => r.totals.ssmCommands),
    ssmGetCommandInvocation: s((r) => r.ssmOperations.GetCommandInvocation ?? 0),
    dynamoWrites: s((r) => r.totals.dynamoWriteItems),
    dynamoWriteUnits: s((r) => r.totals.dynamoWriteUnits),
    dynamoReadCalls: s((r) => r.totals.dynamoReadCalls),
    eventBridgeEvents: s((r) => r.totals.eventBridgeEvents),
    /** The part that names one instance (its own rebuild): the rest is the host-level work, shared. */
    own: {
      stateTransitions: s((r) => r.attributable.stateTransitions),
      lambdaInvocations: s((r) => r.attributable.lambdaInvocations),
      ssmCommands: s((r) => r.attributable.ssmCommands),
      dynamoWrites: s((r) => r.attributable.dynamoWriteItems),
    },
  };
}

/** Breakdowns (per function, table, command kind) per instance, from one run. */
export function breakdownPerInstance(run: EvacuationRunResult) {
  const per = (o: Record<string, number>) =>
    Object.fromEntries(
      Object.entries(o)
        .sort((a, b) => b[1] - a[1])
        .map(([k, v]) => [k, round(v / run.n, 3)]),
    );
  return {
    n: run.n,
    lambdaByFunction: per(run.lambdaByFunction),
    dynamoWritesByTable: per(run.dynamoWritesByTable),
    ssmCommandsByKind: per(run.ssmCommandsByComment),
    ssmOperations: per(run.ssmOperations),
  };
}

/** The deployed detection settings (README, cdk/lazarus.config.json) and what they cost per host-month. */
export function detectionCost(emfLineBytes: number) {
  const deployed: DetectionSettings = {
    heartbeatIntervalSeconds: 5,
    transport: "emf",
    emfLineBytes,
    logRetentionDays: 30,
    leaseWritesPerHeartbeat: 0,
  };
  const viaPutMetricData: DetectionSettings = {
    ...deployed,
    heartbeatIntervalSeconds: 10,
    transport: "put-metric-data",
  };
  const localDemo: DetectionSettings = {
    ...deployed,
    heartbeatIntervalSeconds: 1,
    transport: "put-metric-data",
    leaseWritesPerHeartbeat: 1,
  };
  const r = (x: ReturnType<typeof detectionCostPerHostMonth>) => roundAll(x, 4);
  return {
    deployed: { settings: deployed, usd: r(detectionCostPerHostMonth(deployed)) },
    putMetricDataEvery10s: {
      settings: viaPutMetricData,
      usd: r(detectionCostPerHostMonth(viaPutMetricData)),
    },
    localCloudSettings: { settings: localDemo, usd: r(detectionCostPerHostMonth(localDemo)) },
  };
}

export function costFigures(runs: readonly EvacuationRunResult[]) {
  const per = perInstanceCounts(runs);
  const medians: EvacuationCounts = {
    stateTransitions: per.stateTransitions.median,
    lambdaInvocations: per.lambdaInvocations.median,
    lambdaSeconds: per.lambdaSeconds.median,
    ssmCommands: per.ssmCommands.median,
    dynamoWriteUnits: per.dynamoWriteUnits.median,
    dynamoReadCalls: per.dynamoReadCalls.median,
    eventBridgeEvents: per.eventBridgeEvents.median,
  };
  const price = priceOf(medians);
  return {
    stateTransitionsPerInstance: per.stateTransitions,
    lambdaInvocationsPerInstance: per.lambdaInvocations,
    ssmCommandsPerInstance: per.ssmCommands,
    dynamoWritesPerInstance: per.dynamoWrites,
    dynamoWriteUnitsPerInstance: per.dynamoWriteUnits,
    dynamoReadCallsPerInstance: per.dynamoReadCalls,
    eventBridgeEventsPerInstance: per.eventBridgeEvents,
    lambdaSecondsPerInstance: per.lambdaSeconds,
    ownPerInstance: per.own,
    priceUSDPerInstance: roundAll(price, 8),
    pricePerThousandInstancesUSD: round(price.total * 1000, 4),
    prices: PRICES,
  };
}

export interface Target {
  name: string;
  target: string;
  measured: string;
  met: boolean | null;
}

const m = (s: Summary | undefined) => s?.median ?? Number.NaN;

export function issue23Targets(f: {
  evacuation: Record<string, EvacuationFigures>;
  atLatency: Record<string, EvacuationFigures>;
  growthOverheadRatio16to4: number;
  cost: ReturnType<typeof costFigures>;
}): Target[] {
  const e16 = f.evacuation["16"];
  const l16 = f.atLatency["16"];
  const t = (name: string, target: string, value: number, ok: (v: number) => boolean, unit = ""): Target => ({
    name,
    target,
    measured: Number.isFinite(value) ? `${round(value, 2)}${unit}` : "not measured",
    met: Number.isFinite(value) ? ok(value) : null,
  });
  return [
    t("N=16 recovery / floor", "<= 1.5x", m(e16?.overheadRatio), (v) => v <= 1.5, "x"),
    t("overhead growth N=4 -> 16", "<= 2x", f.growthOverheadRatio16to4, (v) => v <= 2, "x"),
    t("SSM commands per VM", "<= 4", m(f.cost.ssmCommandsPerInstance), (v) => v <= 4),
    t("state transitions per VM", "<= 25", m(f.cost.stateTransitionsPerInstance), (v) => v <= 25),
    t("DynamoDB writes per VM", "<= 12", m(f.cost.dynamoWritesPerInstance), (v) => v <= 12),
    t("N=16 recovery at 1 s SSM latency", "< 30 s", m(l16?.recoverSeconds), (v) => v < 30, " s"),
    t(
      "N=16 death -> all running (0 s latency)",
      "< 60 s",
      m(e16?.deathToAllRunningSeconds),
      (v) => v < 60,
      " s",
    ),
    t(
      "N=16 death -> all running (1 s latency)",
      "< 60 s",
      m(l16?.deathToAllRunningSeconds),
      (v) => v < 60,
      " s",
    ),
  ];
}

/** (recover - floor) at N=16 over the same at N=4, from medians. */
export function growthRatio(e4: EvacuationFigures | undefined, e16: EvacuationFigures | undefined): number {
  if (!e4 || !e16) return Number.NaN;
  return round(median(e16.overheadSeconds.runs) / median(e4.overheadSeconds.runs), 3);
}
