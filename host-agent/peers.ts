/**
 * Peers that notice first: part of `lazarus-host heartbeat` when host.json has `peers`.
 *
 * Every `peers.intervalSeconds` this host sends one beat (a UDP datagram, `lazarus-peer-beat 1 <host>
 * <seq>`) to each peer it lists, from the socket it receives its peers' beats on (`peers.listen`). A peer
 * it has heard, and then does not hear for `silentAfterSeconds`, is reported once (per silence) to the
 * control plane as a "Lazarus Host Peer Silent" event on the default bus: seconds after a power loss,
 * where the heartbeat's CloudWatch alarm takes 10-20 s at its shortest period (docs/SCALE.md). Corosync
 * does the same for Pacemaker and Proxmox HA; vSphere HA's hosts beat to their master.
 *
 * A report proves nothing (functions/host-failure/steps/trigger.ts `onPeerSilent`): the control plane
 * still waits for the heartbeat to age, probes the host through SSM, counts the mass-failure guard and
 * fences before anything moves. What each failure here does, then:
 *  - this process dies or hangs (with the host or alone): its peers report this host, which is probed; its
 *    own reports stop, and its peers' deaths are left to their alarms;
 *  - a beat lost, late or forged: at worst a live host is reported (it is probed and answers) or a dead
 *    one's report waits for its alarm (a forged beat; the beats carry no secret, docs/SECURITY.md);
 *  - this host cut from the hosts' network: it hears none of its peers and reports none of them (an
 *    observer that hears nobody is more likely cut off itself); a peer never heard since this process
 *    started is never reported (a host powered off for its repair at this one's boot);
 *  - EventBridge refuses or fails the report: it is sent again at the next interval while the silence
 *    lasts.
 */
import { createSocket, type Socket } from "node:dgram";
import { PutEventsCommand } from "@aws-sdk/client-eventbridge";
import type { HostConfig, PeerWatchConfig } from "#shared/definitions/host-config.js";
import { PEER_SILENT_EVENT, type PeerSilentDetail } from "#shared/domain/host-failure.js";
import { type AgentClients, agentClients } from "./aws.js";
import { errorText, type Log } from "./log.js";
import { type PeersState, writeState } from "./state.js";

/**
 * The wire: one ASCII datagram, `lazarus-peer-beat 1 <host> <seq>` every interval, and `lazarus-peer-bye 1
 * <host> <seq>` when the agent stops on purpose (`systemctl stop`): its peers forget it until they hear it
 * again, so a planned stop is not reported (its heartbeat's alarm still is).
 */
export type PeerMessage = { kind: "beat" | "bye"; host: string; seq: number };

export function encodePeerMessage(m: PeerMessage): Buffer {
  return Buffer.from(`lazarus-peer-${m.kind} 1 ${m.host} ${m.seq}`, "ascii");
}

/** A beat or a goodbye, or null for anything else. */
export function parsePeerMessage(message: Buffer): PeerMessage | null {
  if (message.length > 200) return null;
  const m = /^lazarus-peer-(beat|bye) 1 ([A-Za-z0-9][A-Za-z0-9._-]{0,62}) (\d{1,15})$/.exec(
    message.toString("ascii"),
  );
  return m ? { kind: m[1] as PeerMessage["kind"], host: m[2]!, seq: Number(m[3]) } : null;
}

/** A silent peer to report: the detail of its event, less the observer. */
export type PeerSilence = Omit<PeerSilentDetail, "observer">;

type PeerEntry = { lastHeardAt: number | null; reportedFor: number | null };

/**
 * What one observer knows of its peers, on a clock it is given: who was heard when, who is silent, which
 * silences were reported. No I/O.
 */
export class PeerView {
  private readonly peers = new Map<string, PeerEntry>();

  constructor(
    hosts: readonly string[],
    private readonly silentAfterMs: number,
  ) {
    for (const h of hosts) this.peers.set(h, { lastHeardAt: null, reportedFor: null });
  }

  /**
   * A beat from `host` at `at`: "first" (never heard before), "again" (heard after it was silent),
   * "beat", or "unknown" (not a peer of this host).
   */
  heard(host: string, at: number): "first" | "again" | "beat" | "unknown" {
    const p = this.peers.get(host);
    if (!p) return "unknown";
    const was = p.lastHeardAt === null ? "first" : this.silent(p, at) ? "again" : "beat";
    p.lastHeardAt = at;
    p.reportedFor = null;
    return was;
  }

  /**
   * The silences to report now: each peer heard before, silent for `silentAfterMs`, not reported yet for
   * this silence. None while this host hears none of its other peers that it ever heard (it is more
   * likely the one cut off): `isolated` says so. A host with a single peer has nobody to compare with and
   * reports it.
   */
  due(now: number): { reports: PeerSilence[]; isolated: boolean } {
    const known = [...this.peers].filter(([, p]) => p.lastHeardAt !== null);
    const silent = known.filter(([, p]) => this.silent(p, now));
    const hearing = known.length - silent.length;
    const reports: PeerSilence[] = [];
    for (const [host, p] of silent) {
      if (p.reportedFor === p.lastHeardAt) continue;
      const others = known.length - 1;
      if (others > 0 && hearing === 0) continue;
      const last = p.lastHeardAt!;
      reports.push({
        host,
        lastHeardAt: new Date(last).toISOString(),
        silentSeconds: Math.round((now - last) / 100) / 10,
        hearing,
      });
    }
    return { reports, isolated: silent.length > 0 && known.length > 1 && hearing === 0 };
  }

  /** The peer said goodbye: unknown again until it is heard (a planned stop is no silence to report). */
  forget(host: string): boolean {
    const p = this.peers.get(host);
    if (!p) return false;
    p.lastHeardAt = null;
    p.reportedFor = null;
    return true;
  }

  /** The silence that ended at `lastHeardAt` was reported (a later one is reported again). */
  reported(host: string, lastHeardAt: string): void {
    const p = this.peers.get(host);
    if (p && p.lastHeardAt !== null && new Date(p.lastHeardAt).toISOString() === lastHeardAt)
      p.reportedFor = p.lastHeardAt;
  }

  snapshot(now: number): PeersState["peers"] {
    return [...this.peers].map(([host, p]) => ({
      host,
      lastHeardAt: p.lastHeardAt === null ? null : new Date(p.lastHeardAt).toISOString(),
      state:
        p.lastHeardAt === null
          ? "unknown"
          : !this.silent(p, now)
            ? "heard"
            : p.reportedFor !== null
              ? "reported"
              : "silent",
    }));
  }

  private silent(p: PeerEntry, now: number): boolean {
    return p.lastHeardAt !== null && now - p.lastHeardAt >= this.silentAfterMs;
  }
}

function splitAddress(a: string): { address: string; port: number } {
  const [address, port] = a.split(":") as [string, string];
  return { address, port: Number(port) };
}

export interface PeerWatchHandle {
  /** Resolves once the socket is closed and the last report settled. */
  done: Promise<void>;
  stop(): void;
}

/**
 * Runs the peer watch of `config.peers` until stopped. Never throws: a socket that cannot be bound is
 * logged and bound again later (the heartbeat beside it goes on either way).
 */
export function runPeerWatch(
  config: HostConfig & { peers: PeerWatchConfig },
  log: Log,
  clients: AgentClients = agentClients(config),
  now: () => number = Date.now,
): PeerWatchHandle {
  const cfg = config.peers;
  const view = new PeerView(
    cfg.hosts.map((p) => p.host),
    cfg.silentAfterSeconds * 1000,
  );
  const addressOf = new Map(cfg.hosts.map((p) => [p.host, splitAddress(p.address)]));
  const listen = splitAddress(cfg.listen);
  const intervalMs = cfg.intervalSeconds * 1000;
  const state: PeersState = {
    pid: process.pid,
    startedAt: new Date(now()).toISOString(),
    listen: cfg.listen,
    listening: false,
    peers: view.snapshot(now()),
    lastReport: null,
    lastReportFailure: null,
  };
  let socket: Socket | null = null;
  let binding = false;
  let seq = 0;
  let stopping = false;
  /** The report round in flight, if any. */
  let reporting: Promise<void> | null = null;
  let wasIsolated = false;
  let lastSendError = "";
  let lastBindError = "";

  const bind = () => {
    if (socket || binding || stopping) return;
    binding = true;
    const s = createSocket({ type: "udp4" });
    s.on("message", (message, from) => {
      const m = parsePeerMessage(message);
      // Only a listed peer, from its own address: anything else on the port is not a beat.
      if (!m || addressOf.get(m.host)?.address !== from.address) return;
      if (m.kind === "bye") {
        if (view.forget(m.host)) log(`peer ${m.host} stopped on purpose: not watched until heard again`);
        return;
      }
      const was = view.heard(m.host, now());
      if (was === "first") log(`peer ${m.host} heard`);
      if (was === "again") log(`peer ${m.host} heard again`);
    });
    s.once("error", (e) => {
      binding = false;
      try {
        s.close();
      } catch {
        // never bound: nothing to close
      }
      if (socket === s) socket = null;
      state.listening = false;
      // Once per distinct error, not at every interval it is tried again.
      const error = errorText(e);
      if (error !== lastBindError)
        log(`peer watch: socket ${cfg.listen} failed (${error}); tried again at every interval`);
      lastBindError = error;
    });
    s.bind({ address: listen.address, port: listen.port, exclusive: true }, () => {
      binding = false;
      socket = s;
      state.listening = true;
      lastBindError = "";
      log(
        `peer watch on ${cfg.listen}: ${cfg.hosts.map((p) => p.host).join(", ")}, silent after ${cfg.silentAfterSeconds} s`,
      );
    });
  };

  const report = async (silence: PeerSilence) => {
    const detail: PeerSilentDetail = { ...silence, observer: config.host };
    try {
      const out = await clients.events.send(
        new PutEventsCommand({
          Entries: [
            {
              EventBusName: "default",
              Source: PEER_SILENT_EVENT.source,
              DetailType: PEER_SILENT_EVENT.detailType,
              Resources: [],
              Detail: JSON.stringify(detail),
            },
          ],
        }),
        { abortSignal: AbortSignal.timeout(Math.max(1000, intervalMs * 2)) },
      );
      if (out.FailedEntryCount) throw new Error(`entry refused: ${out.Entries?.[0]?.ErrorCode}`);
      view.reported(silence.host, silence.lastHeardAt);
      state.lastReport = { at: new Date(now()).toISOString(), host: silence.host };
      log(`peer ${silence.host} silent for ${silence.silentSeconds} s: reported`);
    } catch (e) {
      state.lastReportFailure = {
        at: new Date(now()).toISOString(),
        host: silence.host,
        error: errorText(e),
      };
      log(`peer ${silence.host} silent for ${silence.silentSeconds} s: not reported yet (${errorText(e)})`);
    }
  };

  const tick = () => {
    bind();
    const s = socket;
    if (s) {
      const beat = encodePeerMessage({ kind: "beat", host: config.host, seq: ++seq });
      for (const [host, to] of addressOf) {
        s.send(beat, to.port, to.address, (e) => {
          const error = e ? `${host}: ${errorText(e)}` : "";
          if (error && error !== lastSendError) log(`peer beat not sent to ${error}`);
          lastSendError = error;
        });
      }
    }
    const { reports, isolated } = view.due(now());
    if (isolated !== wasIsolated)
      log(
        isolated
          ? "peer watch: hearing none of the peers it heard: reporting none (cut off?)"
          : "peer watch: hearing peers again",
      );
    wasIsolated = isolated;
    // One report round at a time: a slow EventBridge never piles up requests; what it has not taken is
    // still due at the next tick.
    if (!reporting && reports.length > 0)
      reporting = Promise.all(reports.map(report)).then(() => {
        reporting = null;
      });
    state.peers = view.snapshot(now());
    try {
      writeState(config.stateDir, "peers", state);
    } catch (e) {
      log(`peer state not written to ${config.stateDir}: ${errorText(e)}`);
    }
  };

  let finish: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  tick();
  const timer = setInterval(tick, intervalMs);

  const stop = () => {
    if (stopping) return;
    stopping = true;
    clearInterval(timer);
    const s = socket;
    socket = null;
    const bye = encodePeerMessage({ kind: "bye", host: config.host, seq: ++seq });
    const sayBye = s
      ? Promise.all(
          [...addressOf.values()].map(
            (to) => new Promise<void>((resolve) => s.send(bye, to.port, to.address, () => resolve())),
          ),
        )
      : Promise.resolve();
    void Promise.all([reporting, sayBye])
      .then(
        () =>
          new Promise<void>((resolve) => {
            if (s) s.close(() => resolve());
            else resolve();
          }),
      )
      .finally(() => {
        clients.destroy();
        finish();
      });
  };
  return { done, stop };
}
