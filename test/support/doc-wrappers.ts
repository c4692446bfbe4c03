/**
 * Document clients that change timing or server behaviour, to prove what decides a race:
 *  - `readBarrier(doc, n)`: every consistent GetItem answer is held back until n of them have been
 *    answered, so n concurrent read-then-write operations all read the same state before any writes:
 *    only the conditional write can then decide who wins.
 *  - `withoutOldItem(doc)`: strips the item from ConditionalCheckFailedException, like a server that
 *    does not support ReturnValuesOnConditionCheckFailure; the stores must fall back to a read.
 * The stores only call `doc.send`, so a wrapper with that one method stands in for the client.
 */
import { type DynamoDBDocumentClient, GetCommand } from "@aws-sdk/lib-dynamodb";

type Send = (command: unknown) => Promise<unknown>;

function wrap(send: Send): DynamoDBDocumentClient {
  return { send } as unknown as DynamoDBDocumentClient;
}

export function readBarrier(doc: DynamoDBDocumentClient, n: number): DynamoDBDocumentClient {
  let arrived = 0;
  let open!: () => void;
  const opened = new Promise<void>((r) => {
    open = r;
  });
  const send = doc.send.bind(doc) as Send;
  return wrap(async (command) => {
    const out = await send(command);
    if (command instanceof GetCommand && arrived < n) {
      arrived++;
      if (arrived === n) open();
      await opened;
    }
    return out;
  });
}

export function withoutOldItem(doc: DynamoDBDocumentClient): DynamoDBDocumentClient {
  const send = doc.send.bind(doc) as Send;
  return wrap(async (command) => {
    try {
      return await send(command);
    } catch (e) {
      if (e instanceof Error && e.name === "ConditionalCheckFailedException")
        delete (e as { Item?: unknown }).Item;
      throw e;
    }
  });
}
