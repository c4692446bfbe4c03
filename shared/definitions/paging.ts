/**
 * Paging: what wakes an operator, as data. Two kinds of page reach the page topic (`<prefix>-page`, SNS,
 * subscriptions from the stack's configuration):
 *  - operator alerts: events the flows put on the Lazarus bus (source `lazarus.hosts`) when something needs
 *    a person (a held mass failure, an incomplete or failed host evacuation, instances waiting "fencing
 *    required", an instance recovery given up). A rule per kind sends the event itself to the topic: its
 *    detail names the host and says what to do (`summary`).
 *  - alarms: CloudWatch alarms whose state changes the topic gets (AlarmActions/OKActions): one per alert
 *    kind, on EventBridge's own count of the events its rule matched (`AWS/Events MatchedEvents`), so the
 *    console shows which condition is on; and the Lambdas' errors and throttles, the API's 5xx, the
 *    async-failures queue, timed-out host flows.
 * The CDK stack deploys these (cdk/paging.ts); the local cloud installs the same rules and alarms on its
 * EventBridge and CloudWatch endpoints, whose pages reach its SNS endpoint (local/sns).
 */

import { type EventBusKind, type EventPattern, notificationBusName } from "./events.js";
import type { FunctionSpec } from "./functions.js";

/** The source of every operator alert (shared/notifications/host-alerts.ts puts them). */
export const ALERT_SOURCE = "lazarus.hosts";

/** `<prefix>-page`: the SNS topic every page goes to. */
export function pageTopicName(prefix: string): string {
  return `${prefix}-page`;
}

/** The page topic's ARN in an account and region (the local cloud's defaults). */
export function pageTopicArn(prefix: string, region = "us-east-1", account = "000000000000"): string {
  return `arn:aws:sns:${region}:${account}:${pageTopicName(prefix)}`;
}

/** One kind of operator alert: the event's detail-type, and what the on-call engineer reads and does. */
export interface AlertKind {
  /** The page rule's id (`<prefix>-page-<id>`) and its alarm's (`<prefix>-<id>`). */
  id: string;
  detailType: string;
  /** The alarm's description: what happened and what to do (the event's detail names the host). */
  whatToDo: string;
}

export const ALERTS = {
  massFailureHeld: {
    id: "mass-failure-held",
    detailType: "Lazarus Mass Host Failure",
    whatToDo:
      "More than the allowed share of the fleet looked dead at once, so Lazarus evacuated none of them (the " +
      "network, SSM or CloudWatch is the likelier cause). The page names every suspect host. Check their " +
      "heartbeats and the SSM agents; for a host you know is dead, evacuate it by hand (lazarus host-evacuate HOST).",
  },
  evacuationIncomplete: {
    id: "host-evacuation-incomplete",
    detailType: "Lazarus Host Evacuation Incomplete",
    whatToDo:
      "A dead host's evacuation ended with instances not started elsewhere (no room, an error, or no proof of " +
      "the host's death). The page names the host and each instance with its reason. Free capacity or fix the " +
      "cause, then evacuate those instances by hand (lazarus evacuate SERVER); they are in ERROR or 'fencing required'.",
  },
  evacuationFailed: {
    id: "host-evacuation-failed",
    detailType: "Lazarus Host Evacuation Failed",
    whatToDo:
      "A host evacuation stopped on an error before it finished (its incident is aborted; the host stays " +
      "disabled if it was). The page names the host, the step and the error. Read the execution's history, fix " +
      "the cause, then start the evacuation again (lazarus host-evacuate HOST).",
  },
  fencingRequired: {
    id: "fencing-required",
    detailType: "Lazarus Fencing Required",
    whatToDo:
      "Instances of a silent host wait 'fencing required': nothing proves the host dead (no power fence, no " +
      "watchdog lease, no disk lock), so they are not started elsewhere, never twice. The page names the host " +
      "and the instances. Power the host off (or make sure it is), then evacuate them (lazarus evacuate SERVER).",
  },
  silentHost: {
    id: "host-silent-but-answering",
    detailType: "Lazarus Host Silent But Answering",
    whatToDo:
      "A host's heartbeats stopped reaching CloudWatch, yet it answers SSM: it is not evacuated, and nothing new " +
      "is placed on it. Lazarus keeps probing it every minute for six hours and evacuates it if it stops " +
      "answering. If its watchdog is armed it resets itself once its lease runs out (it is fed only after an " +
      "accepted heartbeat). Fix the heartbeat path (`lazarus-host status` on the host: the agent, its CloudWatch " +
      "Logs endpoint, its credentials), or drain the host (lazarus host-drain HOST).",
  },
  recoveryGivenUp: {
    id: "instance-recovery-given-up",
    detailType: "Lazarus Instance Recovery Given Up",
    whatToDo:
      "A guest that kept crashing was restarted and relocated as often as its policy allows and is now in " +
      "ERROR. The page names the instance, its host and what was tried. Look at the guest's console log and " +
      "the host; rebuild or start the instance once the cause is fixed.",
  },
} as const satisfies Record<string, AlertKind>;

export type AlertKindId = keyof typeof ALERTS;

/** A rule that sends operator alerts of one kind to the page topic. */
export interface PageRule {
  id: string;
  description: string;
  bus: EventBusKind;
  eventPattern: EventPattern;
}

export const PAGE_RULES: readonly PageRule[] = Object.values(ALERTS).map((a) => ({
  id: `page-${a.id}`,
  description: `Page: ${a.detailType}`,
  bus: "lazarus" as const,
  eventPattern: { source: [ALERT_SOURCE], "detail-type": [a.detailType] },
}));

/** A CloudWatch metric alarm as PutMetricAlarm takes it (the CDK renders the same fields). */
export interface PagingAlarm {
  /** `<prefix>-<id>`. */
  id: string;
  description: string;
  namespace: string;
  metricName: string;
  dimensions: Record<string, string>;
  statistic: "Sum" | "Maximum";
  periodSeconds: number;
  evaluationPeriods: number;
  threshold: number;
  comparison: "GreaterThanOrEqualToThreshold";
  treatMissingData: "notBreaching";
}

const countAlarm = (
  id: string,
  description: string,
  metric: Pick<PagingAlarm, "namespace" | "metricName" | "dimensions">,
  statistic: PagingAlarm["statistic"] = "Sum",
): PagingAlarm => ({
  id,
  description,
  ...metric,
  statistic,
  periodSeconds: 60,
  evaluationPeriods: 1,
  threshold: 1,
  comparison: "GreaterThanOrEqualToThreshold",
  treatMissingData: "notBreaching",
});

/** The functions whose errors no state machine catches: the API, triggers, timers, invoked ones. */
export const entryFunctions = (functions: readonly FunctionSpec[]) =>
  functions.filter((f) => f.role !== "step");

/**
 * The PutMetricAlarm input of a paging alarm, notifying `actions` when it enters ALARM (not on OK: a new
 * alarm goes OK at once, and the page's event says what recovered). The local cloud puts exactly this.
 */
export function pagingAlarmInput(alarm: PagingAlarm, actions: readonly string[]) {
  return {
    AlarmName: alarm.id,
    AlarmDescription: alarm.description,
    Namespace: alarm.namespace,
    MetricName: alarm.metricName,
    Dimensions: Object.entries(alarm.dimensions).map(([Name, Value]) => ({ Name, Value })),
    Statistic: alarm.statistic,
    Period: alarm.periodSeconds,
    EvaluationPeriods: alarm.evaluationPeriods,
    Threshold: alarm.threshold,
    ComparisonOperator: alarm.comparison,
    TreatMissingData: alarm.treatMissingData,
    ActionsEnabled: true,
    AlarmActions: [...actions],
  };
}

/** Every paging alarm of a deployment (named `<prefix>-<id>`). */
export function pagingAlarms(
  prefix: string,
  functions: readonly FunctionSpec[],
  machines: { hostEvacuationArn: string; hostRecoveryArn: string; apiName: string | null },
): PagingAlarm[] {
  const alarms: PagingAlarm[] = Object.values(ALERTS).map((a) =>
    countAlarm(a.id, `Lazarus: ${a.detailType}. ${a.whatToDo}`, {
      namespace: "AWS/Events",
      metricName: "MatchedEvents",
      // A rule on a custom bus is measured with both dimensions.
      dimensions: { EventBusName: notificationBusName(prefix), RuleName: `${prefix}-page-${a.id}` },
    }),
  );
  for (const f of entryFunctions(functions)) {
    const name = `${prefix}-${f.id}`;
    alarms.push(
      countAlarm(
        `${f.id}-errors`,
        `Lazarus: function ${name} failed. Its errors reach no state machine's Catch: read its log group ` +
          `/aws/lambda/${name} for the error (and, for a trigger or a timer, the message in the async-failures queue).`,
        { namespace: "AWS/Lambda", metricName: "Errors", dimensions: { FunctionName: name } },
      ),
      countAlarm(
        `${f.id}-throttles`,
        `Lazarus: function ${name} was throttled (the account's or its own concurrency limit). Raise the ` +
          "limit (Service Quotas) or find what floods it.",
        { namespace: "AWS/Lambda", metricName: "Throttles", dimensions: { FunctionName: name } },
      ),
    );
  }
  alarms.push(
    countAlarm(
      "async-failures",
      "Lazarus: a host-failure event, a guest's crash report or a timer run was not handled, even after retries. " +
        `Read the message in the queue ${prefix}-async-failures (the event, the error, the attempts); handle ` +
        "what it names (e.g. evacuate the host by hand), then delete the message.",
      {
        namespace: "AWS/SQS",
        metricName: "ApproximateNumberOfMessagesVisible",
        dimensions: { QueueName: `${prefix}-async-failures` },
      },
      "Maximum",
    ),
    countAlarm(
      "host-evacuation-timed-out",
      "Lazarus: a host evacuation ran past its TimeoutSeconds and was stopped; its incident is still open. " +
        "Read the execution's history, evacuate what is left by hand, and close the incident.",
      {
        namespace: "AWS/States",
        metricName: "ExecutionsTimedOut",
        dimensions: { StateMachineArn: machines.hostEvacuationArn },
      },
    ),
    countAlarm(
      "host-recovery-timed-out",
      "Lazarus: a returning host's recovery ran past its TimeoutSeconds; stale copies may be left on it. Run " +
        "its recovery again, or remove the domains whose instances live elsewhere, before enabling it.",
      {
        namespace: "AWS/States",
        metricName: "ExecutionsTimedOut",
        dimensions: { StateMachineArn: machines.hostRecoveryArn },
      },
    ),
  );
  if (machines.apiName) {
    alarms.push(
      countAlarm(
        "api-5xx",
        "Lazarus: the API answered 5xx (an error of the API function or of a service behind it). Read the " +
          `log group /aws/lambda/${prefix}-api and the API's access log.`,
        { namespace: "AWS/ApiGateway", metricName: "5XXError", dimensions: { ApiName: machines.apiName } },
      ),
    );
  }
  return alarms.map((a) => ({ ...a, id: `${prefix}-${a.id}` }));
}
