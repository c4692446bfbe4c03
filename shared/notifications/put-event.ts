/** Publishing one event to EventBridge, for the notifier and the host alerts. */
import {
  type EventBridgeClient,
  PutEventsCommand,
  type PutEventsRequestEntry,
} from "@aws-sdk/client-eventbridge";
import { EventRefused } from "../domain/errors.js";

/**
 * Puts one entry. PutEvents answers 200 even when it refuses an entry (FailedEntryCount): that refusal is
 * thrown here, named by `what`, so a lost event is never silent.
 */
export async function putEvent(
  client: EventBridgeClient,
  entry: PutEventsRequestEntry,
  what: string,
): Promise<void> {
  const out = await client.send(new PutEventsCommand({ Entries: [entry] }));
  if (out.FailedEntryCount) {
    const failed = out.Entries?.find((e) => e.ErrorCode);
    throw new EventRefused(`${what} refused: ${failed?.ErrorCode} ${failed?.ErrorMessage}`, {
      errorCode: failed?.ErrorCode ?? null,
    });
  }
}
