/**
 * `lazarus-host`: the Lazarus agent of a KVM host (packaged as the Debian package lazarus-host; the local
 * cloud runs this same program for each of its hosts).
 *
 *   lazarus-host heartbeat [--config PATH]      heartbeat + watchdog feeder (lazarus-host.service)
 *   lazarus-host monitor [--config PATH]        guest lifecycle monitor (lazarus-host-monitor.service)
 *   lazarus-host status [--json] [--config PATH]
 *   lazarus-host check-config [--config PATH]   validate the configuration and exit
 *   lazarus-host --version
 *
 * The configuration is read and validated before anything is sent: a bad file exits 78 (EX_CONFIG) with a
 * message naming each bad key.
 */
import { parseArgs } from "node:util";
import { configPath, HostConfigError, loadHostConfig } from "./config.js";
import { runHeartbeat } from "./heartbeat.js";
import { runMonitor } from "./monitor.js";
import { runPeerWatch } from "./peers.js";
import { hostStatus, renderStatus } from "./status.js";

/** Set by the bundler (host-agent/build.ts) from package.json; "dev" when run from source. */
declare const LAZARUS_HOST_VERSION: string | undefined;
const VERSION = typeof LAZARUS_HOST_VERSION === "string" ? LAZARUS_HOST_VERSION : "dev";

const EX_USAGE = 64;
const EX_CONFIG = 78;
const USAGE = `usage: lazarus-host heartbeat|monitor|status|check-config [--config PATH] [--json] | --version`;

function logger(part: string) {
  // journald stamps the time; the local cloud's log files get it from here too.
  return (message: string) =>
    process.stderr.write(`${new Date().toISOString()} lazarus-host ${part}: ${message}\n`);
}

async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (e) {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n${USAGE}\n`);
    return EX_USAGE;
  }
  const { values, positionals } = parsed;
  if (values.version) {
    process.stdout.write(`lazarus-host ${VERSION}\n`);
    return 0;
  }
  const command = positionals[0];
  if (
    !command ||
    positionals.length > 1 ||
    !["heartbeat", "monitor", "status", "check-config"].includes(command)
  ) {
    process.stderr.write(`${USAGE}\n`);
    return EX_USAGE;
  }
  const path = configPath(values.config, process.env);
  let config: ReturnType<typeof loadHostConfig>;
  try {
    config = loadHostConfig(path);
  } catch (e) {
    if (e instanceof HostConfigError) {
      process.stderr.write(`lazarus-host: invalid configuration ${e.message}\n`);
      return EX_CONFIG;
    }
    throw e;
  }
  switch (command) {
    case "check-config":
      process.stdout.write(`${path}: valid (host ${config.host}, region ${config.region})\n`);
      return 0;
    case "status": {
      const status = await hostStatus(config);
      process.stdout.write(values.json ? `${JSON.stringify(status)}\n` : `${renderStatus(status)}\n`);
      return status.ok ? 0 : 1;
    }
    default: {
      const log = logger(command);
      const run = command === "heartbeat" ? runHeartbeat(config, log) : runMonitor(config, log);
      // The peer watch lives and dies with the heartbeat: one process says this host runs, to both.
      const { peers } = config;
      const watch =
        command === "heartbeat" && peers ? runPeerWatch({ ...config, peers }, logger("peers")) : undefined;
      for (const sig of ["SIGTERM", "SIGINT"] as const)
        process.on(sig, () => {
          watch?.stop();
          run.stop();
        });
      await Promise.all([run.done, watch?.done]);
      return 0;
    }
  }
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: "string" },
      json: { type: "boolean" },
      version: { type: "boolean" },
    },
  });
}

process.exitCode = await main(process.argv.slice(2));
