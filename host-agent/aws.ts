/**
 * The agent's AWS clients: region and endpoints from the configuration, every request SigV4-signed with the
 * host's own credentials. With `credentials.file`/`profile` set (an SSM hybrid node: the SSM agent keeps the
 * host role's credentials in a shared credentials file and rotates them), the file is read again at least
 * every minute, so a rotation is picked up before the old session token expires; otherwise the AWS SDK's
 * default chain (environment, `~/.aws/credentials` default profile, EC2 instance metadata).
 */
import { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { fromIni } from "@aws-sdk/credential-providers";
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from "@smithy/types";
import type { HostConfig } from "#shared/definitions/host-config.js";

/** How long credentials read from a file are used before the file is read again. */
const FILE_CREDENTIALS_TTL_MS = 60_000;

function credentialsOf(config: HostConfig): AwsCredentialIdentityProvider | undefined {
  const { file, profile } = config.credentials;
  if (file === undefined && profile === undefined) return undefined;
  const read = fromIni({
    ...(file !== undefined ? { filepath: file } : {}),
    ...(profile !== undefined ? { profile } : {}),
    ignoreCache: true,
  });
  return async (): Promise<AwsCredentialIdentity> => ({
    ...(await read()),
    // An expiry makes the SDK ask again: the file's keys may have been rotated meanwhile.
    expiration: new Date(Date.now() + FILE_CREDENTIALS_TTL_MS),
  });
}

export interface AgentClients {
  logs: CloudWatchLogsClient;
  cloudwatch: CloudWatchClient;
  events: EventBridgeClient;
  destroy(): void;
}

/** One client per service; `maxAttempts` 1: the caller's loop is the retry (a late heartbeat is worthless). */
export function agentClients(config: HostConfig, maxAttempts = 1): AgentClients {
  const credentials = credentialsOf(config);
  const common = { region: config.region, maxAttempts, ...(credentials ? { credentials } : {}) };
  const { endpoints } = config;
  const logs = new CloudWatchLogsClient({
    ...common,
    ...(endpoints.logs ? { endpoint: endpoints.logs } : {}),
  });
  const cloudwatch = new CloudWatchClient({
    ...common,
    ...(endpoints.cloudwatch ? { endpoint: endpoints.cloudwatch } : {}),
  });
  const events = new EventBridgeClient({
    ...common,
    ...(endpoints.events ? { endpoint: endpoints.events } : {}),
  });
  return {
    logs,
    cloudwatch,
    events,
    destroy: () => {
      logs.destroy();
      cloudwatch.destroy();
      events.destroy();
    },
  };
}
