import { EventBridgeClient, PutEventsCommand } from "@aws-sdk/client-eventbridge";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type EventsEndpoint,
  type RecordedEvent,
  startEventsEndpoint,
} from "#local/events/events-endpoint.js";
import { CREDENTIALS, REGION } from "./support.js";

let endpoint: EventsEndpoint;
const ENV_KEYS = ["AWS_ENDPOINT_URL_EVENTBRIDGE"] as const;
const previousEnv = Object.fromEntries(ENV_KEYS.map((k) => [k, process.env[k]]));

beforeAll(async () => {
  endpoint = await startEventsEndpoint();
  process.env.AWS_ENDPOINT_URL_EVENTBRIDGE = endpoint.url;
});
afterAll(async () => {
  for (const key of ENV_KEYS) {
    if (previousEnv[key] === undefined) delete process.env[key];
    else process.env[key] = previousEnv[key];
  }
  await endpoint.close();
});

describe("EventBridge endpoint", () => {
  it("records PutEvents from the real SDK client configured by AWS_ENDPOINT_URL_EVENTBRIDGE", async () => {
    const client = new EventBridgeClient({ region: REGION, credentials: CREDENTIALS, maxAttempts: 1 });
    const live: RecordedEvent[] = [];
    const unsubscribe = endpoint.onEvent((e) => live.push(e));
    try {
      const time = new Date("2026-11-25T10:00:00.000Z");
      const out = await client.send(
        new PutEventsCommand({
          Entries: [
            {
              Source: "lazarus.rebuild",
              DetailType: "RebuildSucceeded",
              Detail: JSON.stringify({ instanceId: "vm-1", host: "kvm-2" }),
              EventBusName: "lazarus",
              Resources: ["arn:aws:states:us-east-1:000000000000:execution:rebuild:x"],
              Time: time,
            },
            { Source: "lazarus.rebuild", DetailType: "RebuildFailed", Detail: "not json" },
          ],
        }),
      );
      expect(out.FailedEntryCount).toBe(1);
      expect(out.Entries?.[0]?.EventId).toMatch(/^[0-9a-f-]{36}$/);
      expect(out.Entries?.[1]).toMatchObject({ ErrorCode: "MalformedDetail" });

      expect(endpoint.events).toHaveLength(1);
      const [recorded] = endpoint.events;
      expect(recorded).toMatchObject({
        eventId: out.Entries?.[0]?.EventId,
        eventBusName: "lazarus",
        source: "lazarus.rebuild",
        detailType: "RebuildSucceeded",
        detailObject: { instanceId: "vm-1", host: "kvm-2" },
        resources: ["arn:aws:states:us-east-1:000000000000:execution:rebuild:x"],
      });
      expect(recorded!.time.toISOString()).toBe(time.toISOString());
      expect(live).toEqual(endpoint.events);

      const ok = await client.send(
        new PutEventsCommand({ Entries: [{ Source: "s", DetailType: "d", Detail: "{}" }] }),
      );
      expect(ok).toMatchObject({ FailedEntryCount: 0 });
      expect(endpoint.events.at(-1)?.eventBusName).toBe("default");
      expect(live).toHaveLength(2);
    } finally {
      unsubscribe();
      client.destroy();
    }
  });
});
