/**
 * The EventBridge rules and schedules of shared/definitions/rules.ts, as they are: each rule on its bus
 * with its pattern and its one target (a trigger function, or the page topic), each timer on its function.
 * The local cloud installs the same list (test/unit/cdk/rules.test.ts compares them).
 */
import { Duration } from "aws-cdk-lib";
import { type EventPattern as CdkEventPattern, type IEventBus, Rule, Schedule } from "aws-cdk-lib/aws-events";
import { LambdaFunction, SnsTopic } from "aws-cdk-lib/aws-events-targets";
import type { IFunction } from "aws-cdk-lib/aws-lambda";
import type { ITopic } from "aws-cdk-lib/aws-sns";
import type { IQueue } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import type { EventPattern } from "#shared/definitions/events.js";
import type { FunctionSpec } from "#shared/definitions/functions.js";
import {
  type EventRuleDefinition,
  eventRules,
  type RuleDelivery,
  scheduleRules,
} from "#shared/definitions/rules.js";

/** EventBridge's pattern keys as CDK names them (it writes them back as EventBridge spells them). */
const CDK_PATTERN_KEYS: Record<string, keyof CdkEventPattern> = {
  version: "version",
  id: "id",
  "detail-type": "detailType",
  source: "source",
  account: "account",
  time: "time",
  region: "region",
  resources: "resources",
  detail: "detail",
};

export function cdkEventPattern(pattern: EventPattern): CdkEventPattern {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(pattern)) {
    const cdkKey = CDK_PATTERN_KEYS[key];
    if (!cdkKey) throw new Error(`event pattern key ${key} has no CDK equivalent`);
    out[cdkKey] = value;
  }
  return out as CdkEventPattern;
}

export interface LazarusRulesProps {
  prefix: string;
  functionSpecs: readonly FunctionSpec[];
  functionById: (id: string) => IFunction;
  /** The deployment's own bus (`<prefix>-notifications`): rules whose bus is "lazarus" live on it. */
  eventBus: IEventBus;
  /** The page topic, the target of the page rules. */
  page: ITopic;
  /** Where an event lands when its target could not be reached for `delivery.maxEventAgeSeconds`. */
  deadLetterQueue: IQueue;
}

const deliveryOf = (d: RuleDelivery, deadLetterQueue: IQueue) => ({
  deadLetterQueue,
  retryAttempts: d.retryAttempts,
  maxEventAge: Duration.seconds(d.maxEventAgeSeconds),
});

export class LazarusRules extends Construct {
  /** By deployed rule name. */
  readonly byName = new Map<string, Rule>();
  /** The definitions deployed (for tests and outputs). */
  readonly definitions: EventRuleDefinition[];

  constructor(scope: Construct, id: string, props: LazarusRulesProps) {
    super(scope, id);
    this.definitions = eventRules(props.prefix, props.functionSpecs);
    for (const r of this.definitions) {
      const delivery = deliveryOf(r.delivery, props.deadLetterQueue);
      const rule = new Rule(this, r.name, {
        ruleName: r.name,
        description: r.description,
        ...(r.bus === "lazarus" ? { eventBus: props.eventBus } : {}),
        eventPattern: cdkEventPattern(r.eventPattern),
        targets: [
          r.target.kind === "function"
            ? new LambdaFunction(props.functionById(r.target.functionId), delivery)
            : new SnsTopic(props.page, delivery),
        ],
      });
      this.byName.set(r.name, rule);
    }
    for (const s of scheduleRules(props.prefix, props.functionSpecs)) {
      const rule = new Rule(this, s.name, {
        ruleName: s.name,
        description: s.description,
        schedule: Schedule.expression(s.schedule),
        targets: [
          new LambdaFunction(props.functionById(s.functionId), deliveryOf(s.delivery, props.deadLetterQueue)),
        ],
      });
      this.byName.set(s.name, rule);
    }
  }
}
