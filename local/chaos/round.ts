/**
 * What one chaos round knows while it runs: the cloud, the round's own seeded generator, and the round's
 * record (every event line with its time, the overlays and their details, the victims, the expectations the
 * round checks by itself). The disruptions (disruptions.ts), overlays (overlays.ts) and the settling
 * (settle.ts) all work through it, so that a failing round's file says what happened in it.
 */

import type { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import type { SFNClient } from "@aws-sdk/client-sfn";
import { heartbeatAlarmName } from "#shared/definitions/heartbeat.js";
import type { LocalCloud } from "../cloud.js";
import type { LocalHost } from "../hosts/local-host.js";
import type { Machine } from "../machine/machine.js";
import type { SeededRandom } from "../seeded-random.js";

/** How death is proven for a chaos host: a BMC fence with a locking shared pool, or only its watchdog. */
export type HostKind = "pool" | "watchdog";

/** The settings of a chaos cloud that the rounds need to know (their waits and bounds). */
export interface ChaosSettings {
  /** The watchdog devices' timeout, which is also the lease the control plane assumes, s. */
  watchdogSeconds: number;
  leaseMarginSeconds: number;
  /** The agent feeds the device only within this long of an accepted heartbeat, s. */
  feedWithinSeconds: number;
  /** The clock skew drawn stays within this (the documented bound, see overlays.ts), ms. */
  skewBoundMs: number;
  /** Longest a round may take to settle before it counts as stuck, ms. */
  settleTimeoutMs: number;
}

export interface RoundEvent {
  /** ISO time. */
  at: string;
  line: string;
}

export interface RoundExecution {
  machine: string;
  name: string;
  status: string;
  startDate: string | null;
  stopDate: string | null;
  input: unknown;
  error: string | null;
  cause: string | null;
  /** The states entered, in order (a state entered again is listed again). */
  states: string[];
}

export interface RoundRecord {
  round: number;
  /** The run's seed and the round's own (every draw of the round comes from it). */
  seed: number;
  roundSeed: number;
  disruptions: string[];
  /** Overlay -> what it did. */
  overlays: Record<string, string>;
  /** Hosts the disruptions hit, with their kind. */
  victims: { host: string; kind: HostKind }[];
  /** Boot delay of the machines during the round, ms. */
  bootDelayMs: number;
  startedAt: string;
  endedAt: string | null;
  events: RoundEvent[];
  /** Violations found in the round, `<kind>: <what>`. */
  violations: string[];
  /** What the /proc sampler saw in the round: double runs and glimpses (starts refused before the guest ran). */
  sampler: { doubles: string[]; glimpses: string[] };
  /** Filled for failing rounds: every execution started in the round, and the records at its end. */
  executions?: RoundExecution[];
  state?: { instances: unknown[]; hosts: unknown[] };
}

export interface RoundContext {
  cloud: LocalCloud;
  sfn: SFNClient;
  eventBridge: EventBridgeClient;
  /** The round's generator: its draws depend on the seed and the round number only. */
  rnd: SeededRandom;
  settings: ChaosSettings;
  kindOf(host: string): HostKind;
  record: RoundRecord;
  /** One line of the round's story: printed live and kept in the record. */
  log(line: string): void;
  /** A violation the round finds by itself (not through the invariant checker): `<kind>: <what>`. */
  violation(kind: string, what: string): void;
  fault(kind: string, n?: number): void;
  operation(kind: string, n?: number): void;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Polls `check` every 250 ms until it returns a value; undefined once `timeoutMs` passed (the round goes on,
 * and says so).
 */
export async function waitFor<T>(
  ctx: Pick<RoundContext, "log">,
  what: string,
  timeoutMs: number,
  check: () => T | undefined | Promise<T | undefined>,
): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) {
      ctx.log(`  (no ${what} within ${Math.round(timeoutMs / 1000)} s; going on)`);
      return undefined;
    }
    await sleep(250);
  }
}

export function localHost(cloud: LocalCloud, name: string): LocalHost {
  const h = cloud.fleet.hosts.get(name);
  if (!h) throw new Error(`no local host ${name}`);
  return h;
}

export function machineOf(cloud: LocalCloud, name: string): Machine {
  const m = cloud.fleet.machines.get(name);
  if (!m) throw new Error(`no local machine ${name}`);
  return m;
}

/** Executions of `machine` (a state machine id) whose input names `host`, described. */
export function executionsOf(cloud: LocalCloud, machine: string, host: string) {
  const arn = cloud.stateMachineArns[machine]!;
  return (cloud.stepFunctions.listExecutions({ stateMachineArn: arn, maxResults: 1000 }).executions ?? [])
    .map((e) => cloud.stepFunctions.describeExecution(e.executionArn!))
    .filter((d) => (JSON.parse(d.input ?? "{}") as { host?: string }).host === host);
}

/**
 * Waits until the answer to `host`'s failure has played out: an evacuation of it that started after `since`
 * exists and none of them runs; or the host is back (booted again after `since`, heartbeating, its alarm not
 * in ALARM for a whole alarm window) with no evacuation of it running (a reset host back before any alarm).
 * True when so, false when `timeoutMs` passed first.
 */
export async function evacuationEnded(
  ctx: RoundContext,
  host: string,
  since: number,
  timeoutMs: number,
): Promise<boolean> {
  const { cloud } = ctx;
  const machine = machineOf(cloud, host);
  const ended = await waitFor(ctx, `end of ${host}'s evacuation`, timeoutMs, () => {
    const runs = executionsOf(cloud, "host-evacuation", host).filter(
      (e) => (e.startDate?.getTime() ?? 0) >= since,
    );
    if (runs.some((e) => e.status === "RUNNING")) return undefined;
    if (runs.length > 0) return true;
    const booted = machine.history.findLast((e) => e.action === "booted")?.at ?? 0;
    const alarm = cloud.cloudwatch.evaluator.get(heartbeatAlarmName(host))?.state;
    const back =
      booted > since &&
      machine.state === "on" &&
      localHost(cloud, host).heartbeating &&
      alarm !== "ALARM" &&
      Date.now() - booted > ALARM_WINDOW_MS;
    return back ? true : undefined;
  });
  return ended === true;
}

/** Longer than the chaos cloud's alarm takes to fire on a silent host (2 periods of 2 s, and a look). */
const ALARM_WINDOW_MS = 8_000;

/** The heartbeat alarm's last ALARM event for `host` among the events from `fromIndex` on. */
export function alarmEvent(cloud: LocalCloud, host: string, fromIndex: number) {
  return cloud.events.events
    .slice(fromIndex)
    .filter(
      (e) =>
        e.source === "aws.cloudwatch" &&
        (e.detailObject as { alarmName?: string }).alarmName === heartbeatAlarmName(host) &&
        (e.detailObject as { state?: { value?: string } }).state?.value === "ALARM",
    )
    .at(-1);
}

/** Up hosts holding at least one instance (records), optionally of one kind: the disruptions' candidates. */
export async function occupiedHosts(ctx: RoundContext, kind?: HostKind): Promise<string[]> {
  const { cloud } = ctx;
  const instances = await cloud.stores.instances.list();
  const hosts = await cloud.stores.hosts.list();
  return hosts
    .filter((h) => h.enabled && !h.forcedDown && cloud.fleet.hosts.get(h.name)?.running)
    .filter((h) => machineOf(cloud, h.name).state === "on")
    .filter((h) => kind === undefined || ctx.kindOf(h.name) === kind)
    .filter((h) => instances.some((i) => i.host === h.name))
    .map((h) => h.name);
}

export function victim(ctx: RoundContext, host: string): void {
  ctx.record.victims.push({ host, kind: ctx.kindOf(host) });
  ctx.fault(`victim-${ctx.kindOf(host)}`);
}
