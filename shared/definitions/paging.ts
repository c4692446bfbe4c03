/**
 * Paging: what wakes an operator. Filled in below.
 */
import type { EventBusKind, EventPattern } from "./rules.js";

/** `<prefix>-page`: the SNS topic every page goes to (subscriptions from the stack's configuration). */
export function pageTopicName(prefix: string): string {
  return `${prefix}-page`;
}

/** The page topic's ARN in an account and region (the local cloud's defaults). */
export function pageTopicArn(prefix: string, region = "us-east-1", account = "000000000000"): string {
  return `arn:aws:sns:${region}:${account}:${pageTopicName(prefix)}`;
}

export interface PageRule {
  id: string;
  description: string;
  bus: EventBusKind;
  eventPattern: EventPattern;
}

export const PAGE_RULES: readonly PageRule[] = [];
