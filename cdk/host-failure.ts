/**
 * Host-failure detection's part of the stack: the log group the hosts' agents send their heartbeats to, as
 * embedded-metric-format lines (`/<prefix>/host-heartbeats`, one stream per host and part: CloudWatch
 * extracts the `Lazarus/Heartbeat` metric from them). No alarm here: registration creates each host's
 * heartbeat alarm (shared/metrics/host-alarms.ts, `<prefix>-heartbeat-<host>`) with the stack's
 * `heartbeat.missedPeriods`, and deregistration deletes it, with no redeploy. CloudWatch sends every alarm
 * state change to the default bus by itself; the rules that deliver them to the host-failure trigger are
 * shared/definitions/rules.ts's (cdk/rules.ts).
 */
import { RemovalPolicy } from "aws-cdk-lib";
import { LogGroup, type RetentionDays } from "aws-cdk-lib/aws-logs";
import { Construct } from "constructs";
import { heartbeatLogGroupName } from "#shared/definitions/heartbeat.js";

export interface HostFailureProps {
  prefix: string;
  logRetentionDays: number;
}

export class HostFailure extends Construct {
  /** Where the hosts' heartbeats (and their instance monitors' liveness) arrive. */
  readonly heartbeatLogs: LogGroup;

  constructor(scope: Construct, id: string, props: HostFailureProps) {
    super(scope, id);
    this.heartbeatLogs = new LogGroup(this, "heartbeats", {
      logGroupName: heartbeatLogGroupName(props.prefix),
      retention: props.logRetentionDays as RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
  }
}
