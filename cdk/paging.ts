/**
 * Who is told, and what they see: the page topic with the configuration's subscriptions, every paging
 * alarm of shared/definitions/paging.ts notifying it (the local cloud installs the same alarms), and a
 * dashboard of the fleet. The operator alerts reach the topic through their rules (cdk/rules.ts).
 */
import { Duration, Stack } from "aws-cdk-lib";
import {
  Alarm,
  AlarmStatusWidget,
  CfnAlarm,
  Dashboard,
  GraphWidget,
  MathExpression,
  Metric,
  TextWidget,
} from "aws-cdk-lib/aws-cloudwatch";
import { Effect, PolicyStatement, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import { Subscription, SubscriptionProtocol, Topic } from "aws-cdk-lib/aws-sns";
import { Construct } from "constructs";
import { notificationBusName } from "#shared/definitions/events.js";
import type { FunctionSpec } from "#shared/definitions/functions.js";
import { HEARTBEAT_METRIC } from "#shared/definitions/heartbeat.js";
import { ALERTS, pageTopicName, pagingAlarmInput, pagingAlarms } from "#shared/definitions/paging.js";
import { STEP_METRICS } from "#shared/definitions/step-metrics.js";
import type { LazarusConfig } from "./config.js";

const PROTOCOLS = {
  email: SubscriptionProtocol.EMAIL,
  sms: SubscriptionProtocol.SMS,
  https: SubscriptionProtocol.HTTPS,
} as const;

export interface PagingProps {
  config: LazarusConfig;
  functionSpecs: readonly FunctionSpec[];
  hostEvacuationArn: string;
  hostRecoveryArn: string;
  rebuildArn: string;
  /** The REST API's name, when the stack has one. */
  apiName: string | null;
}

export class Paging extends Construct {
  readonly topic: Topic;
  readonly alarms: CfnAlarm[] = [];
  readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: PagingProps) {
    super(scope, id);
    const { prefix } = props.config;
    this.topic = new Topic(this, "topic", { topicName: pageTopicName(prefix), enforceSSL: true });
    // CloudWatch publishes the alarms' notifications: once the topic has a policy (EventBridge's grant), the
    // service needs its own statement, for this account's alarms only.
    this.topic.addToResourcePolicy(
      new PolicyStatement({
        effect: Effect.ALLOW,
        principals: [new ServicePrincipal("cloudwatch.amazonaws.com")],
        actions: ["sns:Publish"],
        resources: [this.topic.topicArn],
        conditions: { StringEquals: { "aws:SourceAccount": Stack.of(this).account } },
      }),
    );
    props.config.paging.subscriptions.forEach((s, i) => {
      new Subscription(this, `subscription-${i}`, {
        topic: this.topic,
        protocol: PROTOCOLS[s.protocol],
        endpoint: s.endpoint,
      });
    });

    for (const alarm of pagingAlarms(prefix, props.functionSpecs, {
      hostEvacuationArn: props.hostEvacuationArn,
      hostRecoveryArn: props.hostRecoveryArn,
      apiName: props.apiName,
    })) {
      const input = pagingAlarmInput(alarm, [this.topic.topicArn]);
      this.alarms.push(
        new CfnAlarm(this, alarm.id, {
          alarmName: input.AlarmName,
          alarmDescription: input.AlarmDescription,
          namespace: input.Namespace,
          metricName: input.MetricName,
          dimensions: input.Dimensions.map((d) => ({ name: d.Name, value: d.Value })),
          statistic: input.Statistic,
          period: input.Period,
          evaluationPeriods: input.EvaluationPeriods,
          threshold: input.Threshold,
          comparisonOperator: input.ComparisonOperator,
          treatMissingData: input.TreatMissingData,
          actionsEnabled: input.ActionsEnabled,
          alarmActions: input.AlarmActions,
        }),
      );
    }

    this.dashboard = new Dashboard(this, "dashboard", {
      dashboardName: `${prefix}-fleet`,
      defaultInterval: Duration.hours(3),
    });
    const busName = notificationBusName(prefix);
    const matched = (ruleName: string, onBus: boolean, label: string) =>
      new Metric({
        namespace: "AWS/Events",
        metricName: "MatchedEvents",
        dimensionsMap: onBus ? { EventBusName: busName, RuleName: ruleName } : { RuleName: ruleName },
        statistic: "Sum",
        period: Duration.minutes(1),
        label,
      });
    const states = (metricName: string, arn: string, label: string) =>
      new Metric({
        namespace: "AWS/States",
        metricName,
        dimensionsMap: { StateMachineArn: arn },
        statistic: "Sum",
        period: Duration.minutes(5),
        label,
      });
    this.dashboard.addWidgets(
      new TextWidget({
        markdown: `# Lazarus fleet (${prefix})\nPages go to SNS topic \`${pageTopicName(prefix)}\`; each alarm's description says what to do.`,
        width: 24,
        height: 2,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: "Hosts down: heartbeat alarms entering ALARM / back OK",
        left: [
          matched(`${prefix}-heartbeat-alarm`, false, "host stopped beating"),
          matched(`${prefix}-heartbeat-ok`, false, "host beats again"),
        ],
        width: 12,
      }),
      new GraphWidget({
        title: "Heartbeats per host (samples per minute; a flat zero is a silent host)",
        left: [
          new MathExpression({
            expression: `SEARCH('{${HEARTBEAT_METRIC.namespace},${HEARTBEAT_METRIC.dimension}} MetricName="${HEARTBEAT_METRIC.metricName}"', 'SampleCount', 60)`,
            label: "",
            period: Duration.minutes(1),
          }),
        ],
        width: 12,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: "Incidents: mass failures held, evacuations incomplete or failed, silent hosts watched",
        left: [
          ALERTS.massFailureHeld,
          ALERTS.evacuationIncomplete,
          ALERTS.evacuationFailed,
          ALERTS.silentHost,
        ].map((a) => matched(`${prefix}-page-${a.id}`, true, a.detailType)),
        width: 8,
      }),
      new GraphWidget({
        title: 'Instances waiting "fencing required", recoveries given up',
        left: [ALERTS.fencingRequired, ALERTS.recoveryGivenUp].map((a) =>
          matched(`${prefix}-page-${a.id}`, true, a.detailType),
        ),
        width: 8,
      }),
      new GraphWidget({
        title: "Host evacuations and rebuilds",
        left: [
          states("ExecutionsStarted", props.hostEvacuationArn, "host evacuations started"),
          states("ExecutionsSucceeded", props.hostEvacuationArn, "host evacuations succeeded"),
          states("ExecutionsFailed", props.hostEvacuationArn, "host evacuations failed or incomplete"),
          states("ExecutionsTimedOut", props.hostEvacuationArn, "host evacuations timed out"),
        ],
        right: [
          states("ExecutionsSucceeded", props.rebuildArn, "rebuilds/evacuations of an instance succeeded"),
          states("ExecutionsFailed", props.rebuildArn, "rebuilds/evacuations of an instance failed"),
        ],
        width: 8,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: "Step failures by step and error (the steps' own metric)",
        left: [
          new MathExpression({
            expression: `SEARCH('{${HEARTBEAT_METRIC.namespace},service,step,errorName} MetricName="${STEP_METRICS.failures}"', 'Sum', 300)`,
            label: "",
            period: Duration.minutes(5),
          }),
        ],
        width: 12,
      }),
      new AlarmStatusWidget({
        title: "Paging alarms",
        alarms: this.alarms.map((a) => Alarm.fromAlarmArn(this, `${a.node.id}-ref`, a.attrArn)),
        width: 12,
        height: 8,
      }),
    );
  }
}
