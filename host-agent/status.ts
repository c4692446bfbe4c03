/**
 * `lazarus-host status [--json]`: what an operator asks of a host. Registered (its heartbeat alarm exists in
 * CloudWatch, and in which state)? Heartbeat accepted when? Watchdog armed, with what timeout (as the kernel
 * reports it)? Monitor connected to libvirt? Read from the running parts' state files (state.ts), the
 * watchdog's sysfs folder and one DescribeAlarms call. Exit 0 when all is well, 1 otherwise.
 */
import { DescribeAlarmsCommand } from "@aws-sdk/client-cloudwatch";
import { heartbeatAlarmName } from "#shared/definitions/heartbeat.js";
import { type HostConfig, watchdogSysfsDir } from "#shared/definitions/host-config.js";
import { agentClients } from "./aws.js";
import { type HeartbeatState, type MonitorState, type PeersState, processAlive, readState } from "./state.js";
import { readWatchdogStatus } from "./watchdog.js";

export interface HostStatus {
  host: string;
  registered: { ok: boolean; alarm: string; state: string | null; error?: string };
  heartbeat: {
    ok: boolean;
    running: boolean;
    lastAcceptedAt: string | null;
    lastValue: number | null;
    ageSeconds: number | null;
    lastFailure: { at: string; error: string } | null;
  };
  watchdog: {
    ok: boolean;
    configured: boolean;
    device: string | null;
    armed: boolean;
    timeoutSeconds: number | null;
    heldByAgent: boolean;
    lastFedAt: string | null;
    lastFeedError: { at: string; error: string } | null;
  };
  monitor: { ok: boolean; running: boolean; connected: boolean; since: string | null; libvirtUri: string };
  /** The peer watch (null: none configured). Not ok while it does not listen. */
  peers: {
    ok: boolean;
    listening: boolean;
    listen: string;
    peers: PeersState["peers"];
    lastReportFailure: PeersState["lastReportFailure"];
  } | null;
  ok: boolean;
}

export async function hostStatus(config: HostConfig, now = new Date()): Promise<HostStatus> {
  const alarm = heartbeatAlarmName(config.host, config.prefix);
  const registered: HostStatus["registered"] = { ok: false, alarm, state: null };
  const clients = agentClients(config, 2);
  try {
    const out = await clients.cloudwatch.send(new DescribeAlarmsCommand({ AlarmNames: [alarm] }), {
      abortSignal: AbortSignal.timeout(10_000),
    });
    const found = out.MetricAlarms?.find((a) => a.AlarmName === alarm);
    registered.ok = found !== undefined;
    registered.state = found?.StateValue ?? null;
  } catch (e) {
    registered.error = e instanceof Error ? e.message : String(e);
  } finally {
    clients.destroy();
  }

  const hb = readState<HeartbeatState>(config.stateDir, "heartbeat");
  const hbRunning = hb !== null && processAlive(hb.pid);
  const lastAt = hb?.lastAccepted?.at ?? null;
  const age = lastAt ? (now.getTime() - Date.parse(lastAt)) / 1000 : null;
  const heartbeat: HostStatus["heartbeat"] = {
    running: hbRunning,
    lastAcceptedAt: lastAt,
    lastValue: hb?.lastAccepted?.value ?? null,
    ageSeconds: age === null ? null : Math.round(age * 10) / 10,
    lastFailure: hb?.lastFailure ?? null,
    ok: hbRunning && age !== null && age <= 3 * config.heartbeat.intervalSeconds,
  };

  const wd = config.watchdog ? readWatchdogStatus(watchdogSysfsDir(config.watchdog)) : null;
  const held = hbRunning && (hb?.watchdog.open ?? false);
  const watchdog: HostStatus["watchdog"] = {
    configured: config.watchdog !== null,
    device: config.watchdog?.device ?? null,
    armed: wd?.active ?? false,
    timeoutSeconds: wd?.timeoutSeconds ?? null,
    heldByAgent: held,
    lastFedAt: hb?.watchdog.lastFedAt ?? null,
    lastFeedError: hb?.watchdog.lastFeedError ?? null,
    ok: config.watchdog === null || ((wd?.active ?? false) && held),
  };

  const mon = readState<MonitorState>(config.stateDir, "monitor");
  const monRunning = mon !== null && processAlive(mon.pid);
  const monitor: HostStatus["monitor"] = {
    running: monRunning,
    connected: monRunning && (mon?.connected ?? false),
    since: monRunning ? (mon?.connectedSince ?? null) : null,
    libvirtUri: config.monitor.libvirtUri,
    ok: monRunning && (mon?.connected ?? false),
  };
  const peers = config.peers ? peerStatus(config.peers.listen, config.peers.hosts, config.stateDir) : null;
  return {
    host: config.host,
    registered,
    heartbeat,
    watchdog,
    monitor,
    peers,
    ok: registered.ok && heartbeat.ok && watchdog.ok && monitor.ok && (peers?.ok ?? true),
  };
}

function peerStatus(
  listen: string,
  hosts: readonly { host: string }[],
  stateDir: string,
): NonNullable<HostStatus["peers"]> {
  const st = readState<PeersState>(stateDir, "peers");
  const running = st !== null && processAlive(st.pid);
  const listening = running && (st?.listening ?? false);
  const peers =
    running && st
      ? st.peers
      : hosts.map((h) => ({ host: h.host, lastHeardAt: null, state: "unknown" as const }));
  return {
    listening,
    listen,
    peers,
    lastReportFailure: st?.lastReportFailure ?? null,
    // A silent peer is that peer's trouble, reported to the control plane: this host's watch is ok.
    ok: listening,
  };
}

/** The status as an operator reads it, one line per question. */
export function renderStatus(s: HostStatus): string {
  const mark = (ok: boolean) => (ok ? "ok  " : "FAIL");
  const lines = [`host ${s.host}`];
  lines.push(
    `${mark(s.registered.ok)} registered  ${
      s.registered.error
        ? `unknown: ${s.registered.error}`
        : s.registered.ok
          ? `yes: alarm ${s.registered.alarm} is ${s.registered.state}`
          : `no: alarm ${s.registered.alarm} does not exist (register the host: lazarus host register)`
    }`,
  );
  const hb = s.heartbeat;
  lines.push(
    `${mark(hb.ok)} heartbeat   ${hb.running ? "running" : "NOT RUNNING"}; ${
      hb.lastAcceptedAt
        ? `last accepted ${hb.lastAcceptedAt} (${hb.ageSeconds} s ago, value ${hb.lastValue})`
        : "never accepted"
    }${hb.lastFailure && (!hb.lastAcceptedAt || hb.lastFailure.at > hb.lastAcceptedAt) ? `; last failure ${hb.lastFailure.at}: ${hb.lastFailure.error}` : ""}`,
  );
  const wd = s.watchdog;
  lines.push(
    `${mark(wd.ok)} watchdog    ${
      !wd.configured
        ? "none configured (heartbeats say 0: no lease is ever counted for this host)"
        : `${wd.device}: ${wd.armed ? `armed, timeout ${wd.timeoutSeconds} s` : "not armed"}; ${
            wd.heldByAgent ? `fed by lazarus-host, last ${wd.lastFedAt}` : "not held by lazarus-host"
          }${wd.lastFeedError ? `; last feed error ${wd.lastFeedError.at}: ${wd.lastFeedError.error}` : ""}`
    }`,
  );
  const m = s.monitor;
  lines.push(
    `${mark(m.ok)} monitor     ${
      !m.running
        ? "NOT RUNNING"
        : m.connected
          ? `connected to ${m.libvirtUri} since ${m.since}`
          : `not connected to ${m.libvirtUri}`
    }`,
  );
  const p = s.peers;
  if (p)
    lines.push(
      `${mark(p.ok)} peers       ${p.listening ? `listening on ${p.listen}` : `NOT LISTENING on ${p.listen}`}; ${p.peers
        .map(
          (x) =>
            `${x.host} ${x.state}${x.lastHeardAt && x.state !== "heard" ? ` (last ${x.lastHeardAt})` : ""}`,
        )
        .join(", ")}`,
    );
  return lines.join("\n");
}
