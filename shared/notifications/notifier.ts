/**
 * Notifications as nova emits them (`instance.rebuild.start`, `instance.evacuate.end`, ...), through one
 * interface. In AWS and locally they go to EventBridge `PutEvents`; locally the events endpoint records them.
 */
import type { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { putEvent } from "./put-event.js";

export const NOTIFICATION_SOURCE = "lazarus.compute";

export interface Notification {
  /**
   * Deterministic per flow and event (nova's message_id): a consumer drops a second delivery with the
   * same id (a retried step, a republished notification, EventBridge's at-least-once delivery).
   */
  id: string;
  /** nova's event_type, e.g. instance.rebuild.start */
  eventType: string;
  instanceUuid: string;
  payload: Record<string, unknown>;
}

export interface Notifier {
  publish(notification: Notification): Promise<void>;
}

export class EventBridgeNotifier implements Notifier {
  constructor(
    private readonly client: EventBridgeClient,
    private readonly eventBusName: string,
  ) {}

  async publish(n: Notification): Promise<void> {
    await putEvent(
      this.client,
      {
        Source: NOTIFICATION_SOURCE,
        DetailType: n.eventType,
        Resources: [n.instanceUuid],
        Detail: JSON.stringify({
          message_id: n.id,
          event_type: n.eventType,
          instance_uuid: n.instanceUuid,
          payload: n.payload,
        }),
        EventBusName: this.eventBusName,
      },
      `notification ${n.eventType}`,
    );
  }
}
