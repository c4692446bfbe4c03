/**
 * Operator alerts of the host-failure flows (not nova notifications: they concern hosts, not instances):
 * EventBridge events with source `lazarus.hosts`, which an operator routes to SNS, chat or a pager.
 */
import type { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { putEvent } from "./put-event.js";

export const HOST_ALERT_SOURCE = "lazarus.hosts";

export interface HostAlert {
  /** The event's detail-type, e.g. "Lazarus Mass Host Failure". */
  kind: string;
  /** The hosts it concerns (the event's resources). */
  hosts: string[];
  detail: Record<string, unknown>;
}

export interface HostAlerts {
  alert(alert: HostAlert): Promise<void>;
}

export class EventBridgeHostAlerts implements HostAlerts {
  constructor(
    private readonly client: EventBridgeClient,
    private readonly eventBusName: string,
  ) {}

  async alert(a: HostAlert): Promise<void> {
    await putEvent(
      this.client,
      {
        Source: HOST_ALERT_SOURCE,
        DetailType: a.kind,
        Resources: a.hosts,
        Detail: JSON.stringify({ hosts: a.hosts, ...a.detail }),
        EventBusName: this.eventBusName,
      },
      `host alert ${a.kind}`,
    );
  }
}
