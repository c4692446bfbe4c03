/**
 * The notifier and the host alerts publish through the local EventBridge endpoint with the real SDK; an
 * entry EventBridge refuses (200 with FailedEntryCount) is an error, never a silent loss.
 */

import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type EventsEndpoint, startEventsEndpoint } from "#local/events/events-endpoint.js";
import { ALERTS } from "#shared/definitions/paging.js";
import { EventBridgeHostAlerts } from "#shared/notifications/host-alerts.js";
import { EventBridgeNotifier } from "#shared/notifications/notifier.js";

let endpoint: EventsEndpoint;
let client: EventBridgeClient;
beforeAll(async () => {
  endpoint = await startEventsEndpoint();
  client = new EventBridgeClient({
    endpoint: endpoint.url,
    region: "us-east-1",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
    maxAttempts: 1,
  });
});
afterAll(async () => {
  client.destroy();
  await endpoint.close();
});

describe("EventBridge publishers", () => {
  it("publish nova-shaped notifications and host alerts; a refused entry throws", async () => {
    const notifier = new EventBridgeNotifier(client, "lazarus");
    const alerts = new EventBridgeHostAlerts(client, "lazarus");
    await notifier.publish({
      id: "n-1",
      eventType: "instance.rebuild.end",
      instanceUuid: "0f0e0d0c-0000-4000-8000-000000000001",
      payload: { host: "kvm-2" },
    });
    await alerts.alert({
      kind: ALERTS.massFailureHeld,
      hosts: ["kvm-1", "kvm-2"],
      summary: "kvm-1 and kvm-2 look dead at once",
      detail: { share: 0.5 },
    });
    expect(endpoint.events.map((e) => [e.detailType, e.resources, e.detailObject])).toEqual([
      [
        "instance.rebuild.end",
        ["0f0e0d0c-0000-4000-8000-000000000001"],
        {
          message_id: "n-1",
          event_type: "instance.rebuild.end",
          instance_uuid: "0f0e0d0c-0000-4000-8000-000000000001",
          payload: { host: "kvm-2" },
        },
      ],
      [
        "Lazarus Mass Host Failure",
        ["kvm-1", "kvm-2"],
        {
          summary: "kvm-1 and kvm-2 look dead at once",
          hosts: ["kvm-1", "kvm-2"],
          whatToDo: ALERTS.massFailureHeld.whatToDo,
          share: 0.5,
        },
      ],
    ]);

    endpoint.refuseEntries(() => true);
    try {
      await expect(
        notifier.publish({ id: "n-2", eventType: "instance.rebuild.start", instanceUuid: "u", payload: {} }),
      ).rejects.toThrow("notification instance.rebuild.start refused: InternalFailure");
      await expect(
        alerts.alert({ kind: ALERTS.fencingRequired, hosts: ["kvm-1"], summary: "s", detail: {} }),
      ).rejects.toThrow("host alert Lazarus Fencing Required refused: InternalFailure");
    } finally {
      endpoint.refuseEntries(null);
    }
    expect(endpoint.events).toHaveLength(2);
  });
});
