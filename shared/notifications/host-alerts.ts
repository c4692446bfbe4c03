/**
 * Operator alerts of the host-failure and instance-failure flows (not nova notifications: they need a
 * person): EventBridge events with source `lazarus.hosts` on the Lazarus bus, one detail-type per kind
 * (shared/definitions/paging.ts ALERTS), which the page rules send to the page topic. The detail names the
 * hosts, says in one sentence what happened (`summary`) and what to do (`whatToDo`).
 */
import type { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { ALERT_SOURCE, type AlertKind } from "../definitions/paging.js";
import { putEvent } from "./put-event.js";

export const HOST_ALERT_SOURCE = ALERT_SOURCE;

export interface HostAlert {
  /** Which kind (ALERTS of shared/definitions/paging.ts): the event's detail-type and what to do. */
  kind: AlertKind;
  /** The hosts it concerns (the event's resources). */
  hosts: string[];
  /** One sentence naming the host and what happened: what the page shows first. */
  summary: string;
  detail: Record<string, unknown>;
}

export interface HostAlerts {
  alert(alert: HostAlert): Promise<void>;
}

/**
 * An alert that must not stop the flow that raises it (an evacuation goes on whether or not its page was
 * accepted): the error's text when EventBridge refused it, else null. The flow keeps the text in its state.
 */
export async function alertBestEffort(alerts: HostAlerts, alert: HostAlert): Promise<string | null> {
  try {
    await alerts.alert(alert);
    return null;
  } catch (e) {
    return `${alert.kind.detailType} not published: ${e instanceof Error ? e.message : String(e)}`;
  }
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
        DetailType: a.kind.detailType,
        Resources: a.hosts,
        Detail: JSON.stringify({
          summary: a.summary,
          hosts: a.hosts,
          whatToDo: a.kind.whatToDo,
          ...a.detail,
        }),
        EventBusName: this.eventBusName,
      },
      `host alert ${a.kind.detailType}`,
    );
  }
}
