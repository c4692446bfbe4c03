/**
 * What each part of the running agent last did, as small JSON files in the state folder (`stateDir`,
 * default /run/lazarus-host): `lazarus-host status` reads them. Each file is replaced whole.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface HeartbeatState {
  pid: number;
  startedAt: string;
  /** The last heartbeat CloudWatch Logs accepted: when it was sent, and its value (the watchdog timeout). */
  lastAccepted: { at: string; value: number } | null;
  /** The last heartbeat that was not accepted, and why. */
  lastFailure: { at: string; error: string } | null;
  /** The watchdog as the agent holds it. */
  watchdog: {
    device: string | null;
    open: boolean;
    lastFedAt: string | null;
    lastFeedError: { at: string; error: string } | null;
  };
}

export interface MonitorState {
  pid: number;
  startedAt: string;
  libvirtUri: string;
  /** Whether the libvirt event stream runs now, and since when. */
  connected: boolean;
  connectedSince: string | null;
  lastReport: { at: string; domain: string; reason: string } | null;
  lastReportFailure: { at: string; error: string } | null;
  lastLivenessAt: string | null;
  updatedAt: string;
}

/** The peer watch (peers.ts), in the heartbeat's process. */
export interface PeersState {
  pid: number;
  startedAt: string;
  listen: string;
  listening: boolean;
  /** Each peer: never heard since the start, heard, silent, or silent and reported. */
  peers: { host: string; lastHeardAt: string | null; state: "unknown" | "heard" | "silent" | "reported" }[];
  lastReport: { at: string; host: string } | null;
  lastReportFailure: { at: string; host: string; error: string } | null;
}

type AnyState = HeartbeatState | MonitorState | PeersState;

export type StatePart = "heartbeat" | "monitor" | "peers";

export function statePath(stateDir: string, part: StatePart): string {
  return join(stateDir, `${part}.json`);
}

export function writeState(stateDir: string, part: StatePart, state: AnyState): void {
  mkdirSync(stateDir, { recursive: true, mode: 0o755 });
  const file = statePath(stateDir, part);
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o644 });
  renameSync(tmp, file);
}

export function readState<T extends AnyState>(stateDir: string, part: StatePart): T | null {
  try {
    return JSON.parse(readFileSync(statePath(stateDir, part), "utf8")) as T;
  } catch {
    return null;
  }
}

/** Whether the process that wrote a state file still runs. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
