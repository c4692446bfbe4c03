/**
 * A host's alarms in CloudWatch, created when the host is registered and deleted when it is deregistered
 * (no redeploy): its heartbeat alarm (shared/definitions/heartbeat.ts `heartbeatAlarm`, whose ALARM starts
 * host-evacuation) and its instance monitor's (`instanceMonitorAlarm`, for the operator only). The local
 * cloud's seeded hosts get theirs through the same adapter.
 */
import {
  type CloudWatchClient,
  DeleteAlarmsCommand,
  PutMetricAlarmCommand,
} from "@aws-sdk/client-cloudwatch";
import { type HeartbeatAlarmOptions, heartbeatAlarm } from "../definitions/heartbeat.js";
import { instanceMonitorAlarm } from "../definitions/instance-failure.js";
import { positiveFromEnv } from "../lambda/env.js";

export interface HostAlarms {
  /** Creates (or updates) the host's alarms; returns their names. */
  put(host: string): Promise<string[]>;
  /** Deletes the host's alarms (absent ones are no error); returns their names. */
  remove(host: string): Promise<string[]>;
}

export interface HostAlarmSettings extends HeartbeatAlarmOptions {
  /** The deployment prefix (`<prefix>-heartbeat-<host>`). */
  prefix?: string;
}

/**
 * The alarm settings of a deployment, from the inventory function's environment: LAZARUS_TABLE_PREFIX
 * (the deployment prefix), LAZARUS_HEARTBEAT_ALARM_PERIOD_SECONDS (default 10) and
 * LAZARUS_HEARTBEAT_MISSED_PERIODS (silent periods before ALARM, default 3).
 */
export function hostAlarmSettingsFromEnv(env: NodeJS.ProcessEnv): HostAlarmSettings {
  return {
    prefix: env.LAZARUS_TABLE_PREFIX || "lazarus",
    periodSeconds: positiveFromEnv(env.LAZARUS_HEARTBEAT_ALARM_PERIOD_SECONDS, 10),
    evaluationPeriods: positiveFromEnv(env.LAZARUS_HEARTBEAT_MISSED_PERIODS, 3),
  };
}

export class CloudWatchHostAlarms implements HostAlarms {
  constructor(
    private readonly client: CloudWatchClient,
    private readonly settings: HostAlarmSettings = {},
  ) {}

  private definitions(host: string) {
    const prefix = this.settings.prefix ?? "lazarus";
    return [heartbeatAlarm(host, this.settings, prefix), instanceMonitorAlarm(host, this.settings, prefix)];
  }

  async put(host: string): Promise<string[]> {
    const alarms = this.definitions(host);
    for (const alarm of alarms) await this.client.send(new PutMetricAlarmCommand(alarm));
    return alarms.map((a) => a.AlarmName);
  }

  async remove(host: string): Promise<string[]> {
    const names = this.definitions(host).map((a) => a.AlarmName);
    await this.client.send(new DeleteAlarmsCommand({ AlarmNames: names }));
    return names;
  }
}
