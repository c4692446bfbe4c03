/**
 * A host's alarm in CloudWatch, created when the host is registered and deleted when it is deregistered
 * (no redeploy): its heartbeat alarm (shared/definitions/heartbeat.ts `heartbeatAlarm`, whose ALARM starts
 * host-evacuation). It is the host's only alarm: the instance monitor's health rides in the heartbeat line
 * and is reported by event (shared/definitions/instance-failure.ts), at no standing cost. The local cloud's
 * seeded hosts get theirs through the same adapter.
 */
import {
  type CloudWatchClient,
  DeleteAlarmsCommand,
  PutMetricAlarmCommand,
  SetAlarmStateCommand,
} from "@aws-sdk/client-cloudwatch";
import { type HeartbeatAlarmOptions, heartbeatAlarm } from "../definitions/heartbeat.js";

export interface HostAlarms {
  /** Creates (or updates) the host's alarms; returns their names. */
  put(host: string): Promise<string[]>;
  /** Deletes the host's alarms (absent ones are no error); returns their names. */
  remove(host: string): Promise<string[]>;
}

/**
 * A host's alarm told what the control plane proved: ALARM for a host proven dead before the alarm fired (a
 * peer's report opened its incident). CloudWatch keeps it there while the heartbeats stay missing and turns
 * it OK by its own evaluation when they come back: the OK event starts host-recovery, as after any alarm.
 */
export interface HostAlarmState {
  markDead(host: string, reason: string): Promise<void>;
}

export interface HostAlarmSettings extends HeartbeatAlarmOptions {
  /** The deployment prefix (`<prefix>-heartbeat-<host>`). */
  prefix?: string;
}

export class CloudWatchHostAlarms implements HostAlarms, HostAlarmState {
  constructor(
    private readonly client: CloudWatchClient,
    private readonly settings: HostAlarmSettings = {},
  ) {}

  private definitions(host: string) {
    const prefix = this.settings.prefix ?? "lazarus";
    return [heartbeatAlarm(host, this.settings, prefix)];
  }

  async put(host: string): Promise<string[]> {
    const alarms = this.definitions(host);
    for (const alarm of alarms) await this.client.send(new PutMetricAlarmCommand(alarm));
    return alarms.map((a) => a.AlarmName);
  }

  async markDead(host: string, reason: string): Promise<void> {
    for (const a of this.definitions(host))
      await this.client.send(
        new SetAlarmStateCommand({
          AlarmName: a.AlarmName,
          StateValue: "ALARM",
          StateReason: reason.slice(0, 1023),
        }),
      );
  }

  async remove(host: string): Promise<string[]> {
    const names = this.definitions(host).map((a) => a.AlarmName);
    await this.client.send(new DeleteAlarmsCommand({ AlarmNames: names }));
    return names;
  }
}
