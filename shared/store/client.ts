/**
 * The DynamoDB clients. The endpoint comes from the SDK's own configuration (in particular the
 * standard `AWS_ENDPOINT_URL_DYNAMODB`, which points it at dynalite or DynamoDB Local); an explicit
 * `endpoint` is only an override for tests and tools that start their own server.
 */
import { DynamoDBClient, type DynamoDBClientConfig } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";

export interface DynamoClientOptions {
  /** Overrides the SDK's endpoint resolution (which already honours AWS_ENDPOINT_URL_DYNAMODB). */
  endpoint?: string;
  region?: string;
  credentials?: DynamoDBClientConfig["credentials"];
  maxAttempts?: number;
}

export function createDynamoClient(opts: DynamoClientOptions = {}): DynamoDBClient {
  const config: DynamoDBClientConfig = {};
  if (opts.endpoint !== undefined) config.endpoint = opts.endpoint;
  if (opts.region !== undefined) config.region = opts.region;
  if (opts.credentials !== undefined) config.credentials = opts.credentials;
  if (opts.maxAttempts !== undefined) config.maxAttempts = opts.maxAttempts;
  return new DynamoDBClient(config);
}

export interface DocumentClientOptions extends DynamoClientOptions {
  /** Wrap this client instead of creating one (the other options are then ignored). */
  client?: DynamoDBClient;
}

/**
 * A document client: plain JS values in and out; `undefined` properties are dropped, empty strings
 * are kept as they are (never turned into NULL), `null` is stored as DynamoDB NULL.
 */
export function createDocumentClient(opts: DocumentClientOptions = {}): DynamoDBDocumentClient {
  const client = opts.client ?? createDynamoClient(opts);
  return DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true, convertEmptyValues: false },
    unmarshallOptions: { wrapNumbers: false },
  });
}
