/**
 * `lazarus-host heartbeat`: the host's heartbeat and its watchdog feeder, in one process (systemd unit
 * lazarus-host.service).
 *
 * Every `heartbeat.intervalSeconds`: read the watchdog's state from its sysfs folder, send one
 * embedded-metric-format line (shared/definitions/heartbeat.ts `heartbeatLogLine`: the value is the
 * timeout in seconds of the watchdog this process armed, 0 when none is: watchdog.ts `heartbeatValue`)
 * with CloudWatch Logs `PutLogEvents`, SigV4-signed with the host's credentials. The heartbeat is accepted
 * when PutLogEvents answered 200 with no rejected event. Only then, and only if that answer came within
 * `feedWithinSeconds` of the heartbeat's timestamp, is the watchdog fed (the first feed opens the device,
 * which arms it). The control plane counts a silent host as self-fenced at its last heartbeat + the
 * timeout that heartbeat announced + its margin: a feed is never later than the heartbeat it follows by
 * more than that bound.
 *
 * Each heartbeat also says whether the host's instance monitor runs (the property `InstanceMonitor`, read
 * from the monitor's state file: no metric, no alarm), and a change between running and stopped is sent once
 * as an EventBridge event for the operator (shared/definitions/instance-failure.ts).
 *
 * A deliberate stop (SIGTERM/SIGINT, `systemctl stop`): one last heartbeat saying 0 ("no watchdog armed
 * from now on"); once it is accepted, magic close disarms the device. If it is not accepted, the device
 * is closed without 'V' and keeps counting: the control plane may still count the lease the last heartbeats
 * announced, so the node must reset unless the agent is started again within the timeout.
 */
import { CreateLogStreamCommand, PutLogEventsCommand } from "@aws-sdk/client-cloudwatch-logs";
import { PutEventsCommand } from "@aws-sdk/client-eventbridge";
import { heartbeatLogLine, hostLogStreamName } from "#shared/definitions/heartbeat.js";
import { type HostConfig, watchdogSysfsDir } from "#shared/definitions/host-config.js";
import {
  INSTANCE_MONITOR_EVENT,
  INSTANCE_MONITOR_PROPERTY,
  type InstanceMonitorHealth,
} from "#shared/definitions/instance-failure.js";
import { type AgentClients, agentClients } from "./aws.js";
import { errorText, type Log } from "./log.js";
import { type HeartbeatState, type MonitorState, processAlive, readState, writeState } from "./state.js";
import { heartbeatValue, readWatchdogStatus, WatchdogFeeder } from "./watchdog.js";

/** Sends heartbeats to the host's log stream; knows when the stream must be created (again). */
class HeartbeatSender {
  private streamReady = false;
  private readonly group: string;
  private readonly stream: string;

  constructor(
    private readonly config: HostConfig,
    private readonly clients: AgentClients,
  ) {
    this.group = config.heartbeat.logGroup;
    this.stream = hostLogStreamName(config.host, "heartbeat");
  }

  /** Resolves when CloudWatch Logs accepted the heartbeat (200, nothing rejected); throws otherwise. */
  async send(
    at: Date,
    value: number,
    timeoutMs: number,
    properties: Readonly<Record<string, string>> = {},
  ): Promise<void> {
    const abortSignal = AbortSignal.timeout(timeoutMs);
    if (!this.streamReady) {
      await this.clients.logs
        .send(new CreateLogStreamCommand({ logGroupName: this.group, logStreamName: this.stream }), {
          abortSignal,
        })
        .catch((e: unknown) => {
          if ((e as Error).name !== "ResourceAlreadyExistsException") throw e;
        });
      this.streamReady = true;
    }
    try {
      const out = await this.clients.logs.send(
        new PutLogEventsCommand({
          logGroupName: this.group,
          logStreamName: this.stream,
          logEvents: [
            {
              timestamp: at.getTime(),
              message: heartbeatLogLine(
                {
                  host: this.config.host,
                  at,
                  intervalSeconds: this.config.heartbeat.intervalSeconds,
                  fleet: this.group,
                  watchdogTimeoutSeconds: value,
                },
                properties,
              ),
            },
          ],
        }),
        { abortSignal },
      );
      const rejected = out.rejectedLogEventsInfo;
      if (rejected && Object.keys(rejected).length > 0) {
        throw new Error(`heartbeat rejected by CloudWatch Logs: ${JSON.stringify(rejected)}`);
      }
    } catch (e) {
      if ((e as Error).name === "ResourceNotFoundException") this.streamReady = false;
      throw e;
    }
  }
}

/**
 * The instance monitor's health from its state file: running while it follows libvirt's events and its
 * liveness is at most three of its intervals old (and its process lives), stopped when it ran and does not
 * now (or died before it ever ran), absent when it never ran here or has not started following yet.
 */
export function instanceMonitorHealth(
  state: MonitorState | null,
  now: number,
  intervalSeconds: number,
  alive: (pid: number) => boolean = processAlive,
): InstanceMonitorHealth {
  if (!state) return "absent";
  // Started but not yet following libvirt's events (the agent's boot): not running yet, and not a monitor
  // that stopped either (that would report a stop at every boot); one that died before it ever ran did.
  if (state.lastLivenessAt === null) return alive(state.pid) ? "absent" : "stopped";
  const last = Date.parse(state.lastLivenessAt);
  const fresh = now - last <= 3 * intervalSeconds * 1000;
  return state.connected && fresh && alive(state.pid) ? "running" : "stopped";
}

export interface HeartbeatHandle {
  /** Resolves when the loop has stopped and the watchdog was disarmed or abandoned. */
  done: Promise<void>;
  /** Asks for a deliberate stop (what SIGTERM does). */
  stop(): void;
}

export function runHeartbeat(config: HostConfig, log: Log): HeartbeatHandle {
  const clients = agentClients(config);
  const sender = new HeartbeatSender(config, clients);
  const feeder = config.watchdog ? new WatchdogFeeder(config.watchdog.device) : undefined;
  const sysfs = config.watchdog ? watchdogSysfsDir(config.watchdog) : undefined;
  const intervalMs = config.heartbeat.intervalSeconds * 1000;
  const feedWithinMs = config.heartbeat.feedWithinSeconds * 1000;
  const state: HeartbeatState = {
    pid: process.pid,
    startedAt: new Date().toISOString(),
    lastAccepted: null,
    lastFailure: null,
    watchdog: { device: feeder?.device ?? null, open: false, lastFedAt: null, lastFeedError: null },
  };
  const save = () => {
    state.watchdog.open = feeder?.open ?? false;
    try {
      writeState(config.stateDir, "heartbeat", state);
    } catch (e) {
      log(`state not written to ${config.stateDir}: ${errorText(e)}`);
    }
  };

  let stopping = false;
  let wake: (() => void) | undefined;
  const stop = () => {
    stopping = true;
    wake?.();
  };
  let lastError = "";
  /** The monitor's health last reported by event (null: nothing yet; a first `running` needs none). */
  let reportedMonitor: InstanceMonitorHealth | null = null;
  let reporting = false;

  /** One event when the monitor stops or runs again; tried again at the next beat if it is not taken. */
  const reportMonitor = async (health: InstanceMonitorHealth, at: Date) => {
    if (health === "absent" || health === reportedMonitor) return;
    if (reportedMonitor === null && health === "running") {
      reportedMonitor = health;
      return;
    }
    try {
      const out = await clients.events.send(
        new PutEventsCommand({
          Entries: [
            {
              EventBusName: config.monitor.eventBus,
              Source: INSTANCE_MONITOR_EVENT.source,
              DetailType: INSTANCE_MONITOR_EVENT.detailType[health],
              Resources: [],
              Detail: JSON.stringify({ host: config.host, health, at: at.toISOString() }),
            },
          ],
        }),
      );
      if (out.FailedEntryCount) throw new Error(`entry refused: ${out.Entries?.[0]?.ErrorCode}`);
      reportedMonitor = health;
      log(`instance monitor ${health}: reported`);
    } catch (e) {
      log(`instance monitor ${health}: not reported yet (${errorText(e)})`);
    }
  };

  const beat = async () => {
    const at = new Date();
    const value = sysfs && feeder ? heartbeatValue(readWatchdogStatus(sysfs), feeder.armedByUs) : 0;
    const monitor = instanceMonitorHealth(
      readState<MonitorState>(config.stateDir, "monitor"),
      at.getTime(),
      config.monitor.intervalSeconds,
    );
    // Not awaited: a slow event never delays a heartbeat (nor the watchdog's feed after it).
    if (!reporting) {
      reporting = true;
      void reportMonitor(monitor, at).finally(() => {
        reporting = false;
      });
    }
    try {
      await sender.send(at, value, Math.max(1000, Math.min(intervalMs, 10_000)), {
        [INSTANCE_MONITOR_PROPERTY]: monitor,
      });
    } catch (e) {
      const error = errorText(e);
      state.lastFailure = { at: at.toISOString(), error };
      if (error !== lastError) log(`heartbeat not accepted: ${error}`);
      lastError = error;
      return;
    }
    if (lastError !== "") log("heartbeat accepted again");
    lastError = "";
    state.lastAccepted = { at: at.toISOString(), value };
    if (!feeder) return;
    const late = Date.now() - at.getTime();
    if (late > feedWithinMs) {
      log(
        `watchdog not fed: the heartbeat was accepted ${late} ms after it was sent (bound ${feedWithinMs} ms)`,
      );
      return;
    }
    const wasOpen = feeder.open;
    try {
      feeder.feed();
      state.watchdog.lastFedAt = new Date().toISOString();
      if (!wasOpen) log(`watchdog ${feeder.device} opened: armed`);
    } catch (e) {
      const error = errorText(e);
      state.watchdog.lastFeedError = { at: new Date().toISOString(), error };
      log(
        `watchdog feed failed (${error}): not fed; the node resets unless a feed succeeds within its timeout`,
      );
    }
  };

  const loop = async () => {
    log(
      `heartbeat every ${config.heartbeat.intervalSeconds} s to ${config.heartbeat.logGroup}; watchdog ${
        feeder ? feeder.device : "none"
      }`,
    );
    while (!stopping) {
      const started = Date.now();
      await beat();
      save();
      const wait = Math.max(0, intervalMs - (Date.now() - started));
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, wait);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      wake = undefined;
    }
    await stopCleanly();
  };

  const stopCleanly = async () => {
    if (feeder?.open) {
      const at = new Date();
      try {
        await sender.send(at, 0, 5000);
        feeder.disarm();
        state.lastAccepted = { at: at.toISOString(), value: 0 };
        log("stopping: announced no watchdog (heartbeat 0 accepted), then disarmed it (magic close)");
      } catch (e) {
        feeder.abandon();
        log(
          `stopping: the last heartbeat (0) was not accepted (${errorText(e)}): the watchdog is left armed; the node resets unless lazarus-host starts again within its timeout`,
        );
      }
    }
    save();
    clients.destroy();
  };

  return { done: loop(), stop };
}
