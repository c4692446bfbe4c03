/**
 * An EventBridge-compatible HTTP endpoint (AWS JSON 1.1, `X-Amz-Target: AWSEvents.PutEvents`; also
 * ListRules and ListTargetsByRule for an operator's look at the rules) that records entries in memory. Code using the real `@aws-sdk/client-eventbridge` with
 * `AWS_ENDPOINT_URL_EVENTBRIDGE` (or `endpoint`) set to `url` publishes here exactly as in AWS.
 * (The SDK builds the variable's name from the client's serviceId, "EventBridge":
 * `AWS_ENDPOINT_URL_EVENTS` is NOT read by @aws-sdk/client-eventbridge.)
 * Per-entry validation as EventBridge does it: missing Source/DetailType/Detail -> `InvalidArgument`,
 * Detail not a JSON object -> `MalformedDetail` (counted in FailedEntryCount, not recorded).
 */
import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import { InvokeCommand, LambdaClient } from "@aws-sdk/client-lambda";
import type { EventPattern } from "#shared/definitions/events.js";
import { AwsJsonError, awsJsonHandler } from "../http/aws-json.js";
import { closeServer, listenOnLoopback } from "../http/loopback.js";
import { LocalCredentials, sigV4Authenticator } from "../http/sigv4.js";
import { hostEventsPolicy, isHostPrincipal } from "../iam/host-policy.js";
import { matchesPattern } from "./event-pattern.js";

export interface RecordedEvent {
  eventId: string;
  eventBusName: string;
  source: string;
  detailType: string;
  /** Detail as sent (JSON text). */
  detail: string;
  /** Detail parsed. */
  detailObject: Record<string, unknown>;
  resources: string[];
  /** The entry's Time, else when it was received. */
  time: Date;
  receivedAt: Date;
  traceHeader?: string;
  /** How many rule targets the event matched when it was put: the deliveries it is owed (0: none). */
  targetsMatched: number;
}

export type EventsListener = (event: RecordedEvent) => void;

/** A rule's target: a Lambda function invoked asynchronously (as EventBridge does) through the Lambda API. */
export interface LambdaTarget {
  functionName: string;
}

/** A rule's target: an SNS topic, which gets the event as the message (as EventBridge publishes it). */
export interface TopicTarget {
  topicArn: string;
}

export type RuleTarget = LambdaTarget | TopicTarget;

export interface EventRule {
  name: string;
  eventBusName?: string;
  eventPattern: EventPattern;
  targets: RuleTarget[];
}

/** One delivery of a matched event to a target. */
export interface RuleDelivery {
  rule: string;
  eventId: string;
  /** The function invoked, or the topic published to. */
  target: string;
  ok: boolean;
  error?: string;
}

/** Where a rule hands events for a topic target (the local SNS endpoint's publish). */
export type TopicPublisher = (topicArn: string, message: string) => Promise<void>;
/** A recorded event as a PutEvents entry again (to deliver the same event once more, as a duplicate). */
export function putEntryOf(e: RecordedEvent) {
  return { Source: e.source, DetailType: e.detailType, Detail: e.detail, Resources: e.resources };
}

/** The event as EventBridge hands it to targets (and as patterns see it). */
export function eventEnvelope(e: RecordedEvent, region = "us-east-1", account = "000000000000") {
  return {
    version: "0",
    id: e.eventId,
    "detail-type": e.detailType,
    source: e.source,
    account,
    time: e.time.toISOString().replace(/\.\d{3}Z$/, "Z"),
    region,
    resources: e.resources,
    detail: e.detailObject,
  };
}

export interface EventsEndpoint {
  url: string;
  port: number;
  /** Recorded events in arrival order. */
  events: RecordedEvent[];
  /** Called for each recorded event; returns an unsubscribe function. */
  onEvent(listener: EventsListener): () => void;
  /**
   * Fault injection: while set, entries whose DetailType matches are refused as EventBridge refuses an
   * entry it cannot take (`InternalFailure`, counted in FailedEntryCount) and not recorded. null clears.
   */
  refuseEntries(match: ((detailType: string) => boolean) | null): void;
  /** PutRule + PutTargets: matching events are delivered to the rule's targets (at least once). */
  putRule(rule: EventRule): void;
  /** The rules installed, by name (ListRules + ListTargetsByRule). */
  rules(): EventRule[];
  /** Every delivery made by rules, in order. */
  deliveries: RuleDelivery[];
  clear(): void;
  close(): Promise<void>;
}

interface PutEventsEntry {
  Source?: unknown;
  DetailType?: unknown;
  Detail?: unknown;
  EventBusName?: unknown;
  Resources?: unknown;
  Time?: unknown;
  TraceHeader?: unknown;
}

type EntryResult = { EventId: string } | { ErrorCode: string; ErrorMessage: string };

export interface EventsEndpointOptions {
  port?: number;
  lambdaEndpoint?: string;
  /** Topic targets publish through this (the local SNS endpoint). */
  publish?: TopicPublisher;
  /** Called for each rule an event matched (the local cloud counts EventBridge's MatchedEvents metric). */
  onMatch?: (rule: EventRule, event: RecordedEvent) => void;
  /** Who may call (SigV4); default: the control plane's fixed keys only. */
  credentials?: LocalCredentials;
}

export async function startEventsEndpoint(options: EventsEndpointOptions = {}): Promise<EventsEndpoint> {
  const events: RecordedEvent[] = [];
  const listeners = new Set<EventsListener>();
  let refuse: ((detailType: string) => boolean) | null = null;
  const rules = new Map<string, EventRule>();
  const deliveries: RuleDelivery[] = [];
  // The region and account of eventEnvelope's defaults: the ARNs the rules are listed with.
  const region = "us-east-1";
  const account = "000000000000";
  // A host's key is held to the host role's PutEvents statement (as IAM would in AWS).
  const hostEntryRefusal = hostEventsPolicy({ region, account });
  const lambda = new LambdaClient({
    ...(options.lambdaEndpoint ? { endpoint: options.lambdaEndpoint } : {}),
    region: process.env.AWS_REGION ?? "us-east-1",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
    maxAttempts: 3,
  });

  const deliver = (rule: EventRule, recorded: RecordedEvent, target: RuleTarget, envelope: unknown) => {
    const name = "functionName" in target ? target.functionName : target.topicArn;
    const sent =
      "functionName" in target
        ? // Asynchronous invocation, as EventBridge invokes Lambda targets.
          lambda.send(
            new InvokeCommand({
              FunctionName: target.functionName,
              InvocationType: "Event",
              Payload: Buffer.from(JSON.stringify(envelope)),
            }),
          )
        : options.publish
          ? options.publish(target.topicArn, JSON.stringify(envelope))
          : Promise.reject(new Error(`no SNS endpoint for topic ${target.topicArn}`));
    void sent.then(
      () => deliveries.push({ rule: rule.name, eventId: recorded.eventId, target: name, ok: true }),
      (e: unknown) =>
        deliveries.push({
          rule: rule.name,
          eventId: recorded.eventId,
          target: name,
          ok: false,
          error: e instanceof Error ? e.message : String(e),
        }),
    );
  };

  const route = (recorded: RecordedEvent) => {
    const envelope = eventEnvelope(recorded);
    for (const rule of rules.values()) {
      if ((rule.eventBusName ?? "default") !== recorded.eventBusName) continue;
      if (!matchesPattern(rule.eventPattern, envelope)) continue;
      options.onMatch?.(rule, recorded);
      recorded.targetsMatched += rule.targets.length;
      for (const target of rule.targets) deliver(rule, recorded, target, envelope);
    }
  };

  function put(entry: PutEventsEntry, principal: string | undefined): EntryResult {
    const { Source, DetailType, Detail } = entry;
    if (typeof Source !== "string" || Source === "") {
      return {
        ErrorCode: "InvalidArgument",
        ErrorMessage: "Parameter Source is not valid. Reason: Source is a required argument.",
      };
    }
    if (typeof DetailType !== "string" || DetailType === "") {
      return {
        ErrorCode: "InvalidArgument",
        ErrorMessage: "Parameter DetailType is not valid. Reason: DetailType is a required argument.",
      };
    }
    if (typeof Detail !== "string") {
      return {
        ErrorCode: "InvalidArgument",
        ErrorMessage: "Parameter Detail is not valid. Reason: Detail is a required argument.",
      };
    }
    const eventBusName =
      typeof entry.EventBusName === "string" && entry.EventBusName ? entry.EventBusName : "default";
    if (isHostPrincipal(principal)) {
      const refused = hostEntryRefusal({ eventBusName, source: Source, detailType: DetailType });
      if (refused) return refused;
    }
    if (refuse?.(DetailType)) {
      return {
        ErrorCode: "InternalFailure",
        ErrorMessage: "Internal failure (injected by the local endpoint).",
      };
    }
    let detailObject: unknown;
    try {
      detailObject = JSON.parse(Detail);
    } catch {
      detailObject = undefined;
    }
    if (!detailObject || typeof detailObject !== "object" || Array.isArray(detailObject)) {
      return { ErrorCode: "MalformedDetail", ErrorMessage: "Detail is malformed." };
    }
    const receivedAt = new Date();
    const recorded: RecordedEvent = {
      eventId: randomUUID(),
      eventBusName,
      source: Source,
      detailType: DetailType,
      detail: Detail,
      detailObject: detailObject as Record<string, unknown>,
      resources: Array.isArray(entry.Resources) ? entry.Resources.map(String) : [],
      time: typeof entry.Time === "number" ? new Date(entry.Time * 1000) : receivedAt,
      receivedAt,
      targetsMatched: 0,
      ...(typeof entry.TraceHeader === "string" ? { traceHeader: entry.TraceHeader } : {}),
    };
    events.push(recorded);
    route(recorded);
    for (const listener of listeners) {
      try {
        listener(recorded);
      } catch {
        // a listener's failure must not fail the publisher
      }
    }
    return { EventId: recorded.eventId };
  }

  const putEvents = (input: Record<string, unknown>, caller?: { principal?: string }) => {
    const entries = input.Entries;
    if (!Array.isArray(entries) || entries.length < 1 || entries.length > 10) {
      throw new AwsJsonError(
        "ValidationException",
        "1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length between 1 and 10",
      );
    }
    const results = (entries as PutEventsEntry[]).map((e) => put(e, caller?.principal));
    return { FailedEntryCount: results.filter((r) => "ErrorCode" in r).length, Entries: results };
  };

  /** The rules (`aws events list-rules`): each with its pattern, by name prefix and bus. */
  const listRules = (input: Record<string, unknown>) => {
    const bus = typeof input.EventBusName === "string" ? input.EventBusName : "default";
    const prefix = typeof input.NamePrefix === "string" ? input.NamePrefix : "";
    return {
      Rules: [...rules.values()]
        .filter((r) => (r.eventBusName ?? "default") === bus && r.name.startsWith(prefix))
        .sort((a, b) => a.name.localeCompare(b.name))
        .map((r) => ({
          Name: r.name,
          Arn: `arn:aws:events:${region}:${account}:rule/${r.name}`,
          EventPattern: JSON.stringify(r.eventPattern),
          State: "ENABLED",
          EventBusName: bus,
        })),
    };
  };

  /** A rule's targets (`aws events list-targets-by-rule`): its Lambda functions and SNS topics. */
  const listTargetsByRule = (input: Record<string, unknown>) => {
    const rule = rules.get(String(input.Rule ?? ""));
    if (!rule)
      throw new AwsJsonError("ResourceNotFoundException", `Rule ${String(input.Rule)} does not exist.`);
    return {
      Targets: rule.targets.map((t, i) => ({
        Id: String(i + 1),
        Arn: "topicArn" in t ? t.topicArn : `arn:aws:lambda:${region}:${account}:function:${t.functionName}`,
      })),
    };
  };

  const server = createServer(
    awsJsonHandler({
      version: "1.1",
      targetPrefix: "AWSEvents",
      operations: { PutEvents: putEvents, ListRules: listRules, ListTargetsByRule: listTargetsByRule },
      authenticate: sigV4Authenticator("events", options.credentials ?? new LocalCredentials()),
    }),
  );
  const { port } = await listenOnLoopback(server, options.port);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    events,
    onEvent(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    putRule(rule) {
      rules.set(rule.name, rule);
    },
    rules: () => [...rules.values()],
    deliveries,
    clear() {
      events.length = 0;
    },
    refuseEntries(match) {
      refuse = match;
    },
    close: async () => {
      await closeServer(server);
      lambda.destroy();
    },
  };
}
