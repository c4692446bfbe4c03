/**
 * EventBridge's vocabulary as Lazarus uses it: the two buses, an event pattern, and one rule of a trigger
 * function. The functions (shared/definitions/functions.ts), the page rules (paging.ts) and the deployed
 * rules (rules.ts) all speak it; it depends on none of them.
 */
/** An EventBridge event pattern (the JSON EventBridge takes). */
export type EventPattern = { [key: string]: EventPattern | readonly PatternEntry[] };
export type PatternEntry = string | number | boolean | null | Record<string, unknown>;

/**
 * "default": the account's default bus, where AWS services (CloudWatch alarm state changes) and the hosts
 * (their reports) put events. "lazarus": the deployment's own bus, `<prefix>-notifications`, where the
 * functions put nova's notifications and the operator alerts.
 */
export type EventBusKind = "default" | "lazarus";

/** `<prefix>-notifications`: the bus of nova's notifications and the operator alerts. */
export function notificationBusName(prefix: string): string {
  return `${prefix}-notifications`;
}

export function busName(kind: EventBusKind, prefix: string): string {
  return kind === "default" ? "default" : notificationBusName(prefix);
}

/** One rule of a trigger function: its events invoke the function. */
export interface TriggerRule {
  /** Deployed as `<prefix>-<id>`. */
  id: string;
  description: string;
  bus: EventBusKind;
  /** The pattern, for a deployment prefix (heartbeat alarms are named after it). */
  eventPattern: (prefix: string) => EventPattern;
}
