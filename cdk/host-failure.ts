/**
 * Host-failure detection for the hosts listed in the configuration: one heartbeat alarm per host
 * (high-resolution metric, 10 s period, missing data breaching, so a silent host goes to ALARM). CloudWatch
 * sends every alarm state change to the default bus by itself; the rules that deliver them to the
 * host-failure trigger are shared/definitions/rules.ts's (cdk/rules.ts).
 */
import { Duration } from "aws-cdk-lib";
import { Alarm, ComparisonOperator, Metric, TreatMissingData } from "aws-cdk-lib/aws-cloudwatch";
import { Construct } from "constructs";
import {
  HEARTBEAT_METRIC,
  HEARTBEAT_PERIOD_SECONDS,
  heartbeatAlarmName,
} from "#shared/definitions/heartbeat.js";

export interface HostFailureProps {
  prefix: string;
  hosts: readonly string[];
  missedPeriods: number;
}

export class HostFailure extends Construct {
  readonly alarms: Alarm[] = [];

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
  }
}
