/**
 * What a registration hands back to the operator: the host's configuration file (/etc/lazarus/host.json,
 * shared/definitions/host-config.ts) and the exact commands that install and start the host agent with it.
 * Pure: the deployment's settings come in as arguments.
 */
import { heartbeatLogGroupName } from "#shared/definitions/heartbeat.js";
import {
  HOST_CONFIG_PATH,
  HostConfig,
  type HostConfigInput,
  type HostSettingsFile,
} from "#shared/definitions/host-config.js";
import type { Host } from "#shared/domain/schemas.js";

export interface DeploymentSettings {
  region: string;
  /** Deployment prefix (alarm names, the heartbeat log group). */
  prefix: string;
}

export interface HostSetup {
  /** The content of /etc/lazarus/host.json for this host. */
  config: HostConfigInput;
  /** Run on the host, as root, in order (the package file is the one `npm run package:host` builds). */
  commands: string[];
}

/** The settings file's keys that belong to the agent: a value the host already has there is kept. */
const AGENT_KEYS = ["endpoints", "credentials", "heartbeat", "watchdog", "monitor", "stateDir"] as const;

/**
 * The configuration for a registered host: its name, the deployment's region and log group, the SSM hybrid
 * node's credentials file (an EC2 host uses its instance profile), the watchdog when the host's fencing
 * counts on it; what the host's file already says for the agent is kept; registration's values (storage,
 * zone, fencing) are the record's.
 */
export function hostSetup(
  host: Host,
  current: HostSettingsFile | null,
  deployment: DeploymentSettings,
): HostSetup {
  const kept = Object.fromEntries(
    AGENT_KEYS.filter((k) => current?.[k] !== undefined).map((k) => [k, current![k]]),
  );
  const config: HostConfigInput = {
    host: host.name,
    region: deployment.region,
    prefix: deployment.prefix,
    ...(host.managedInstanceId.startsWith("mi-")
      ? { credentials: { file: "/root/.aws/credentials", profile: "default" } }
      : {}),
    heartbeat: {
      logGroup: heartbeatLogGroupName(deployment.prefix),
      intervalSeconds: 5,
      feedWithinSeconds: 2,
    },
    watchdog: host.fencing.watchdog ? { device: "/dev/watchdog" } : null,
    monitor: { libvirtUri: "qemu:///system", eventBus: "default", intervalSeconds: 5 },
    ...kept,
    availabilityZone: host.availabilityZone,
    instancesPath: host.storage.instancesPath,
    imageCachePath: host.storage.imageCachePath,
    volumesPath: host.storage.volumesPath,
    sharedPoolId: host.storage.sharedPoolId,
    supportsRecreate: host.supportsRecreate,
    fencing: host.fencing,
  };
  // What is handed out must be what the agent accepts.
  HostConfig.parse(config);
  const json = JSON.stringify(config, null, 2);
  return {
    config,
    commands: [
      "apt-get install -y ./lazarus-host_*_amd64.deb",
      `install -d -m 0755 ${dirOf(HOST_CONFIG_PATH)}`,
      `cat > ${HOST_CONFIG_PATH} <<'LAZARUS_HOST_JSON'\n${json}\nLAZARUS_HOST_JSON`,
      "lazarus-host check-config",
      "systemctl enable --now lazarus-host.service lazarus-host-monitor.service",
      "lazarus-host status",
    ],
  };
}

function dirOf(path: string): string {
  return path.slice(0, path.lastIndexOf("/"));
}
