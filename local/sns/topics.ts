/**
 * The local stand-in for SNS topics, as the local cloud's services use them: CloudWatch notifies an alarm
 * action's topic, an EventBridge rule with a topic target publishes the event to it, and the topic delivers
 * each message to its subscriptions as SNS delivers to HTTP(S) subscribers (a POST of the Notification JSON,
 * `x-amz-sns-message-type: Notification`). Every message is also kept, in order, for whoever watches the
 * page locally. Loopback subscribers only.
 */
import { randomUUID } from "node:crypto";

export interface TopicSubscription {
  protocol: "http" | "https";
  endpoint: string;
}

export interface TopicMessage {
  messageId: string;
  topicArn: string;
  subject: string | null;
  message: string;
  timestamp: string;
  /** Per subscription: delivered (2xx), or the failure. */
  deliveries: { endpoint: string; ok: boolean; error?: string }[];
}

export interface LocalTopics {
  /** Creates the topic (idempotent) with these subscriptions. */
  createTopic(topicArn: string, subscriptions?: readonly TopicSubscription[]): void;
  subscribe(topicArn: string, subscription: TopicSubscription): void;
  /** Publish to a topic; refused (thrown) for a topic that does not exist, as SNS's NotFound. */
  publish(topicArn: string, message: string, subject?: string): Promise<TopicMessage>;
  /** Every message published, in order. */
  messages: TopicMessage[];
  onMessage(listener: (m: TopicMessage) => void): () => void;
}

export function startLocalTopics(): LocalTopics {
  const topics = new Map<string, TopicSubscription[]>();
  const messages: TopicMessage[] = [];
  const listeners = new Set<(m: TopicMessage) => void>();
  return {
    createTopic(topicArn, subscriptions = []) {
      const existing = topics.get(topicArn) ?? [];
      topics.set(topicArn, [...existing, ...subscriptions]);
    },
    subscribe(topicArn, subscription) {
      const subs = topics.get(topicArn);
      if (!subs) throw new Error(`NotFound: topic ${topicArn} does not exist`);
      subs.push(subscription);
    },
    async publish(topicArn, message, subject) {
      const subs = topics.get(topicArn);
      if (!subs) throw new Error(`NotFound: topic ${topicArn} does not exist`);
      const m: TopicMessage = {
        messageId: randomUUID(),
        topicArn,
        subject: subject ?? null,
        message,
        timestamp: new Date().toISOString(),
        deliveries: [],
      };
      messages.push(m);
      await Promise.all(
        subs.map(async (s) => {
          try {
            const res = await fetch(s.endpoint, {
              method: "POST",
              headers: {
                "content-type": "text/plain; charset=UTF-8",
                "x-amz-sns-message-type": "Notification",
                "x-amz-sns-message-id": m.messageId,
                "x-amz-sns-topic-arn": topicArn,
              },
              body: JSON.stringify({
                Type: "Notification",
                MessageId: m.messageId,
                TopicArn: topicArn,
                ...(m.subject ? { Subject: m.subject } : {}),
                Message: message,
                Timestamp: m.timestamp,
                SignatureVersion: "1",
              }),
              signal: AbortSignal.timeout(5000),
            });
            m.deliveries.push({
              endpoint: s.endpoint,
              ok: res.ok,
              ...(res.ok ? {} : { error: `HTTP ${res.status}` }),
            });
          } catch (e) {
            m.deliveries.push({
              endpoint: s.endpoint,
              ok: false,
              error: e instanceof Error ? e.message : String(e),
            });
          }
        }),
      );
      for (const l of listeners) {
        try {
          l(m);
        } catch {
          // a listener's failure must not fail the publisher
        }
      }
      return m;
    },
    messages,
    onMessage(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
