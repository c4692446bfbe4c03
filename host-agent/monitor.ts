/**
 * `lazarus-host monitor`: the guest lifecycle monitor (systemd unit lazarus-host-monitor.service), as
 * Masakari's instance monitor. It follows libvirt's lifecycle events (lifecycle-monitor.ts) and
 *  - reports each unexpected stop to the control plane as a "Lazarus Domain Stopped" EventBridge event
 *    (`PutEvents`, SigV4-signed), with libvirt's reason and time, retried until EventBridge takes it (the
 *    control plane derives one recovery id per crash, so a resend is harmless);
 *  - records its own liveness in its state file every interval, only while the event stream runs: the
 *    host's heartbeat agent reads it and says in each heartbeat whether the monitor runs, and tells the
 *    operator by event when it stops (shared/definitions/instance-failure.ts): a dead monitor, or one that
 *    cannot follow libvirt, is no dead host, and costs no metric or alarm of its own.
 */
import { PutEventsCommand } from "@aws-sdk/client-eventbridge";
import type { HostConfig } from "#shared/definitions/host-config.js";
import { DOMAIN_STOPPED_EVENT } from "#shared/definitions/instance-failure.js";
import { DomainStoppedDetail, HOST_RESET } from "#shared/domain/instance-failure.js";
import { agentClients } from "./aws.js";
import { currentBoot, isNewBoot, lastSeenBoot, rememberBoot, shutOffDomains } from "./boot.js";
import { LifecycleMonitor } from "./lifecycle-monitor.js";
import type { Log } from "./log.js";
import { type MonitorState, writeState } from "./state.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));

export interface MonitorHandle {
  done: Promise<void>;
  stop(): void;
}

export function runMonitor(config: HostConfig, log: Log): MonitorHandle {
  const clients = agentClients(config, 3);
  const host = config.host;
  const intervalMs = config.monitor.intervalSeconds * 1000;
  const now = () => new Date().toISOString();
  const state: MonitorState = {
    pid: process.pid,
    startedAt: now(),
    libvirtUri: config.monitor.libvirtUri,
    connected: false,
    connectedSince: null,
    lastReport: null,
    lastReportFailure: null,
    lastLivenessAt: null,
    updatedAt: now(),
  };
  const save = () => {
    state.updatedAt = now();
    try {
      writeState(config.stateDir, "monitor", state);
    } catch (e) {
      log(`state not written to ${config.stateDir}: ${errorText(e)}`);
    }
  };

  /** One report, retried until EventBridge takes it. */
  const report = async (detail: DomainStoppedDetail): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      try {
        const out = await clients.events.send(
          new PutEventsCommand({
            Entries: [
              {
                EventBusName: config.monitor.eventBus,
                Source: DOMAIN_STOPPED_EVENT.source,
                DetailType: DOMAIN_STOPPED_EVENT.detailType,
                Resources: [detail.instanceUuid],
                Detail: JSON.stringify(detail),
              },
            ],
          }),
        );
        if (!out.FailedEntryCount) {
          log(`reported ${detail.domain} stopped (${detail.reason}) at ${detail.stoppedAt}`);
          state.lastReport = { at: now(), domain: detail.domain, reason: detail.reason };
          save();
          return;
        }
        throw new Error(`entry refused: ${out.Entries?.[0]?.ErrorCode} ${out.Entries?.[0]?.ErrorMessage}`);
      } catch (e) {
        state.lastReportFailure = { at: now(), error: errorText(e) };
        save();
        if (attempt >= 30) throw e;
        log(`report of ${detail.domain} not taken (${errorText(e)}); retrying`);
        await sleep(Math.min(10_000, 200 * 2 ** attempt));
      }
    }
  };

  /**
   * After a reset: every domain libvirt has shut off, reported at the boot's time (one recovery id per
   * domain and boot, so a report sent again after a crash of this process starts nothing new); the boot
   * remembered only once all were taken. Runs once libvirt answers; again at the next connection if it failed.
   */
  let bootChecked = false;
  const reportReset = async (): Promise<void> => {
    const boot = currentBoot(config.boot);
    const seen = lastSeenBoot(config.persistentStateDir);
    if (isNewBoot(seen, boot)) {
      const domains = await shutOffDomains(config.monitor.libvirtUri, process.env);
      log(`new boot ${boot.id} at ${boot.at} (last seen ${seen?.id}): ${domains.length} domain(s) shut off`);
      for (const d of domains)
        await report(
          DomainStoppedDetail.parse({
            host,
            instanceUuid: d.uuid,
            domain: d.name,
            event: "Stopped",
            reason: HOST_RESET,
            stoppedAt: boot.at,
          }),
        );
    }
    if (seen?.id !== boot.id) rememberBoot(config.persistentStateDir, boot);
    bootChecked = true;
  };
  let bootCheck: Promise<void> | undefined;
  const checkBoot = (): void => {
    if (bootChecked || bootCheck) return;
    bootCheck = reportReset()
      .catch((e: unknown) => {
        log(`boot check failed (${errorText(e)}); trying again in 10 s`);
        setTimeout(() => {
          if (!stopping && monitor.alive) checkBoot();
        }, 10_000).unref();
      })
      .finally(() => {
        bootCheck = undefined;
      });
  };

  const monitor = new LifecycleMonitor({
    uri: config.monitor.libvirtUri,
    env: process.env,
    log,
    onConnection: (connected) => {
      state.connected = connected;
      state.connectedSince = connected ? now() : null;
      log(
        connected
          ? `following libvirt events on ${config.monitor.libvirtUri}`
          : "libvirt event stream stopped",
      );
      save();
      if (connected) checkBoot();
    },
    report: (e) =>
      report(
        DomainStoppedDetail.parse({
          host,
          instanceUuid: e.instanceUuid,
          domain: e.domain,
          event: e.event,
          reason: e.detail,
          stoppedAt: e.at,
        }),
      ),
  });

  let stopping = false;
  let wake: (() => void) | undefined;
  const loop = async () => {
    monitor.start();
    save();
    while (!stopping) {
      const started = Date.now();
      if (monitor.alive) state.lastLivenessAt = new Date().toISOString();
      save();
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(0, intervalMs - (Date.now() - started)));
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    await monitor.stop();
    state.connected = false;
    save();
    clients.destroy();
  };
  return {
    done: loop(),
    stop: () => {
      stopping = true;
      wake?.();
    },
  };
}
