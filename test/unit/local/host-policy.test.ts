/**
 * The local EventBridge holds a host's key to the host role's PutEvents statement (local/iam/host-policy.ts
 * over shared/definitions/host-role.ts), per entry and with EventBridge's error codes, through the real SDK:
 * what the host agent sends passes, anything else a host puts is refused, the control plane is not held to
 * it. (The instance monitor's health events were refused by the deployed role until 2026-12-07; locally no
 * policy was evaluated, so nothing showed it.)
 */
import { EventBridgeClient, PutEventsCommand } from "@aws-sdk/client-eventbridge";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type EventsEndpoint, startEventsEndpoint } from "#local/events/events-endpoint.js";
import { LocalCredentials } from "#local/http/sigv4.js";
import { hostPrincipal } from "#local/iam/host-policy.js";
import { INSTANCE_MONITOR_EVENT } from "#shared/definitions/instance-failure.js";
import { DOMAIN_STOPPED_EVENT } from "#shared/domain/instance-failure.js";

let events: EventsEndpoint;
let host: EventBridgeClient;
let controlPlane: EventBridgeClient;

beforeAll(async () => {
  const credentials = new LocalCredentials();
  events = await startEventsEndpoint({ credentials });
  const key = credentials.issue(hostPrincipal("kvm-07"));
  const client = (accessKeyId: string, secretAccessKey: string) =>
    new EventBridgeClient({
      endpoint: events.url,
      region: "us-east-1",
      credentials: { accessKeyId, secretAccessKey },
      maxAttempts: 1,
    });
  host = client(key.accessKeyId, key.secretAccessKey);
  controlPlane = client("local", "local");
});
afterAll(async () => {
  host?.destroy();
  controlPlane?.destroy();
  await events?.close();
});

const entry = (over: { Source?: string; DetailType?: string; EventBusName?: string } = {}) => ({
  Source: DOMAIN_STOPPED_EVENT.source,
  DetailType: DOMAIN_STOPPED_EVENT.detailType,
  Detail: JSON.stringify({ host: "kvm-07" }),
  ...over,
});

describe("a host's PutEvents, held to the host role", () => {
  it("takes every event the host agent sends: a stopped domain, the instance monitor stopped and running", async () => {
    const before = events.events.length;
    const out = await host.send(
      new PutEventsCommand({
        Entries: [
          entry(),
          entry({ DetailType: INSTANCE_MONITOR_EVENT.detailType.stopped }),
          entry({ DetailType: INSTANCE_MONITOR_EVENT.detailType.running }),
        ],
      }),
    );
    expect(out.FailedEntryCount).toBe(0);
    expect(events.events.length - before).toBe(3);
  });

  it("refuses, entry by entry, another detail type, another source and another bus; stores none of them", async () => {
    const before = events.events.length;
    const out = await host.send(
      new PutEventsCommand({
        Entries: [
          entry({ DetailType: "Lazarus Host Evacuated" }),
          entry({ Source: "lazarus.control-plane" }),
          entry({ EventBusName: "lazarus-notifications" }),
          entry(),
        ],
      }),
    );
    expect(out.FailedEntryCount).toBe(3);
    expect(out.Entries?.map((e) => e.ErrorCode ?? "ok")).toEqual([
      "NotAuthorizedForDetailTypeException",
      "NotAuthorizedForSourceException",
      "AccessDeniedException",
      "ok",
    ]);
    expect(events.events.length - before).toBe(1);
  });

  it("does not hold the control plane's key to it", async () => {
    const out = await controlPlane.send(
      new PutEventsCommand({
        Entries: [entry({ Source: "lazarus.control-plane", DetailType: "Lazarus Host Evacuated" })],
      }),
    );
    expect(out.FailedEntryCount).toBe(0);
  });
});
