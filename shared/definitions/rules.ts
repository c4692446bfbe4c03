/**
 * Every EventBridge rule and schedule of Lazarus as data: which events (on which bus) go to which function
 * or to the operators' page, and which function runs on which timer. The CDK stack deploys exactly these
 * (`cdk/rules.ts`) and the local cloud installs exactly these on its EventBridge endpoint and scheduler, so
 * an event is routed the same way in AWS and locally (test/unit/cdk/rules.test.ts compares the two).
 *
 * A trigger function carries its rules (`FunctionSpec.triggers`), a scheduled one its `schedule`, and the
 * page rules are listed in shared/definitions/paging.ts; add one there and both sides pick it up.
 */
import type { EventBusKind, EventPattern } from "./events.js";
import { ALL_FUNCTIONS, type FunctionSpec } from "./functions.js";
import { PAGE_RULES } from "./paging.js";
import { deployedName } from "./state-machines.js";

/** How a rule's target is retried when delivering to it fails, and when an event is given up (to the DLQ). */
export interface RuleDelivery {
  retryAttempts: number;
  maxEventAgeSeconds: number;
}

/** A host failure or a crashed guest must not be dropped: EventBridge retries for 24 h, then the DLQ. */
export const TRIGGER_DELIVERY: RuleDelivery = { retryAttempts: 185, maxEventAgeSeconds: 86_400 };
/** A missed timer run is superseded by the next one: short retries, then the DLQ for the record. */
export const SCHEDULE_DELIVERY: RuleDelivery = { retryAttempts: 2, maxEventAgeSeconds: 600 };
/** A page is retried for a day like a trigger's event: the operator must hear of it. */
export const PAGE_DELIVERY: RuleDelivery = TRIGGER_DELIVERY;

export type RuleTarget = { kind: "function"; functionId: string } | { kind: "page" };

/** A rule as deployed: its name, bus, pattern and one target. */
export interface EventRuleDefinition {
  name: string;
  description: string;
  bus: EventBusKind;
  eventPattern: EventPattern;
  target: RuleTarget;
  delivery: RuleDelivery;
}

export interface ScheduleDefinition {
  name: string;
  description: string;
  /** An EventBridge rate expression. */
  schedule: string;
  functionId: string;
  delivery: RuleDelivery;
}

/** Every event rule of a deployment: the trigger functions' and the page's. */
export function eventRules(
  prefix: string,
  functions: readonly FunctionSpec[] = ALL_FUNCTIONS,
): EventRuleDefinition[] {
  const rules: EventRuleDefinition[] = [];
  for (const f of functions) {
    if (f.role !== "trigger") continue;
    if (!f.triggers?.length) throw new Error(`trigger function ${f.id} has no triggers`);
    for (const t of f.triggers) {
      rules.push({
        name: deployedName(prefix, t.id),
        description: t.description,
        bus: t.bus,
        eventPattern: t.eventPattern(prefix),
        target: { kind: "function", functionId: f.id },
        delivery: TRIGGER_DELIVERY,
      });
    }
  }
  for (const p of PAGE_RULES) {
    rules.push({
      name: deployedName(prefix, p.id),
      description: p.description,
      bus: p.bus,
      eventPattern: p.eventPattern,
      target: { kind: "page" },
      delivery: PAGE_DELIVERY,
    });
  }
  const names = rules.map((r) => r.name);
  const twice = names.filter((n, i) => names.indexOf(n) !== i);
  if (twice.length > 0) throw new Error(`event rules named twice: ${twice.join(", ")}`);
  return rules;
}

/** Every timer of a deployment: one per scheduled function. */
export function scheduleRules(
  prefix: string,
  functions: readonly FunctionSpec[] = ALL_FUNCTIONS,
): ScheduleDefinition[] {
  return functions
    .filter((f) => f.role === "scheduled")
    .map((f) => {
      if (!f.schedule) throw new Error(`scheduled function ${f.id} has no schedule`);
      return {
        name: `${deployedName(prefix, f.id)}-schedule`,
        description: `Runs ${f.id} ${f.schedule}`,
        schedule: f.schedule,
        functionId: f.id,
        delivery: SCHEDULE_DELIVERY,
      };
    });
}

const UNIT_MS: Record<string, number> = {
  minute: 60_000,
  minutes: 60_000,
  hour: 3_600_000,
  hours: 3_600_000,
  day: 86_400_000,
  days: 86_400_000,
};

/** `rate(5 minutes)` -> 300000: the rate expressions EventBridge takes (cron ones are not used here). */
export function rateMs(expression: string): number {
  const m = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(expression);
  const value = Number(m?.[1]);
  // EventBridge wants the singular unit for 1 and the plural for more ("rate(1 minute)", "rate(5 minutes)").
  if (!m || value < 1 || (value === 1) === m[2]!.endsWith("s")) {
    throw new Error(`unsupported schedule expression ${JSON.stringify(expression)}`);
  }
  return value * UNIT_MS[m[2]!]!;
}
