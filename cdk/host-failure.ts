/**
 * Host-failure detection: one heartbeat alarm per configured host (high-resolution metric, 10 s period,
 * missing data breaching, so a silent host goes to ALARM), and the EventBridge rules that deliver the
 * alarms' state changes to the trigger functions: ALARM -> host failure, OK after ALARM -> host recovery.
 * CloudWatch sends every alarm state change to the default bus by itself; no alarm action is needed.
 */
import { Duration } from "aws-cdk-lib";
import { Alarm, ComparisonOperator, Metric, TreatMissingData } from "aws-cdk-lib/aws-cloudwatch";
import { Match, Rule } from "aws-cdk-lib/aws-events";
import { LambdaFunction } from "aws-cdk-lib/aws-events-targets";
import type { IFunction } from "aws-cdk-lib/aws-lambda";
import type { IQueue } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import type { HeartbeatAlarmState } from "#shared/definitions/functions.js";
import {
  HEARTBEAT_METRIC,
  HEARTBEAT_PERIOD_SECONDS,
  heartbeatAlarmName,
  heartbeatAlarmNamePrefix,
} from "#shared/definitions/heartbeat.js";

export interface HostFailureProps {
  prefix: string;
  hosts: readonly string[];
  missedPeriods: number;
  /** Trigger functions and the alarm states each one receives. */
  triggers: readonly { fn: IFunction; alarmStates: readonly HeartbeatAlarmState[] }[];
  deadLetterQueue: IQueue;
}

/** The EventBridge pattern of a heartbeat alarm entering `state` (OK only counts after an ALARM). */
export function alarmStatePattern(prefix: string, state: HeartbeatAlarmState) {
  return {
    source: ["aws.cloudwatch"],
    detailType: ["CloudWatch Alarm State Change"],
    detail: {
      alarmName: Match.prefix(heartbeatAlarmNamePrefix(prefix)),
      state: { value: [state] },
      // INSUFFICIENT_DATA -> OK happens when an alarm is created for a healthy host: not a recovery.
      ...(state === "OK" ? { previousState: { value: ["ALARM"] } } : {}),
    },
  };
}

export class HostFailure extends Construct {
  readonly alarms: Alarm[] = [];
  readonly rules = new Map<HeartbeatAlarmState, Rule>();

  constructor(scope: Construct, id: string, props: HostFailureProps) {
    super(scope, id);
    for (const host of props.hosts) {
      const metric = new Metric({
        namespace: HEARTBEAT_METRIC.namespace,
        metricName: HEARTBEAT_METRIC.metricName,
        dimensionsMap: { [HEARTBEAT_METRIC.dimension]: host },
        statistic: "SampleCount",
        period: Duration.seconds(HEARTBEAT_PERIOD_SECONDS),
      });
      this.alarms.push(
        new Alarm(this, `heartbeat-${host}`, {
          alarmName: heartbeatAlarmName(host, props.prefix),
          alarmDescription: `KVM host ${host} sent no heartbeat for ${props.missedPeriods} x ${HEARTBEAT_PERIOD_SECONDS} s`,
          metric,
          comparisonOperator: ComparisonOperator.LESS_THAN_THRESHOLD,
          threshold: 1,
          evaluationPeriods: props.missedPeriods,
          datapointsToAlarm: props.missedPeriods,
          treatMissingData: TreatMissingData.BREACHING,
        }),
      );
    }

    for (const state of ["ALARM", "OK"] as const) {
      const targets = props.triggers.filter((t) => t.alarmStates.includes(state));
      if (targets.length === 0) continue;
      const rule = new Rule(this, `heartbeat-${state.toLowerCase()}`, {
        ruleName: `${props.prefix}-heartbeat-${state.toLowerCase()}`,
        description:
          state === "ALARM"
            ? "A Lazarus host stopped beating: start its host-failure handling"
            : "A Lazarus host beats again after an alarm: start its recovery",
        eventPattern: alarmStatePattern(props.prefix, state),
      });
      for (const t of targets) {
        // A host failure must not be dropped: EventBridge retries delivery for up to 24 h, then the DLQ.
        rule.addTarget(
          new LambdaFunction(t.fn, {
            deadLetterQueue: props.deadLetterQueue,
            retryAttempts: 185,
            maxEventAge: Duration.hours(24),
          }),
        );
      }
      this.rules.set(state, rule);
    }
  }
}
